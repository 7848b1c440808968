import Foundation
import GuestABI
import GuestImage
import Inspect
import Machine
import Testing
import X86Paging

/// Whether tests that boot the real guest run here: when /dev/kvm opens, or
/// when MMLAB_REQUIRE_KVM=1 demands it (then they run and fail without KVM).
enum BootingTests {
  static let required = ProcessInfo.processInfo.environment["MMLAB_REQUIRE_KVM"] == "1"
  static let kvmUsable =
    FileManager.default.isReadableFile(atPath: "/dev/kvm")
    && FileManager.default.isWritableFile(atPath: "/dev/kvm")
  static let enabled = kvmUsable || required
  static let reason: Comment = "/dev/kvm is not usable here (set MMLAB_REQUIRE_KVM=1 to fail instead of skipping)"
}

@Suite("The guest on KVM", .enabled(if: BootingTests.enabled, BootingTests.reason))
struct GuestBootTests {
  @Test("boots to the first checkpoint in long mode on its own page tables, then exits 0")
  func bootsAndExits() throws {
    var console = ""
    let session = try Session(options: BootOptions()) { console += $0 }
    let checkpoint = try session.run(toCheckpoint: nil)
    #expect(checkpoint.name == "booted")
    #expect(checkpoint.code == CheckpointCode.booted.rawValue)
    let registers = try session.registers()
    #expect(registers.cr0 & (1 << 31) != 0, "CR0.PG")
    #expect(registers.efer & (1 << 10) != 0, "EFER.LMA")
    #expect(registers.efer & (1 << 11) != 0, "EFER.NXE")
    #expect(registers.cr3 >= KernelLayout.physicalBase, "CR3 is the kernel's table, not the boot one")
    #expect(registers.rip >= 0xFFFF_FFFF_8000_0000, "the kernel runs in the higher half")
    let outcome = try session.runToExit()
    #expect(outcome.status == GuestExitStatus.success.rawValue)
    #expect(outcome.exception == nil)
    #expect(console.contains("mmlab guest: up, 64 MiB"))
  }

  @Test("the kernel image is mapped with per-section permissions in 4 KiB pages, plus a self-map slot")
  func kernelPermissions() throws {
    let snapshot = try GuestSnapshot.boot(BootOptions(), checkpoint: "booted")
    let context = snapshot.pagingContext
    let dump = PageTableDump(context: context, memory: snapshot.memory, includeLeaves: true)
    let path = try #require(GuestImage.defaultPath)
    let image = try ELFImage.load([UInt8](try Data(contentsOf: URL(filePath: path))), ramSize: 64 << 20)
    // Every PT_LOAD of the higher half is mapped page by page with the rights its flags name.
    let leaves = try #require(dump.leaves)
    let byAddress = Dictionary(leaves.map { ($0.virtualAddress, $0) }, uniquingKeysWith: { first, _ in first })
    let kernelSegments = image.segments.filter { $0.virtualAddress >= 0xFFFF_FFFF_8000_0000 }
    #expect(kernelSegments.count == 3)
    for segment in kernelSegments {
      var page = segment.virtualAddress
      while page < segment.virtualAddress + segment.memorySize {
        let leaf = try #require(byAddress[page], "no mapping for kernel page \(hex(page))")
        #expect(leaf.pageSize == .size4KiB)
        #expect(leaf.physicalAddress == page - KernelLayout.virtualOffset)
        #expect(leaf.writable == (segment.flags & 2 != 0), "W of \(hex(page))")
        #expect(leaf.executable == (segment.flags & 1 != 0), "X of \(hex(page))")
        #expect(!leaf.user)
        page += 4096
      }
    }
    // The self-map slot points at the PML4 itself.
    let root = context.rootTableAddress
    let selfEntry = try #require(snapshot.memory.load64(root + KernelLayout.selfMapSlot * 8))
    #expect(selfEntry & 0x000F_FFFF_FFFF_F000 == root)
    #expect(selfEntry & 1 == 1)
    let unexpected = dump.summary.problems.filter {
      if case .ancestorReference = $0 { return false } else { return true }
    }
    #expect(unexpected.isEmpty, "the only oddity a healthy guest shows is its self-map")
    // Nothing maps the boot identity window any more.
    #expect(!leaves.contains { $0.virtualAddress < 0x8000_0000_0000 })
  }

