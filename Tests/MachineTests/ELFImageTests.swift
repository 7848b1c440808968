import Machine
import Testing

@Suite("ELFImage")
struct ELFImageTests {
  static let ram: UInt64 = 16 << 20
  static let text: [UInt8] = (0..<64).map { UInt8($0) ^ 0x5A }
  static let data: [UInt8] = Array("mmlab data".utf8)

  static func pvhNote(_ entry: UInt32) -> [UInt8] { elfTestNote("Xen", type: 18, elfLE32(entry)) }

  /// A good image: text (R+X) at 1 MiB with bss, data (R+W) at 2 MiB, a PVH note in a PT_NOTE.
  static func image(entry: UInt32 = 0x10_0010, notes: [UInt8]? = nil) -> ELFTestFile {
    ELFTestFile(segments: [
      ELFTestSegment(
        type: ELFTestSegment.load, flags: ELFTestSegment.r | ELFTestSegment.x, physicalAddress: 0x10_0000,
        virtualAddress: 0xFFFF_FFFF_8010_0000, contents: text, memorySize: 0x1000, alignment: 0x1000),
      ELFTestSegment(type: ELFTestSegment.note, contents: notes ?? pvhNote(entry)),
      ELFTestSegment(
        type: ELFTestSegment.load, flags: ELFTestSegment.r | ELFTestSegment.w, physicalAddress: 0x20_0000,
        virtualAddress: 0x20_0000, contents: data, memorySize: 0x2000, alignment: 0x1000),
    ])
  }

  func load(_ elf: ELFTestFile, ramSize: UInt64 = ELFImageTests.ram) throws(ImageError) -> BootImage {
    try ELFImage.load(elf.bytes(), ramSize: ramSize)
  }

  func expectError(_ expected: ImageError, _ elf: ELFTestFile, ramSize: UInt64 = ELFImageTests.ram) {
    #expect(throws: expected) { try ELFImage.load(elf.bytes(), ramSize: ramSize) }
  }

