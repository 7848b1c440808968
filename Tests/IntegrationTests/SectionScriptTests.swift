import Foundation
import GuestABI
import GuestImage
import Inspect
import Script
import Testing

/// The shipped section scripts checked from outside: the bytes Cc and the views
/// left on the volume, read back by mtools and the host's reader, fsck.fat clean,
/// and the same statuses and files on every backend.
enum SectionScripts {
  /// The scripts that use the default volume, and what each must leave on it.
  static let onDisk = [
    "sections-shared", "sections-cc-read", "sections-cc-write-flush", "sections-writecopy", "sections-bad-inputs",
    "sections-query-extend",
  ]

  static func pattern(seed: UInt64, at address: UInt64, count: Int) -> [UInt8] {
    (0..<UInt64(count)).map { ScriptPattern.byte(seed: seed, address: address + $0) }
  }

  /// The files each script writes, by path, with their bytes.
  static func expectedFiles(_ name: String) -> [String: [UInt8]] {
    switch name {
    case "sections-shared":
      // A's view wrote the first 64 KiB, Cc the second (both at 0x4000_0000 + offset); the rest came from A's buffer.
      return [
        "/SHARED.DAT": pattern(seed: 9, at: 0x4000_0000, count: 64 << 10)
          + pattern(seed: 11, at: 0x4001_0000, count: 64 << 10)
          + pattern(seed: 3, at: 0x1002_0000, count: 896 << 10)
      ]
    case "sections-cc-read":
      let lines = FileScripts.lines(from: 0, count: 131072)
      return ["/CCCOPY.TXT": lines, "/PIECE.TXT": Array(lines[1_000_003..<1_005_003] + lines.suffix(4))]
    case "sections-cc-write-flush":
      var file = pattern(seed: 5, at: 0x1000_0000, count: 1536 << 10)
      file += [UInt8](repeating: 0, count: 1_600_001 - file.count)
      file += pattern(seed: 5, at: 0x1018_0001, count: 70001)
      file.replaceSubrange(12345..<12348, with: pattern(seed: 5, at: 0x1000_0000, count: 3))
      return ["/CCWRITE.BIN": file]
    case "sections-bad-inputs":
      // 64 KiB of zeros written, then cut to one page once no view maps it.
      return ["/BADSEC.DAT": [UInt8](repeating: 0, count: 4096)]
    case "sections-query-extend":
      // 64 KiB from A's buffer, the section extended to 100000 bytes, one page written through the view past the old end.
      let written = pattern(seed: 3, at: 0x1000_0000, count: 64 << 10) + pattern(seed: 7, at: 0x4001_0000, count: 4096)
      return ["/EXTEND.DAT": written + [UInt8](repeating: 0, count: 100000 - written.count)]
    default: return [:]
    }
  }