  @Test("every leaf the walker reports translates to the same physical address through KVM_TRANSLATE")
  func walkerAgreesWithKVMTranslate() throws {
    let session = try Session(
      options: BootOptions(commandLine: [String(describing: GuestCommandLine.mapLargeRegion)]))
    let checkpoint = try session.run(toCheckpoint: String(describing: CheckpointCode.largeRegionMapped.name))
    let snapshot = try GuestSnapshot(session: session, checkpoint: checkpoint)
    let kvm = try #require(session.machine as? KVMMachine)
    var compared = 0
    var mismatches: [String] = []
    let summary = forEachLeaf(context: snapshot.pagingContext, memory: snapshot.memory) { leaf in
      // The last byte too: a walker that got the page size wrong fails there.
      for offset in [UInt64(0), leaf.pageSize.bytes - 1] {
        let address = leaf.virtualAddress + offset
        guard let answer = try? kvm.translate(address) else {
          mismatches.append("\(hex(address)): KVM_TRANSLATE failed")
          continue
        }
        compared += 1
        if !answer.valid || answer.physicalAddress != leaf.physicalAddress + offset {
          let kvmSays = answer.valid ? hex(answer.physicalAddress) : "not valid"
          mismatches.append("\(hex(address)): walker \(hex(leaf.physicalAddress + offset)), KVM \(kvmSays)")
        }
      }
    }
    #expect(summary.leafCount >= Int(BenchLayout.regionSize / 4096), "the bench region's 65,536 leaves are walked")
    #expect(compared == 2 * summary.leafCount)
    #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    // An address the walker finds unmapped is not valid for KVM either.
    let hole = try kvm.translate(0xFFFF_A000_0000_0000)
    #expect(!hole.valid)
  }

  @Test(
    "an exception in the guest is reported with vector, error code, CR2 and RIP",
    arguments: [
      ("selftest.write-text", UInt64(14), UInt64(0x3)),  // P | W
      ("selftest.execute-data", UInt64(14), UInt64(0x11)),  // P | I/D
      ("selftest.ud2", UInt64(6), UInt64(0)),
    ])
  func exceptionsAreReported(word: String, vector: UInt64, errorCode: UInt64) throws {
    let session = try Session(options: BootOptions(commandLine: [word]))
    let outcome = try session.runToExit()
    #expect(outcome.status == GuestExitStatus.unexpectedException.rawValue)
    let exception = try #require(outcome.exception)
    #expect(exception.vector == vector)
    #expect(exception.errorCode == errorCode)
    #expect(exception.rip >= KernelLayout.virtualBase)
    if vector == 14 {
      // CR2 is the kernel address the access touched, inside the image.
      #expect(exception.cr2 >= KernelLayout.virtualBase && exception.cr2 < KernelLayout.virtualBase + (16 << 20))
    }
  }

  @Test("the guest itself refuses a command-line word it does not know (a hand-edited libvirt domain)")
  func unknownWordIsRefusedByTheGuest() throws {
    var console = ""
    let session = try Session(options: BootOptions(commandLine: ["scenario=nope"]), console: { console += $0 })
    let outcome = try session.runToExit()
    #expect(outcome.status != 0)
    #expect(console.contains("the command line has a word the guest does not know"))
    // The same boot with only known words, a number prefix among them, comes up.
    let known = try Session(options: BootOptions(commandLine: ["mm.zeroed=16", "bench.map"]))
    #expect(try known.runToExit().status == 0)
  }

  @Test("the self-test words are the ones GuestABI names")
  func selfTestWordsMatchGuestABI() {
    #expect(String(describing: GuestCommandLine.faultWriteText) == "selftest.write-text")
    #expect(String(describing: GuestCommandLine.faultExecuteData) == "selftest.execute-data")
    #expect(String(describing: GuestCommandLine.faultInvalidOpcode) == "selftest.ud2")
  }