  @Test func validImageLoadsSegmentsAndEntry() throws {
    let image = try load(Self.image())
    #expect(image.pvhEntry == 0x10_0010)
    #expect(
      image.segments == [
        BootImage.Segment(
          physicalAddress: 0x10_0000, virtualAddress: 0xFFFF_FFFF_8010_0000, fileBytes: Self.text,
          memorySize: 0x1000, flags: 5),
        BootImage.Segment(
          physicalAddress: 0x20_0000, virtualAddress: 0x20_0000, fileBytes: Self.data,
          memorySize: 0x2000, flags: 6),
      ])
  }

  @Test func eightBytePVHDescriptorUsesLow32Bits() throws {
    let notes =
      elfTestNote("GNU", type: 3, [1, 2, 3, 4]) + elfTestNote("Xen", type: 18, elfLE64(0xDEAD_BEEF_0010_0020))
    #expect(try load(Self.image(notes: notes)).pvhEntry == 0x10_0020)
  }

  @Test func pvhNoteInASectionIsFound() throws {
    var elf = Self.image()
    elf.segments.remove(at: 1)
    elf.noteSections = [elfTestNote("GNU", type: 1, elfLE32(0)), Self.pvhNote(0x10_0004)]
    #expect(try load(elf).pvhEntry == 0x10_0004)
  }

  @Test func emptyAndShortFiles() {
    #expect(throws: ImageError.notELF(firstBytes: [])) { try ELFImage.load([], ramSize: Self.ram) }
    #expect(throws: ImageError.truncated(what: "the ELF header", end: 64, fileSize: 2)) {
      try ELFImage.load([0x7F, 0x45], ramSize: Self.ram)
    }
    let header = Array(Self.image().bytes().prefix(40))
    #expect(throws: ImageError.truncated(what: "the ELF header", end: 64, fileSize: 40)) {
      try ELFImage.load(header, ramSize: Self.ram)
    }
  }

  @Test func notAnELFFileShowsItsFirstBytes() throws {
    let script = Array("#!/bin/sh\necho hello, world\n".utf8)
    let error = try #require(throws: ImageError.self) { try ELFImage.load(script, ramSize: Self.ram) }
    #expect(error == .notELF(firstBytes: Array(script.prefix(16))))
    #expect(error.description.contains("23 21 2f 62"))
    #expect(error.description.contains("#!/bin/sh"))
  }

  @Test func wrongClassByteOrderMachineAndType() {
    var elf = Self.image()
    elf.elfClass = 1
    expectError(.wrongClass(1), elf)
    elf = Self.image()
    elf.byteOrder = 2
    expectError(.wrongByteOrder(2), elf)
    elf = Self.image()
    elf.machine = 183
    expectError(.wrongMachine(183), elf)
    elf = Self.image()
    elf.type = 3
    expectError(.wrongType(3), elf)
    #expect(ImageError.wrongMachine(183).description.contains("AArch64"))
  }

  @Test func noLoadSegment() {
    expectError(
      .noLoadSegments, ELFTestFile(segments: [ELFTestSegment(type: ELFTestSegment.note, contents: Self.pvhNote(0))]))
  }

  @Test func noPVHNote() throws {
    let elf = Self.image(
      notes: elfTestNote("GNU", type: 18, elfLE32(0x10_0010)) + elfTestNote("Xen", type: 17, elfLE32(0x10_0010)))
    let error = try #require(throws: ImageError.self) { try load(elf) }
    #expect(error == .noPVHNote)
    #expect(error.description == "the image has no Xen PVH entry note (type 18); link it with one")
  }

  @Test func pvhNoteWithBadDescriptorSize() {
    expectError(.badPVHNote(descriptorSize: 2), Self.image(notes: elfTestNote("Xen", type: 18, [0x10, 0])))
  }

  @Test func segmentOutsideRAMIsNamed() throws {
    let ramSize: UInt64 = 0x20_1000
    let error = try #require(throws: ImageError.self) { try load(Self.image(), ramSize: ramSize) }
    #expect(
      error
        == .segmentOutsideRAM(
          segment: "PT_LOAD segment 2 (program header 2)", range: 0x20_0000..<0x20_2000, ramSize: ramSize))
    #expect(error.description.contains("[0x200000, 0x202000)"))
    #expect(error.description.contains("[0x0, 0x201000)"))
  }

  @Test func overlappingSegments() {
    var elf = Self.image()
    elf.segments[2].physicalAddress = 0x10_0800
    expectError(
      .overlappingSegments(
        first: "PT_LOAD segment 1 (program header 0)", firstRange: 0x10_0000..<0x10_1000,
        second: "PT_LOAD segment 2 (program header 2)", secondRange: 0x10_0800..<0x10_2800),
      elf)
    // Touching but not overlapping is fine.
    elf.segments[2].physicalAddress = 0x10_1000
    #expect(throws: Never.self) { try load(elf) }
  }

  @Test func entryMustBeInExecutableFileBytes() {
    // In the writable data segment.
    expectError(.entryNotExecutable(entry: 0x20_0000), Self.image(entry: 0x20_0000))
    // In the text segment's zero-filled tail (past its file bytes).
    expectError(.entryNotExecutable(entry: 0x10_0040), Self.image(entry: 0x10_0040))
    // Nowhere near any segment.
    expectError(.entryNotExecutable(entry: 0x9000), Self.image(entry: 0x9000))
  }

  @Test func fileSizeLargerThanMemorySize() {
    var elf = Self.image()
    elf.segments[0].memorySize = 16
    expectError(
      .fileSizeExceedsMemorySize(segment: "PT_LOAD segment 1 (program header 0)", fileSize: 64, memorySize: 16), elf)
  }

  @Test func truncatedSegmentAndHeaders() throws {
    var elf = Self.image()
    elf.segments[2].fileSize = 0x1000
    let bytes = elf.bytes()
    let error = try #require(throws: ImageError.self) { try ELFImage.load(bytes, ramSize: Self.ram) }
    guard case .truncated(let what, _, let fileSize) = error else {
      Issue.record("expected .truncated, got \(error)")
      return
    }
    #expect(what.contains("PT_LOAD segment 2"))
    #expect(fileSize == UInt64(bytes.count))

    var headers = Self.image()
    headers.programCount = 200
    let headerError = try #require(throws: ImageError.self) { try load(headers) }
    guard case .truncated(let headerWhat, let end, _) = headerError else {
      Issue.record("expected .truncated, got \(headerError)")
      return
    }
    #expect(headerWhat.contains("program header table"))
    #expect(end == 64 + 200 * 56)
  }

  @Test func offsetsAndAddressesThatOverflow() throws {
    var elf = Self.image()
    elf.segments[0].offset = UInt64.max - 8
    var error = try #require(throws: ImageError.self) { try load(elf) }
    guard case .overflow = error else { Issue.record("expected .overflow, got \(error)"); return }

    elf = Self.image()
    elf.segments[2].physicalAddress = UInt64.max - 0x100
    error = try #require(throws: ImageError.self) { try load(elf) }
    guard case .overflow = error else { Issue.record("expected .overflow, got \(error)"); return }
  }

  @Test func noteRunningPastItsSegment() throws {
    // The descriptor claims 64 bytes; the segment holds 4.
    let broken = elfLE32(4) + elfLE32(64) + elfLE32(18) + Array("Xen\0".utf8) + elfLE32(0x10_0010)
    let error = try #require(throws: ImageError.self) { try load(Self.image(notes: broken)) }
    guard case .malformed(let why) = error else { Issue.record("expected .malformed, got \(error)"); return }
    #expect(why.contains("PT_NOTE program header 1"))
  }

  @Test func everyTruncationIsRejected() {
    let bytes = Self.image().bytes()
    for length in 0..<bytes.count {
      #expect(throws: ImageError.self, "prefix of \(length) bytes") {
        try ELFImage.load(Array(bytes.prefix(length)), ramSize: Self.ram)
      }
    }
  }

  @Test func randomCorruptionNeverCrashes() {
    let original = Self.image().bytes()
    var random = ELFTestRandom(state: 0x6D6D_6C61_62)
    var rejected = 0
    for _ in 0..<3000 {
      var bytes = original
      for _ in 0..<Int.random(in: 1...6, using: &random) {
        let index = Int.random(in: 0..<min(bytes.count, 400), using: &random)
        bytes[index] = Bool.random(using: &random) ? UInt8.random(in: 0...255, using: &random) : 0xFF
      }
      do {
        let image = try ELFImage.load(bytes, ramSize: Self.ram)
        // Whatever loads must satisfy the loader's own promises.
        for segment in image.segments {
          #expect(segment.physicalAddress + segment.memorySize <= Self.ram)
          #expect(UInt64(segment.fileBytes.count) <= segment.memorySize)
        }
      } catch {
        rejected += 1
      }
    }
    #expect(rejected > 0)
  }
}
