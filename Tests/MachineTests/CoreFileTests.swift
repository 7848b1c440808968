import Foundation
import Machine
import Testing

/// Host buffers standing in for guest RAM; freed with the object.
private final class TestRAM {
  let memory: GuestPhysicalMemory
  private let buffers: [UnsafeMutableRawBufferPointer]

  /// Regions at the given bases and sizes, each filled with a pattern unique to its address.
  init(_ layout: [(base: UInt64, size: Int)]) {
    var buffers: [UnsafeMutableRawBufferPointer] = []
    var regions: [GuestPhysicalMemory.Region] = []
    for (base, size) in layout {
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
      for offset in 0..<size { buffer[offset] = TestRAM.pattern(base + UInt64(offset)) }
      buffers.append(buffer)
      regions.append(GuestPhysicalMemory.Region(base: base, bytes: buffer))
    }
    self.buffers = buffers
    self.memory = GuestPhysicalMemory(regions: regions)
  }

  static func pattern(_ address: UInt64) -> UInt8 {
    UInt8(truncatingIfNeeded: address ^ (address >> 8) ^ (address >> 16) &* 7)
  }

  deinit { for buffer in buffers { buffer.deallocate() } }
}

/// A scratch directory removed with the object.
private final class TemporaryDirectory {
  let url: URL
  init() throws {
    url = FileManager.default.temporaryDirectory.appendingPathComponent("mmlab-core-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }
  func path(_ name: String) -> String { url.appendingPathComponent(name).path }
  deinit { try? FileManager.default.removeItem(at: url) }
}

private func fileBytes(_ path: String) throws -> [UInt8] {
  [UInt8](try #require(FileManager.default.contents(atPath: path)))
}
private func writeFile(_ bytes: [UInt8], _ path: String) throws {
  #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
}
private func u16(_ bytes: [UInt8], _ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
private func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
  (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) }
}
private func u64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
  (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) }
}

/// The offset of the first occurrence of `needle` in `haystack`.
private func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
  guard needle.count <= haystack.count else { return nil }
  return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<($0 + needle.count)]) == needle }
}

@Suite("CoreFile")
struct CoreFileTests {
  /// Two RAM ranges, the second not a whole number of pages.
  static let layout: [(base: UInt64, size: Int)] = [(0, 0x3000), (0x10_0000, 0x1800)]

  static var registers: RegisterState {
    var r = RegisterState()
    (r.rax, r.rbx, r.rcx, r.rdx) = (0x1111, 0x2222, 0x3333, 0x4444)
    (r.rsi, r.rdi, r.rsp, r.rbp) = (0x5555, 0x6666, 0xFFFF_8000_0000_7000, 0xFFFF_8000_0000_7100)
    (r.r8, r.r9, r.r10, r.r11) = (0x8, 0x9, 0x10, 0x11)
    (r.r12, r.r13, r.r14, r.r15) = (0x12, 0x13, 0x14, 0x15)
    (r.rip, r.rflags) = (0xFFFF_FFFF_8010_0123, 0x246)
    (r.cr0, r.cr2, r.cr3, r.cr4, r.efer) = (0x8005_0033, 0xDEAD_B000, 0x10_2000, 0x6A0, 0xD01)
    (r.cs, r.cpl) = (0x2B, 3)
    return r
  }

  func expectKind(
    _ expected: CoreFileError.Kind, reading path: String, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(throws: CoreFileError(path: path, expected), sourceLocation: sourceLocation) {
      try CoreFile.read(path: path)
    }
  }

  func readError(_ path: String) throws -> CoreFileError {
    try #require(throws: CoreFileError.self) { try CoreFile.read(path: path) }
  }

  @Test func roundTripsMemoryAndRegisters() throws {
    let directory = try TemporaryDirectory()
    let path = directory.path("guest.core")
    let ram = TestRAM(Self.layout)
    try CoreFile.write(memory: ram.memory, registers: Self.registers, to: path)

    let core = try CoreFile.read(path: path)
    #expect(core.memory.regions.map(\.base) == [0, 0x10_0000])
    #expect(core.memory.regions.map(\.bytes.count) == [0x3000, 0x1800])
    for (base, size) in Self.layout {
      let bytes = try #require(core.memory.bytes(at: base, count: size))
      #expect(bytes.elementsEqual((0..<UInt64(size)).map { TestRAM.pattern(base + $0) }), "region at \(base)")
    }
    #expect(core.memory.load(UInt64.self, at: 0x10_17F8) == ram.memory.load(UInt64.self, at: 0x10_17F8))
    #expect(core.memory.load(UInt8.self, at: 0x10_1800) == nil)
    #expect(core.memory.load(UInt8.self, at: 0x3000) == nil)
    #expect(core.registers == Self.registers)
    #expect(core.registerSource == .mmlab)
    #expect(core.eferKnown)
    #expect(core.controlRegistersKnown)
    #expect(core.cpuCount == 1)
  }

