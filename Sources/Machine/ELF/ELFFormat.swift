import X86Paging

// The parts of the ELF64 format (System V gABI) that mmlab reads and writes:
// the file header, program headers, section headers and notes, little-endian
// only. Everything here treats its input as hostile: every offset and size is
// checked for overflow and against the end of the bytes before it is used.

/// ELF constants mmlab uses.
enum ELF {
  static let magic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]  // "\x7fELF"
  static let classELF64: UInt8 = 2
  static let dataLittleEndian: UInt8 = 1
  static let versionCurrent: UInt8 = 1

  static let typeExecutable: UInt16 = 2
  static let typeCore: UInt16 = 4
  static let machineX86_64: UInt16 = 62

  static let programLoad: UInt32 = 1
  static let programNote: UInt32 = 4
  static let sectionNote: UInt32 = 7

  static let flagExecute: UInt32 = 1
  static let flagWrite: UInt32 = 2
  static let flagRead: UInt32 = 4

  static let fileHeaderSize = 64
  static let programHeaderSize = 56
  static let sectionHeaderSize = 64
  static let noteHeaderSize = 12
  /// e_phnum value meaning "the real count is in section header 0's sh_info".
  static let programCountEscape: UInt16 = 0xFFFF

  static func typeName(_ type: UInt16) -> String {
    switch type {
    case 0: return "ET_NONE"
    case 1: return "ET_REL, a relocatable object"
    case 2: return "ET_EXEC, an executable"
    case 3: return "ET_DYN, a shared object or PIE"
    case 4: return "ET_CORE, a core file"
    default: return "unknown"
    }
  }

  static func machineName(_ machine: UInt16) -> String {
    switch machine {
    case 0: return "none"
    case 3: return "i386"
    case 8: return "MIPS"
    case 20: return "PowerPC"
    case 21: return "PowerPC 64"
    case 22: return "S/390"
    case 40: return "ARM"
    case 62: return "x86-64"
    case 183: return "AArch64"
    case 243: return "RISC-V"
    case 258: return "LoongArch"
    default: return "unknown"
    }
  }
}

/// Formats an address or size as `0x…` hex.
func elfHex(_ value: UInt64) -> String { hex(value) }

/// Formats `[start, end)` in hex.
func elfHex(_ range: Range<UInt64>) -> String { "[\(elfHex(range.lowerBound)), \(elfHex(range.upperBound)))" }

/// Why the raw ELF structure cannot be read. Each reader maps it to its own public error.
enum ELFProblem: Error, Equatable {
  /// `what` ends at byte `end` but there are only `fileSize` bytes.
  case truncated(what: String, end: UInt64, fileSize: UInt64)
  case notELF(firstBytes: [UInt8])
  case wrongClass(UInt8)
  case wrongByteOrder(UInt8)
  /// An offset plus a size does not fit in 64 bits.
  case overflow(String)
  case malformed(String)
}

/// Bounds-checked little-endian reads from bytes that may be anything.
struct ELFBytes {
  let raw: UnsafeRawBufferPointer
  var count: Int { raw.count }

