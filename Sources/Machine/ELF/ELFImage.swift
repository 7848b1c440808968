import GuestABI

/// Turns a guest kernel ELF into a `BootImage`: an ELF64 little-endian x86-64
/// executable with PT_LOAD segments placed by physical address (p_paddr) and a
/// Xen PVH note (`XEN_ELFNOTE_PHYS32_ENTRY`) giving the 32-bit physical entry.
/// The bytes are hostile input: every offset, size and address is checked.
public enum ELFImage {
  /// Parses `bytes` and checks that every segment fits in guest RAM `[0, ramSize)`,
  /// that no two segments overlap in physical memory, and that the PVH entry is
  /// in the file bytes of an executable segment. PT_LOADs with p_memsz 0 are skipped.
  public static func load(_ bytes: [UInt8], ramSize: UInt64) throws(ImageError) -> BootImage {
    let result: Result<BootImage, ImageError> = bytes.withUnsafeBytes { raw in
      do throws(ImageError) {
        return .success(try parse(ELFBytes(raw), ramSize: ramSize))
      } catch {
        return .failure(error)
      }
    }
    return try result.get()
  }

  private static func parse(_ bytes: ELFBytes, ramSize: UInt64) throws(ImageError) -> BootImage {
    let file: ELFFile
    do { file = try ELFFile.parse(bytes) } catch { throw ImageError(error) }
    guard file.machine == ELF.machineX86_64 else { throw .wrongMachine(file.machine) }
    guard file.type == ELF.typeExecutable else { throw .wrongType(file.type) }

    // Every PT_LOAD, checked on its own.
    var segments: [BootImage.Segment] = []
    var names: [String] = []
    var loadNumber = 0
    for header in file.programHeaders where header.type == ELF.programLoad {
      loadNumber += 1
      let name = "PT_LOAD segment \(loadNumber) (program header \(header.index))"
      guard header.fileSize <= header.memorySize else {
        throw .fileSizeExceedsMemorySize(segment: name, fileSize: header.fileSize, memorySize: header.memorySize)
      }
      let fileBytes: Range<Int>
      do {
        fileBytes = try bytes.span(offset: header.offset, size: header.fileSize, what: "the file bytes of \(name)")
      } catch { throw ImageError(error) }
      let (end, overflow) = header.physicalAddress.addingReportingOverflow(header.memorySize)
      if overflow {
        throw .overflow(
          "\(name) at physical \(elfHex(header.physicalAddress)) with size \(elfHex(header.memorySize)) runs past 2^64")
      }
      guard header.memorySize > 0 else { continue }
      guard end <= ramSize else {
        throw .segmentOutsideRAM(segment: name, range: header.physicalAddress..<end, ramSize: ramSize)
      }
      segments.append(
        BootImage.Segment(
          physicalAddress: header.physicalAddress, virtualAddress: header.virtualAddress,
          fileBytes: bytes.bytes(fileBytes), memorySize: header.memorySize, flags: header.flags))
      names.append(name)
    }
    guard !segments.isEmpty else { throw .noLoadSegments }

    // No two segments may share a physical byte: sort by start and sweep.
    let byStart = segments.indices.sorted { segments[$0].physicalAddress < segments[$1].physicalAddress }
    func range(_ index: Int) -> Range<UInt64> {
      segments[index].physicalAddress..<(segments[index].physicalAddress + segments[index].memorySize)
    }
    var reaching = byStart[0]  // the segment seen so far whose end is highest
    for index in byStart.dropFirst() {
      if range(index).lowerBound < range(reaching).upperBound {
        let (first, second) = reaching < index ? (reaching, index) : (index, reaching)
        throw .overlappingSegments(
          first: names[first], firstRange: range(first), second: names[second], secondRange: range(second))
      }
      if range(index).upperBound > range(reaching).upperBound { reaching = index }
    }

    let entry = try pvhEntry(file, bytes)
    let executable = segments.contains { segment in
      segment.flags & ELF.flagExecute != 0 && UInt64(entry) >= segment.physicalAddress
        && UInt64(entry) - segment.physicalAddress < UInt64(segment.fileBytes.count)
    }
    guard executable else { throw .entryNotExecutable(entry: entry) }
    return BootImage(segments: segments, pvhEntry: entry)
  }

  /// The XEN_ELFNOTE_PHYS32_ENTRY note's address: from PT_NOTE segments, else SHT_NOTE sections.
  private static func pvhEntry(_ file: ELFFile, _ bytes: ELFBytes) throws(ImageError) -> UInt32 {
    do {
      for header in file.programHeaders where header.type == ELF.programNote {
        let container = "PT_NOTE program header \(header.index)"
        let range = try bytes.span(offset: header.offset, size: header.fileSize, what: container)
        let notes = try ELFFile.notes(in: range, alignment: header.alignment, of: bytes, container: container)
        if let entry = try entry(in: notes, bytes) { return entry }
      }
      for section in try file.sectionHeaders(bytes) where section.type == ELF.sectionNote {
        let container = "SHT_NOTE section \(section.index)"
        let range = try bytes.span(offset: section.offset, size: section.size, what: container)
        let notes = try ELFFile.notes(in: range, alignment: section.alignment, of: bytes, container: container)
        if let entry = try entry(in: notes, bytes) { return entry }
      }
    } catch let error as ELFProblem {
      throw ImageError(error)
    } catch let error as ImageError {
      throw error
    } catch {
      throw .malformed("\(error)")
    }
    throw .noPVHNote
  }