  @Test func headersFollowQEMUDumpLayout() throws {
    let directory = try TemporaryDirectory()
    let path = directory.path("guest.core")
    let ram = TestRAM(Self.layout)
    try CoreFile.write(memory: ram.memory, registers: Self.registers, to: path)
    let file = try fileBytes(path)

    #expect(Array(file[0..<7]) == [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1])
    #expect(u16(file, 16) == 4)  // ET_CORE
    #expect(u16(file, 18) == 62)  // EM_X86_64
    #expect(u64(file, 32) == 64)  // e_phoff
    #expect(u16(file, 54) == 56)
    #expect(u16(file, 56) == 3)  // PT_NOTE + 2 PT_LOAD

    // PT_NOTE first, right after the program headers.
    #expect(u32(file, 64) == 4)
    let notesOffset = Int(u64(file, 64 + 8))
    let notesSize = Int(u64(file, 64 + 32))
    #expect(notesOffset == 64 + 3 * 56)
    #expect(u64(file, 64 + 40) == UInt64(notesSize))

    for (index, (base, size)) in Self.layout.enumerated() {
      let at = 64 + 56 * (index + 1)
      #expect(u32(file, at) == 1)  // PT_LOAD
      let offset = Int(u64(file, at + 8))
      #expect(offset % 4096 == 0)
      #expect(u64(file, at + 16) == base)  // p_vaddr = p_paddr, as QEMU writes without paging
      #expect(u64(file, at + 24) == base)
      #expect(u64(file, at + 32) == UInt64(size))
      #expect(u64(file, at + 40) == UInt64(size))
      #expect(Array(file[offset..<(offset + size)]) == (0..<UInt64(size)).map { TestRAM.pattern(base + $0) })
    }

    // Notes: CORE/NT_PRSTATUS (336 bytes), QEMU/0 (QEMUCPUState, 440 bytes), MMLAB/1.
    var notes: [(name: String, type: UInt32, descriptor: Int, size: Int)] = []
    var at = notesOffset
    while at < notesOffset + notesSize {
      let nameSize = Int(u32(file, at)), descriptorSize = Int(u32(file, at + 4))
      let name = String(decoding: file[(at + 12)..<(at + 12 + nameSize - 1)], as: UTF8.self)
      let descriptor = at + 12 + (nameSize + 3) / 4 * 4
      notes.append((name, u32(file, at + 8), descriptor, descriptorSize))
      at = descriptor + (descriptorSize + 3) / 4 * 4
    }
    #expect(at == notesOffset + notesSize)
    #expect(notes.map(\.name) == ["CORE", "QEMU", "MMLAB"])
    #expect(notes.map(\.type) == [1, 0, 0x4D4C])
    #expect(notes.map(\.size) == [336, 440, 208])

    let r = Self.registers
    let prstatus = notes[0].descriptor
    #expect(u32(file, prstatus + 32) == 1)  // pr_pid
    let userRegs = prstatus + 112
    let expectedUserRegs: [UInt64] = [
      r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx, r.rdx, r.rsi, r.rdi, 0,
      r.rip, UInt64(r.cs), r.rflags, r.rsp, 0, 0, 0, 0, 0, 0, 0,
    ]
    #expect((0..<27).map { u64(file, userRegs + 8 * $0) } == expectedUserRegs)

    let qemu = notes[1].descriptor
    #expect(u32(file, qemu) == 1)
    #expect(u32(file, qemu + 4) == 440)
    let expectedQEMU: [UInt64] = [
      r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15,
      r.rip, r.rflags,
    ]
    #expect((0..<18).map { u64(file, qemu + 8 + 8 * $0) } == expectedQEMU)
    #expect(u32(file, qemu + 152) == UInt32(r.cs))  // cs.selector
    #expect((u32(file, qemu + 152 + 8) >> 13) & 3 == UInt32(r.cpl))  // cs.flags DPL
    #expect((0..<5).map { u64(file, qemu + 392 + 8 * $0) } == [r.cr0, 0, r.cr2, r.cr3, r.cr4])
  }