  @Test("a guest that never reaches its checkpoint is stopped by the watchdog")
  func watchdogFires() throws {
    let session = try Session(
      options: BootOptions(timeoutSeconds: 0.3, commandLine: [String(describing: GuestCommandLine.hang)]))
    try session.run(toCheckpoint: "booted")
    let started = ContinuousClock.now
    #expect {
      try session.run(toCheckpoint: "never")
    } throws: { error in
      guard case .timedOut(let seconds, let registers, let waitingFor) = error as? SessionError else { return false }
      return seconds == 0.3 && registers != nil && waitingFor == "never"
    }
    #expect(ContinuousClock.now - started < .seconds(5))
  }

  @Test("a core file written at a checkpoint reads back with the same memory, registers and mappings")
  func coreFileRoundTrip() throws {
    let live = try GuestSnapshot.boot(BootOptions(), checkpoint: "booted")
    let path = FileManager.default.temporaryDirectory.appending(path: "mmlab-core-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try CoreFile.write(
      memory: live.memory, registers: live.registers, debugBlockAddress: live.debugBlockAddress, to: path)
    let core = try GuestSnapshot.core(path: path, maxPhysicalAddressBits: live.maxPhysicalAddressBits)
    #expect(core.registers == live.registers)
    #expect(core.memory.size == live.memory.size)
    #expect(live.debugBlockAddress != nil)
    #expect(core.debugBlockAddress == live.debugBlockAddress)
    let liveDump = PageTableDump(context: live.pagingContext, memory: live.memory, includeLeaves: false)
    let coreDump = PageTableDump(context: core.pagingContext, memory: core.memory, includeLeaves: false)
    #expect(liveDump.ranges == coreDump.ranges)
    #expect(!liveDump.ranges.isEmpty)
  }

  @Test("the guest hands over a debug block naming a PFN database that covers RAM")
  func debugBlockAndDatabase() throws {
    let snapshot = try GuestSnapshot.boot(BootOptions(memoryMiB: 32), checkpoint: "booted")
    let block = try #require(snapshot.debugBlockAddress)
    let memory = snapshot.memory
    #expect(memory.load(UInt32.self, at: block + UInt64(DebugBlock.magic)) == DebugBlock.magicValue)
    #expect(memory.load(UInt32.self, at: block + UInt64(DebugBlock.pfnRecordSize)) == UInt32(PageFrameRecord.size))
    let count = try #require(memory.load(UInt64.self, at: block + UInt64(DebugBlock.pfnCount)))
    #expect(count == (32 << 20) >> 12)
    let heads = try #require(memory.load(UInt64.self, at: block + UInt64(DebugBlock.listHeadsPhysical)))
    let free = try #require(memory.load(UInt64.self, at: heads + UInt64(PageLocation.free.rawValue) * 16 + 8))
    let available = try #require(memory.load(UInt64.self, at: block + UInt64(DebugBlock.availablePages)))
    // Most of 32 MiB is free after boot, and the guest's count agrees with its list.
    #expect(free > 6000 && free < count)
    #expect(available == free)
  }

  @Test("a core without mmlab's note (as QEMU writes them) is read as long mode, and the assumption is stated")
  func coreWithoutEFER() throws {
    let live = try GuestSnapshot.boot(BootOptions(), checkpoint: "booted")
    let path = FileManager.default.temporaryDirectory.appending(path: "mmlab-qemu-core-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try CoreFile.write(memory: live.memory, registers: live.registers, to: path)
    // Rename the MMLAB note's owner: the reader falls back to QEMU's note, which has no EFER.
    var bytes = try Data(contentsOf: URL(filePath: path))
    let owner = try #require(bytes.range(of: Data("MMLAB\0".utf8)))
    bytes.replaceSubrange(owner, with: Data("XMLAB\0".utf8))
    try bytes.write(to: URL(filePath: path))
    let core = try GuestSnapshot.core(path: path, maxPhysicalAddressBits: live.maxPhysicalAddressBits)
    #expect(core.registers.efer == 0xD00)
    #expect(core.assumptions.count == 1)
    #expect(core.pagingContext.mode == .fourLevel)
    let liveDump = PageTableDump(context: live.pagingContext, memory: live.memory, includeLeaves: false)
    let coreDump = PageTableDump(context: core.pagingContext, memory: core.memory, includeLeaves: false)
    #expect(liveDump.ranges == coreDump.ranges)
  }
}