  /// Checks the volume `name` left at `path`: its files, fsck, and that nothing else changed
  /// (a script that writes no file leaves the image byte for byte as it was).
  static func checkVolume(_ name: String, _ path: String) throws {
    let (status, words) = VolumeCheck.fsck(path)
    #expect(status == 0, "\(name): \(words)")
    let image = try FatImage(path: path)
    let expected = expectedFiles(name)
    for (file, bytes) in expected {
      #expect(try FileScripts.mcopy(path, file) == bytes, "mtools: \(name) \(file)")
      #expect(try image.read(file.lowercased()) == bytes, "host reader: \(name) \(file)")
    }
    if expected.isEmpty {
      let original = try Data(contentsOf: URL(fileURLWithPath: try #require(GuestImage.defaultDiskPath)))
      #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == original, "\(name) wrote nothing")
    }
    #expect(try image.fsInfo().freeCount == (try image.freeClusterCount()))
  }

  static func run(_ name: String, backend: Backend) throws -> ScriptReport {
    let (report, path) = try FileScripts.run(name, backend: backend)
    defer { unlink(path) }
    #expect(report.succeeded, "\(name) on \(backend): \(report.text)")
    try checkVolume(name, path)
    return report
  }
}

@Suite("Sections, views and Cc on the guest", .enabled(if: BootingTests.enabled, BootingTests.reason), .serialized)
struct SectionScriptTests {
  @Test("each section script on KVMMachine: zero violations, and the volume holds exactly what it wrote")
  func onKVMMachine() throws {
    for name in SectionScripts.onDisk { _ = try SectionScripts.run(name, backend: .kvm) }
  }

  @Test("sections-cc-write-flush: the cached writes set the file's size; the second flush writes the rest")
  func cachedWriteOutputs() throws {
    let report = try SectionScripts.run("sections-cc-write-flush", backend: .kvm)
    let query = try #require(report.steps.first { $0.call == "NtQueryInformationFile" })
    #expect(query.outputs.map(\.value).prefix(2) == [0x197c00, 1_670_002], "allocation and EndOfFile")
    let flushes = report.steps.filter { $0.call == "CcFlushCache" }.map { $0.outputs.first?.value }
    #expect(flushes.first == 65536, "the first flush covers 64 KiB")
    #expect(report.steps.first { $0.call == "CcPurgeCacheSection" }?.outputs.first?.value == 1, "purged")
  }

  @Test(
    "sections-query-extend: SEC_FILE and the exact size, grown with its file; SEC_RESERVE in pages, committed in a view"
  )
  func queryExtendCommit() throws {
    let report = try SectionScripts.run("sections-query-extend", backend: .kvm)
    let queries = report.steps.filter { $0.call == "NtQuerySection" && $0.status == 0 }.map { $0.outputs.map(\.value) }
    #expect(queries == [[0, 0x80_0000, 65536], [0, 0x80_0000, 100000], [0, 0x400_0000, 0x1_E000]])
    let extends = report.steps.filter { $0.call == "NtExtendSection" && $0.status == 0 }.map { $0.outputs.first?.value }
    #expect(extends == [65536, 100000], "a smaller size answers the current one")
    let eof = try #require(report.steps.first { $0.call == "NtQueryInformationFile" }).outputs[1].value
    #expect(eof == 100000, "the file grew with the section")
    #expect(report.steps.allSatisfy { $0.violations.isEmpty })
  }

  @Test("sections-bad-inputs: every refusal is Windows' status and changes nothing; a purge under a view is refused")
  func badInputs() throws {
    let report = try SectionScripts.run("sections-bad-inputs", backend: .kvm)
    let refused = report.steps.filter { ($0.status ?? 0) & 0xC000_0000 == 0xC000_0000 }
    #expect(refused.count == 47)
    // Touch in system space at CPL 0: a read-only view refuses a write and any execute at its first page.
    let touches = report.steps.filter { $0.call == "Touch" && $0.status == 0xC000_0005 }
    #expect(
      touches.map { $0.outputs.map(\.value) } == [
        [0xFFFF_FC00_0020_0000, 0], [0xFFFF_FC00_0020_0000, 0], [0xFFFF_FC00_0030_0000, 0],
      ])
    #expect(refused.allSatisfy { $0.violations.isEmpty }, "a refused call changed state")
    #expect(report.steps.first { $0.call == "CcPurgeCacheSection" }?.outputs.first?.value == 0, "not purged")
  }
}

extension SectionScriptTests {
  @Test("sections-shared: a view in system space maps the very pages A's view and Cc's copy use, D set where it wrote")
  func systemSpaceView() throws {
    let copy = NSTemporaryDirectory() + "mmlab-sections-\(UUID().uuidString).img"
    try DiskCopies.copyFile(try #require(GuestImage.defaultDiskPath), to: copy)
    defer { unlink(copy) }
    var boot = BootOptions(timeoutSeconds: 120, backend: .kvm)
    boot.disks = [copy]
    let script = try Script.parse(try #require(ScriptLibrary.text("sections-shared")))
    let snapshot = try ScriptRunner(script: script, options: ScriptOptions(boot: boot))
      .snapshot(atCheckpoint: "written-through-cc")
    let state = try ScenarioValidation.state(of: snapshot)
    let view = try #require(state.systemSpaceViews.first)
    #expect(state.systemSpaceViews.count == 1 && view.pages == 48 && view.sectionOffset == 64 << 10)
    #expect(view.base == SystemViewLayout.base && view.protection == UInt32(PageProtection.readWrite))
    let a = try #require(state.processes.first)
    var shared = 0
    for page in UInt64(0)..<48 {
      let system = leafPTE(state, root: state.kernelRoot, va: view.base + page << 12)
      #expect(system & 1 == 1, "the touch made system page \(page) valid")
      #expect((system & 0x40 != 0) == (page >= 16), "D only where the touch wrote")
      let user = leafPTE(state, root: a.root, va: 0x4001_0000 + page << 12)
      if user & 1 == 1 {
        #expect(user & 0x000F_FFFF_FFFF_F000 == system & 0x000F_FFFF_FFFF_F000, "page \(page): one PFN")
        shared += 1
      }
    }
    #expect(shared >= 16, "A's CheckPattern read the first 16 pages through its view")
    let report = MmValidator(
      state: state, maxPhysicalAddressBits: snapshot.maxPhysicalAddressBits, volume: snapshot.volume
    )
    .validate()
    #expect(report.isClean, "\(report.text)")
  }

  /// The 4 KiB leaf PTE of `va` under `root`, 0 where a level is not present.
  func leafPTE(_ state: MmState, root: UInt64, va: UInt64) -> UInt64 {
    var table = root & 0x000F_FFFF_FFFF_F000
    for shift in [UInt64(39), 30, 21, 12] {
      let entry = state.memory.load(UInt64.self, at: table + (va >> shift & 511) * 8) ?? 0
      if shift == 12 || entry & 1 == 0 { return entry & 1 == 0 && shift != 12 ? 0 : entry }
      table = entry & 0x000F_FFFF_FFFF_F000
    }
    return 0
  }
}

@Suite(
  "Sections, views and Cc under libvirt",
  .enabled(if: LibvirtTests.enabled && BootingTests.enabled, LibvirtTests.reason),
  .serialized)
struct SectionScriptLibvirtTests {
  @Test(
    "each section script under QEMU (KVM and TCG): the statuses and the volume equal KVMMachine's",
    arguments: [LibvirtTests.kvm, LibvirtTests.tcg])
  func sameAsKVMMachine(backend: Backend) throws {
    for name in SectionScripts.onDisk + ["sections-pagefile-shared"] {
      let report = try SectionScripts.run(name, backend: backend)
      let (direct, path) = try FileScripts.run(name, backend: .kvm)
      unlink(path)
      #expect(report.steps.map(\.status) == direct.steps.map(\.status), "\(name)")
    }
  }
}