  @Test func registersFallBackToQEMUNoteThenPRStatus() throws {
    let directory = try TemporaryDirectory()
    let path = directory.path("guest.core")
    let ram = TestRAM(Self.layout)
    try CoreFile.write(memory: ram.memory, registers: Self.registers, to: path)
    var file = try fileBytes(path)

    // Rename the MMLAB note's owner: the QEMU note gives everything but EFER.
    let mmlab = try #require(find(Array("MMLAB\0".utf8), in: file))
    file[mmlab] = UInt8(ascii: "X")
    try writeFile(file, path)
    var core = try CoreFile.read(path: path)
    var expected = Self.registers
    expected.efer = 0
    #expect(core.registers == expected)
    #expect(core.registerSource == .qemu)
    #expect(!core.eferKnown)
    #expect(core.controlRegistersKnown)

    // Rename the QEMU note's owner too: only the general registers and CS remain.
    let qemu = try #require(find(Array("QEMU\0".utf8), in: file))
    file[qemu] = UInt8(ascii: "X")
    try writeFile(file, path)
    core = try CoreFile.read(path: path)
    (expected.cr0, expected.cr2, expected.cr3, expected.cr4) = (0, 0, 0, 0)
    #expect(core.registers == expected)
    #expect(core.registerSource == .prstatus)
    #expect(!core.controlRegistersKnown)
  }

