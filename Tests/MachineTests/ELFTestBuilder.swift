// A tiny ELF64 writer for tests: a file header, program headers whose contents
// follow the table, and optional SHT_NOTE sections. Fields can be overridden to
// make broken files on purpose.

/// Little-endian encodings.
func elfLE16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
func elfLE32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
func elfLE64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

/// One note: header, NUL-terminated name and descriptor, padded to 4 bytes.
func elfTestNote(_ name: String, type: UInt32, _ descriptor: [UInt8]) -> [UInt8] {
  func padded(_ bytes: [UInt8]) -> [UInt8] { bytes + [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4) }
  let nameBytes = Array(name.utf8) + [0]
  return elfLE32(UInt32(nameBytes.count)) + elfLE32(UInt32(descriptor.count)) + elfLE32(type) + padded(nameBytes)
    + padded(descriptor)
}

struct ELFTestSegment {
  var type: UInt32
  var flags: UInt32 = 0
  var physicalAddress: UInt64 = 0
  var virtualAddress: UInt64 = 0
  var contents: [UInt8] = []
  /// p_memsz; nil means contents.count.
  var memorySize: UInt64? = nil
  var alignment: UInt64 = 4
  /// Overrides the computed p_offset.
  var offset: UInt64? = nil
  /// Overrides p_filesz (contents.count).
  var fileSize: UInt64? = nil

  static let load: UInt32 = 1
  static let note: UInt32 = 4
  static let r: UInt32 = 4, w: UInt32 = 2, x: UInt32 = 1
}

struct ELFTestFile {
  var elfClass: UInt8 = 2
  var byteOrder: UInt8 = 1
  var type: UInt16 = 2
  var machine: UInt16 = 62
  var segments: [ELFTestSegment] = []
  /// Each becomes an SHT_NOTE section (after a null section 0).
  var noteSections: [[UInt8]] = []
  /// Overrides e_phnum.
  var programCount: UInt16? = nil
  /// Where segment contents start in the file: right after the headers, rounded up to this.
  var contentAlignment = 8

  func bytes() -> [UInt8] {
    let headersEnd = 64 + 56 * segments.count
    var contents: [UInt8] = []
    var offsets: [UInt64] = []
    func align() {
      let at = headersEnd + contents.count
      contents += [UInt8](repeating: 0, count: (contentAlignment - at % contentAlignment) % contentAlignment)
    }
    align()
    for segment in segments {
      align()
      offsets.append(UInt64(headersEnd + contents.count))
      contents += segment.contents
    }
    var sectionOffsets: [UInt64] = []
    for section in noteSections {
      align()
      sectionOffsets.append(UInt64(headersEnd + contents.count))
      contents += section
    }
    var sectionTable: [UInt8] = []
    var sectionTableOffset: UInt64 = 0
    if !noteSections.isEmpty {
      align()
      sectionTableOffset = UInt64(headersEnd + contents.count)
      sectionTable += [UInt8](repeating: 0, count: 64)  // section 0
      for (section, offset) in zip(noteSections, sectionOffsets) {
        sectionTable +=
          elfLE32(0) + elfLE32(7) + elfLE64(0) + elfLE64(0) + elfLE64(offset) + elfLE64(UInt64(section.count))
        sectionTable += elfLE32(0) + elfLE32(0) + elfLE64(4) + elfLE64(0)
      }
    }

    var file: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, elfClass, byteOrder, 1] + [UInt8](repeating: 0, count: 9)
    file +=
      elfLE16(type) + elfLE16(machine) + elfLE32(1) + elfLE64(0) + elfLE64(segments.isEmpty ? 0 : 64)
      + elfLE64(sectionTableOffset)
    file += elfLE32(0) + elfLE16(64) + elfLE16(56) + elfLE16(programCount ?? UInt16(segments.count))
    file += elfLE16(64) + elfLE16(noteSections.isEmpty ? 0 : UInt16(noteSections.count + 1)) + elfLE16(0)
    for (segment, offset) in zip(segments, offsets) {
      file += elfLE32(segment.type) + elfLE32(segment.flags) + elfLE64(segment.offset ?? offset)
      file += elfLE64(segment.virtualAddress) + elfLE64(segment.physicalAddress)
      file += elfLE64(segment.fileSize ?? UInt64(segment.contents.count))
      file += elfLE64(segment.memorySize ?? UInt64(segment.contents.count)) + elfLE64(segment.alignment)
    }
    return file + contents + sectionTable
  }
}

/// A deterministic pseudo-random generator (ELFTestRandom) so that mutation tests repeat.
struct ELFTestRandom: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