  private static func entry(in notes: [ELFNote], _ bytes: ELFBytes) throws(ImageError) -> UInt32? {
    let owner = PVHNote.owner.withUTF8Buffer { Array($0) }
    guard let note = notes.first(where: { $0.name == owner && $0.type == PVHNote.type }) else { return nil }
    switch note.descriptor.count {
    case 4: return bytes.u32(note.descriptor.lowerBound)
    case 8: return UInt32(truncatingIfNeeded: bytes.u64(note.descriptor.lowerBound))
    default: throw .badPVHNote(descriptorSize: note.descriptor.count)
    }
  }
}

/// Why an ELF cannot be used as the guest image; `description` is meant for the user.
public enum ImageError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A header, table or segment ends past the end of the file.
  case truncated(what: String, end: UInt64, fileSize: UInt64)
  /// The file does not start with "\x7fELF"; carries its first bytes (up to 16).
  case notELF(firstBytes: [UInt8])
  /// EI_CLASS is not ELFCLASS64.
  case wrongClass(UInt8)
  /// EI_DATA is not little-endian.
  case wrongByteOrder(UInt8)
  /// e_machine is not EM_X86_64.
  case wrongMachine(UInt16)
  /// e_type is not ET_EXEC.
  case wrongType(UInt16)
  /// An offset or address plus a size does not fit in 64 bits.
  case overflow(String)
  /// A structure is inconsistent (entry sizes, versions, notes).
  case malformed(String)
  /// A PT_LOAD has p_filesz > p_memsz.
  case fileSizeExceedsMemorySize(segment: String, fileSize: UInt64, memorySize: UInt64)
  /// No PT_LOAD with p_memsz > 0.
  case noLoadSegments
  /// No note owned by "Xen" with type 18.
  case noPVHNote
  /// The PVH note's descriptor is neither 4 nor 8 bytes.
  case badPVHNote(descriptorSize: Int)
  /// A PT_LOAD's physical range is not inside `[0, ramSize)`.
  case segmentOutsideRAM(segment: String, range: Range<UInt64>, ramSize: UInt64)
  /// Two PT_LOADs share physical bytes (named in program header order).
  case overlappingSegments(first: String, firstRange: Range<UInt64>, second: String, secondRange: Range<UInt64>)
  /// The PVH entry is not in the file bytes of a PT_LOAD with PF_X.
  case entryNotExecutable(entry: UInt32)

  init(_ problem: ELFProblem) {
    switch problem {
    case .truncated(let what, let end, let fileSize): self = .truncated(what: what, end: end, fileSize: fileSize)
    case .notELF(let firstBytes): self = .notELF(firstBytes: firstBytes)
    case .wrongClass(let value): self = .wrongClass(value)
    case .wrongByteOrder(let value): self = .wrongByteOrder(value)
    case .overflow(let why): self = .overflow(why)
    case .malformed(let why): self = .malformed(why)
    }
  }

  public var description: String {
    switch self {
    case .truncated(let what, let end, let fileSize):
      return "the image is truncated: \(what) ends at byte \(end), but the file has only \(fileSize) bytes"
    case .notELF(let firstBytes):
      return "the image is not an ELF file: \(describeFirstBytes(firstBytes))"
    case .wrongClass(let value):
      return
        "the image is not a 64-bit ELF (EI_CLASS is \(value)\(value == 1 ? ", ELFCLASS32" : ""); ELFCLASS64 is needed)"
    case .wrongByteOrder(let value):
      return
        "the image is not little-endian (EI_DATA is \(value)\(value == 2 ? ", big-endian" : ""); x86-64 is little-endian)"
    case .wrongMachine(let machine):
      return "the image is built for machine \(machine) (\(ELF.machineName(machine))), not x86-64 (EM_X86_64, 62)"
    case .wrongType(let type):
      return
        "the image is ELF type \(type) (\(ELF.typeName(type))), not an executable (ET_EXEC); link it as a static, non-PIE executable"
    case .overflow(let why):
      return "the image has an impossible size: \(why)"
    case .malformed(let why):
      return "the image is malformed: \(why)"
    case .fileSizeExceedsMemorySize(let segment, let fileSize, let memorySize):
      return "\(segment) has more file bytes (\(elfHex(fileSize))) than memory bytes (\(elfHex(memorySize)))"
    case .noLoadSegments:
      return "the image has no PT_LOAD segment with bytes to load"
    case .noPVHNote:
      return "the image has no Xen PVH entry note (type 18); link it with one"
    case .badPVHNote(let size):
      return
        "the image's Xen PVH entry note (type 18) has a \(size)-byte descriptor; it must be a 4- or 8-byte physical address"
    case .segmentOutsideRAM(let segment, let range, let ramSize):
      return "\(segment) occupies guest physical \(elfHex(range)), outside guest RAM \(elfHex(0..<ramSize))"
    case .overlappingSegments(let first, let firstRange, let second, let secondRange):
      return "\(first) at guest physical \(elfHex(firstRange)) overlaps \(second) at \(elfHex(secondRange))"
    case .entryNotExecutable(let entry):
      return
        "the PVH entry point \(elfHex(UInt64(entry))) is not inside the file bytes of any executable (PF_X) PT_LOAD segment"
    }
  }
}

/// "it is empty" or "it starts with 3c 21 44 4f … (expected 7f 45 4c 46)".
func describeFirstBytes(_ bytes: [UInt8]) -> String {
  guard !bytes.isEmpty else { return "it is empty" }
  let shown = bytes.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined(separator: " ")
  let text = String(decoding: bytes.map { (0x20..<0x7F).contains($0) ? $0 : UInt8(ascii: ".") }, as: UTF8.self)
  return "it starts with \(shown) (\"\(text)\"); an ELF file starts with 7f 45 4c 46 (\"\\x7fELF\")"
}