  init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }

  /// The byte range `[offset, offset + size)` of the input, or why it is not one.
  func span(offset: UInt64, size: UInt64, what: @autoclosure () -> String) throws(ELFProblem) -> Range<Int> {
    let (end, overflow) = offset.addingReportingOverflow(size)
    if overflow {
      throw .overflow("\(what()) at file offset \(elfHex(offset)) with size \(elfHex(size)) runs past 2^64")
    }
    guard end <= UInt64(count) else {
      throw .truncated(what: what(), end: end, fileSize: UInt64(count))
    }
    return Int(offset)..<Int(end)
  }

  // Callers pass offsets inside a range already checked with `span`.
  func u8(_ offset: Int) -> UInt8 { raw[offset] }
  func u16(_ offset: Int) -> UInt16 { UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
  func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
  func u64(_ offset: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
  func bytes(_ range: Range<Int>) -> [UInt8] { Array(raw[range]) }
}

/// One Elf64_Phdr.
struct ELFProgramHeader: Equatable {
  /// Position in the program header table, from 0.
  var index: Int
  var type: UInt32
  var flags: UInt32
  var offset: UInt64
  var virtualAddress: UInt64
  var physicalAddress: UInt64
  var fileSize: UInt64
  var memorySize: UInt64
  var alignment: UInt64
}

/// One Elf64_Shdr (the fields mmlab needs).
struct ELFSectionHeader: Equatable {
  var index: Int
  var type: UInt32
  var offset: UInt64
  var size: UInt64
  var alignment: UInt64
}

/// One note: owner name (trailing NULs removed), type, and where its descriptor is.
struct ELFNote: Equatable {
  var name: [UInt8]
  var type: UInt32
  var descriptor: Range<Int>

  func isOwned(by owner: String) -> Bool { name == Array(owner.utf8) }
}

/// The ELF64 file header and program headers of some bytes.
struct ELFFile {
  var type: UInt16
  var machine: UInt16
  var entry: UInt64
  var programHeaders: [ELFProgramHeader]
  var sectionHeaderOffset: UInt64
  var sectionHeaderSize: UInt16
  var sectionCount: UInt16

  /// Reads and checks the identification and file header, then every program header.
  /// Checks class, byte order and version; the caller checks type and machine.
  static func parse(_ bytes: ELFBytes) throws(ELFProblem) -> ELFFile {
    let prefix = bytes.bytes(0..<min(bytes.count, 16))
    let magicSeen = Array(prefix.prefix(ELF.magic.count))
    guard magicSeen == Array(ELF.magic.prefix(magicSeen.count)) else {
      throw .notELF(firstBytes: prefix)
    }
    guard bytes.count >= ELF.magic.count else {
      if bytes.count == 0 { throw .notELF(firstBytes: []) }
      throw .truncated(what: "the ELF header", end: UInt64(ELF.fileHeaderSize), fileSize: UInt64(bytes.count))
    }
    if bytes.count > 4, bytes.u8(4) != ELF.classELF64 { throw .wrongClass(bytes.u8(4)) }
    if bytes.count > 5, bytes.u8(5) != ELF.dataLittleEndian { throw .wrongByteOrder(bytes.u8(5)) }
    guard bytes.count >= ELF.fileHeaderSize else {
      throw .truncated(what: "the ELF header", end: UInt64(ELF.fileHeaderSize), fileSize: UInt64(bytes.count))
    }
    guard bytes.u8(6) == ELF.versionCurrent else {
      throw .malformed("unknown ELF version \(bytes.u8(6)) in the identification bytes (expected 1)")
    }

    var file = ELFFile(
      type: bytes.u16(16), machine: bytes.u16(18), entry: bytes.u64(24), programHeaders: [],
      sectionHeaderOffset: bytes.u64(40), sectionHeaderSize: bytes.u16(58), sectionCount: bytes.u16(60))
    let programOffset = bytes.u64(32)
    let programEntrySize = bytes.u16(54)
    var programCount = Int(bytes.u16(56))
    if bytes.u16(56) == ELF.programCountEscape {
      // Extended numbering: the real count is sh_info of section header 0.
      let zero = try file.sectionHeaderSpan(
        bytes, index: 0, what: "section header 0 (which holds the program header count)")
      programCount = Int(bytes.u32(zero.lowerBound + 44))
    }
    guard programCount > 0 else { return file }
    guard Int(programEntrySize) >= ELF.programHeaderSize else {
      throw .malformed(
        "program header entries are \(programEntrySize) bytes; ELF64 needs at least \(ELF.programHeaderSize)")
    }
    let table = try bytes.span(
      offset: programOffset, size: UInt64(programCount) * UInt64(programEntrySize),
      what: "the program header table (\(programCount) entries)")
    file.programHeaders.reserveCapacity(programCount)
    for index in 0..<programCount {
      let at = table.lowerBound + index * Int(programEntrySize)
      file.programHeaders.append(
        ELFProgramHeader(
          index: index, type: bytes.u32(at), flags: bytes.u32(at + 4), offset: bytes.u64(at + 8),
          virtualAddress: bytes.u64(at + 16), physicalAddress: bytes.u64(at + 24),
          fileSize: bytes.u64(at + 32), memorySize: bytes.u64(at + 40), alignment: bytes.u64(at + 48)))
    }
    return file
  }

  private func sectionHeaderSpan(_ bytes: ELFBytes, index: Int, what: String) throws(ELFProblem) -> Range<Int> {
    guard sectionHeaderOffset != 0 else {
      throw .malformed("\(what) is needed but the file has no section header table")
    }
    guard Int(sectionHeaderSize) >= ELF.sectionHeaderSize else {
      throw .malformed(
        "section header entries are \(sectionHeaderSize) bytes; ELF64 needs at least \(ELF.sectionHeaderSize)")
    }
    let (start, overflow) = sectionHeaderOffset.addingReportingOverflow(UInt64(index) * UInt64(sectionHeaderSize))
    if overflow { throw .overflow("\(what) at section header offset \(elfHex(sectionHeaderOffset)) runs past 2^64") }
    return try bytes.span(offset: start, size: UInt64(ELF.sectionHeaderSize), what: what)
  }

  /// Every section header; empty if the file has no section header table.
  func sectionHeaders(_ bytes: ELFBytes) throws(ELFProblem) -> [ELFSectionHeader] {
    guard sectionHeaderOffset != 0 else { return [] }
    var count = Int(sectionCount)
    if count == 0 {
      // Extended numbering: the real count is sh_size of section header 0.
      let zero = try sectionHeaderSpan(bytes, index: 0, what: "section header 0 (which holds the section count)")
      let real = bytes.u64(zero.lowerBound + 32)
      guard real <= UInt64(bytes.count / ELF.sectionHeaderSize) else {
        throw .truncated(
          what: "the section header table (\(real) entries)",
          end: sectionHeaderOffset &+ real &* UInt64(sectionHeaderSize),
          fileSize: UInt64(bytes.count))
      }
      count = Int(real)
    }
    var headers: [ELFSectionHeader] = []
    for index in 0..<count {
      let at = try sectionHeaderSpan(bytes, index: index, what: "section header \(index)").lowerBound
      headers.append(
        ELFSectionHeader(
          index: index, type: bytes.u32(at + 4), offset: bytes.u64(at + 24), size: bytes.u64(at + 32),
          alignment: bytes.u64(at + 48)))
    }
    return headers
  }

  /// The notes in `range` of `bytes`. `alignment` is the container's (4, or 8 for
  /// 8-aligned note segments); names and descriptors are padded to it.
  static func notes(in range: Range<Int>, alignment: UInt64, of bytes: ELFBytes, container: String) throws(ELFProblem)
    -> [ELFNote]
  {
    let align = alignment == 8 ? 8 : 4
    func roundUp(_ value: Int) -> Int { (value + align - 1) & ~(align - 1) }
    var notes: [ELFNote] = []
    var at = range.lowerBound
    while range.upperBound - at >= ELF.noteHeaderSize {
      let nameSize = Int(bytes.u32(at))
      let descriptorSize = Int(bytes.u32(at + 4))
      let type = bytes.u32(at + 8)
      let nameStart = at + ELF.noteHeaderSize
      let descriptorStart = roundUp(nameStart + nameSize)
      let descriptorEnd = descriptorStart + descriptorSize
      guard descriptorEnd <= range.upperBound else {
        throw .malformed(
          "note \(notes.count) in \(container) (name \(nameSize) bytes, descriptor \(descriptorSize) bytes) runs past the end of its container"
        )
      }
      var name = bytes.bytes(nameStart..<(nameStart + nameSize))
      while name.last == 0 { name.removeLast() }
      notes.append(ELFNote(name: name, type: type, descriptor: descriptorStart..<descriptorEnd))
      at = roundUp(descriptorEnd)
    }
    return notes
  }
}