  /// A core as QEMU's dump-guest-memory writes it: notes for two vCPUs (all
  /// NT_PRSTATUS first, then all QEMU notes), memory packed right after the
  /// notes without alignment, and a PT_LOAD QEMU did not dump (offset -1, p_filesz 0).
  static func qemuStyleCore() -> (bytes: [UInt8], low: [UInt8], high: [UInt8]) {
    func prstatus(pid: UInt32, rip: UInt64, cs: UInt64) -> [UInt8] {
      var regs = [UInt64](repeating: 0, count: 27)
      regs[10] = 0xAAAA  // rax
      regs[16] = rip
      regs[17] = cs
      regs[19] = 0x7000  // rsp
      return [UInt8](repeating: 0, count: 32) + elfLE32(pid) + [UInt8](repeating: 0, count: 76)
        + regs.flatMap(elfLE64) + [UInt8](repeating: 0, count: 8)
    }
    func qemuState(rip: UInt64, cr3: UInt64) -> [UInt8] {
      var state = elfLE32(1) + elfLE32(440)
      state += [0xAAAA, 0xBBBB, 0, 0, 0, 0, 0x7000, 0x7100, 8, 9, 10, 11, 12, 13, 14, 15, rip, 0x202].flatMap(elfLE64)
      // cs: selector 0x33, limit, flags with P, DPL 3, L, code; then ds es fs gs ss ldt tr gdt idt.
      state +=
        elfLE32(0x33) + elfLE32(0xFFFF_FFFF) + elfLE32(1 << 21 | 1 << 15 | 3 << 13 | 0xB00 | 1 << 12) + elfLE32(0)
        + elfLE64(0)
      state += [UInt8](repeating: 0, count: 9 * 24)
      state += [0x8000_0011, 0, 0x4321_0000, cr3, 0x20].flatMap(elfLE64)
      state += elfLE64(0)  // kernel_gs_base
      return state
    }
    let notes =
      elfTestNote("CORE", type: 1, prstatus(pid: 1, rip: 0x10_0100, cs: 0x33))
      + elfTestNote("CORE", type: 1, prstatus(pid: 2, rip: 0x10_0200, cs: 0x10))
      + elfTestNote("QEMU", type: 0, qemuState(rip: 0x10_0100, cr3: 0x10_3000))
      + elfTestNote("QEMU", type: 0, qemuState(rip: 0x10_0200, cr3: 0x10_4000))
    let low = (0..<0x1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    let high = (0..<0x123).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
    var elf = ELFTestFile(
      type: 4,
      segments: [
        ELFTestSegment(type: ELFTestSegment.note, contents: notes, alignment: 0),
        ELFTestSegment(type: ELFTestSegment.load, physicalAddress: 0, virtualAddress: 0, contents: low, alignment: 0),
        ELFTestSegment(
          type: ELFTestSegment.load, physicalAddress: 0x10_0000, virtualAddress: 0x10_0000, contents: high, alignment: 0
        ),
        ELFTestSegment(
          type: ELFTestSegment.load, physicalAddress: 0xFEE0_0000, virtualAddress: 0xFEE0_0000, memorySize: 0x1000,
          alignment: 0, offset: UInt64.max),
      ])
    elf.contentAlignment = 1
    return (elf.bytes(), low, high)
  }

  @Test func readsAQEMUStyleCore() throws {
    let directory = try TemporaryDirectory()
    let path = directory.path("qemu.core")
    let (bytes, low, high) = Self.qemuStyleCore()
    try writeFile(bytes, path)

    let core = try CoreFile.read(path: path)
    #expect(core.memory.regions.map(\.base) == [0, 0x10_0000])
    #expect(try #require(core.memory.bytes(at: 0, count: low.count)).elementsEqual(low))
    #expect(try #require(core.memory.bytes(at: 0x10_0000, count: high.count)).elementsEqual(high))
    #expect(core.memory.load(UInt8.self, at: 0xFEE0_0000) == nil)
    #expect(core.registerSource == .qemu)
    #expect(!core.eferKnown)
    #expect(core.cpuCount == 2)
    var expected = RegisterState()
    (expected.rax, expected.rbx, expected.rsp, expected.rbp) = (0xAAAA, 0xBBBB, 0x7000, 0x7100)
    (expected.r8, expected.r9, expected.r10, expected.r11) = (8, 9, 10, 11)
    (expected.r12, expected.r13, expected.r14, expected.r15) = (12, 13, 14, 15)
    (expected.rip, expected.rflags) = (0x10_0100, 0x202)
    (expected.cr0, expected.cr2, expected.cr3, expected.cr4) = (0x8000_0011, 0x4321_0000, 0x10_3000, 0x20)
    (expected.cs, expected.cpl) = (0x33, 3)
    #expect(core.registers == expected)
  }

  @Test func truncatedCoreIsRejected() throws {
    let directory = try TemporaryDirectory()
    let path = directory.path("guest.core")
    let ram = TestRAM(Self.layout)
    try CoreFile.write(memory: ram.memory, registers: Self.registers, to: path)
    let file = try fileBytes(path)

    // The last byte of the last region is missing.
    try writeFile(Array(file.dropLast()), path)
    let error = try readError(path)
    guard case .truncated(let what, let end, let fileSize) = error.kind else {
      Issue.record("expected .truncated, got \(error)")
      return
    }
    #expect(what.contains("PT_LOAD 2"))
    #expect(what.contains("0x100000"))
    #expect(end == UInt64(file.count))
    #expect(fileSize == UInt64(file.count - 1))
    #expect(error.description.contains(path))

    // Cut inside the program header table.
    try writeFile(Array(file.prefix(100)), path)
    let headerError = try readError(path)
    guard case .truncated(let headerWhat, _, _) = headerError.kind else {
      Issue.record("expected .truncated, got \(headerError)")
      return
    }
    #expect(headerWhat.contains("program header table"))

    // Cut inside the notes.
    try writeFile(Array(file.prefix(64 + 3 * 56 + 20)), path)
    guard case .truncated(let noteWhat, _, _) = try readError(path).kind else {
      Issue.record("expected .truncated")
      return
    }
    #expect(noteWhat.contains("PT_NOTE"))
  }

  @Test func nonCoreELFIsRejected() throws {
    let directory = try TemporaryDirectory()
    let path = directory.path("kernel.elf")
    try writeFile(ELFImageTests.image().bytes(), path)
    expectKind(.notCore(type: 2), reading: path)

    var (core, _, _) = Self.qemuStyleCore()
    core[18] = 183  // e_machine: AArch64
    try writeFile(core, path)
    expectKind(.wrongMachine(183), reading: path)
  }

  @Test func missingEmptyAndNonELFFiles() throws {
    let directory = try TemporaryDirectory()
    expectKind(.fileMissing, reading: directory.path("nothing-here.core"))
    let path = directory.path("notes.txt")
    try writeFile([], path)
    expectKind(.notELF(firstBytes: []), reading: path)
    try writeFile(Array("hello".utf8), path)
    expectKind(.notELF(firstBytes: Array("hello".utf8)), reading: path)
    let path2 = directory.url.path
    expectKind(.notAFile(InputFileError(path: path2, kind: .directory)), reading: path2)
    let fifo = directory.path("fifo")
    #expect(mkfifo(fifo, 0o600) == 0)
    // A FIFO with no writer is refused at once: the open does not block.
    expectKind(.notAFile(InputFileError(path: fifo, kind: .fifo)), reading: fifo)
    expectKind(.notAFile(InputFileError(path: "/dev/null", kind: .characterDevice)), reading: "/dev/null")
  }

  @Test func coreWithoutLoadsOrWithOverlappingLoads() throws {
    let directory = try TemporaryDirectory()
    let path = directory.path("odd.core")
    try writeFile(
      ELFTestFile(type: 4, segments: [ELFTestSegment(type: ELFTestSegment.note, contents: [])]).bytes(), path)
    expectKind(.noLoadSegments, reading: path)

    let page = [UInt8](repeating: 1, count: 0x1000)
    try writeFile(
      ELFTestFile(
        type: 4,
        segments: [
          ELFTestSegment(type: ELFTestSegment.load, physicalAddress: 0x1000, contents: page),
          ELFTestSegment(type: ELFTestSegment.load, physicalAddress: 0x0, contents: page + page),
        ]
      ).bytes(), path)
    let error = try readError(path)
    guard case .overlappingSegments(let first, let firstRange, let second, let secondRange, let pagingDump) = error.kind
    else {
      Issue.record("expected .overlappingSegments, got \(error)")
      return
    }
    #expect(first.hasPrefix("PT_LOAD 1 "))
    #expect(second.hasPrefix("PT_LOAD 2 "))
    #expect(firstRange == 0x1000..<0x2000)
    #expect(secondRange == 0..<0x2000)
    #expect(!pagingDump)
  }

  @Test func writesToLoadedMemoryStayPrivate() throws {
    let directory = try TemporaryDirectory()
    let path = directory.path("guest.core")
    let ram = TestRAM(Self.layout)
    try CoreFile.write(memory: ram.memory, registers: Self.registers, to: path)
    let before = try fileBytes(path)

    let core = try CoreFile.read(path: path)
    #expect(core.memory.store(UInt64(0x0123_4567_89AB_CDEF), at: 0x10_0010))
    #expect(core.memory.load(UInt64.self, at: 0x10_0010) == 0x0123_4567_89AB_CDEF)
    #expect(try fileBytes(path) == before)
    // A fresh mapping sees the file's bytes. (Keep the LoadedCore alive while its memory is used.)
    let again = try CoreFile.read(path: path)
    #expect(again.memory.load(UInt64.self, at: 0x10_0010) == ram.memory.load(UInt64.self, at: 0x10_0010))
    withExtendedLifetime(core) {}
  }

  @Test func writeRejectsMemoryWithoutRegions() throws {
    let directory = try TemporaryDirectory()
    let path = directory.path("empty.core")
    let error = try #require(throws: CoreFileError.self) {
      try CoreFile.write(memory: GuestPhysicalMemory(regions: []), registers: RegisterState(), to: path)
    }
    guard case .cannotWrite = error.kind else { Issue.record("expected .cannotWrite, got \(error)"); return }
    #expect(!FileManager.default.fileExists(atPath: path))
  }

  @Test func writeReportsAnUnwritablePath() throws {
    let ram = TestRAM(Self.layout)
    let path = "/nonexistent-mmlab-directory/guest.core"
    #expect(throws: CoreFileError(path: path, .systemCall(name: "open", errno: ENOENT))) {
      try CoreFile.write(memory: ram.memory, registers: Self.registers, to: path)
    }
  }

  @Test func corruptCoresNeverCrash() throws {
    let directory = try TemporaryDirectory()
    let path = directory.path("fuzz.core")
    let original = Self.qemuStyleCore().bytes
    var random = ELFTestRandom(state: 0xC0DE)
    var rejected = 0
    for _ in 0..<400 {
      var bytes = original
      for _ in 0..<Int.random(in: 1...4, using: &random) {
        // Mostly the headers and notes (the first 1920 bytes).
        let index = Int.random(in: 0..<2100, using: &random)
        bytes[index] = Bool.random(using: &random) ? UInt8.random(in: 0...255, using: &random) : 0xFF
      }
      try writeFile(bytes, path)
      do {
        let core = try CoreFile.read(path: path)
        for region in core.memory.regions { #expect(region.bytes.count <= bytes.count) }
      } catch {
        rejected += 1
      }
    }
    #expect(rejected > 0)
  }
}
