#if canImport(GuestABI)
  import GuestABI
#endif
#if canImport(GuestMm)
  import GuestMm
#endif

/// A slot of a directory: its cluster and the entry's index in that cluster.
public struct DirectoryPosition: Equatable, Sendable {
  public var cluster: UInt32
  public var index: UInt32
}

/// One live entry of a directory as a scan assembled it: the short entry's
/// fields and the long name whose checksum matched it (empty when none did).
struct DirectoryRecord {
  var shortName: [UInt8]
  var longName: [UInt16]
  var attributes: UInt8
  var caseFlags: UInt8
  var firstCluster: UInt32
  var size: UInt32
  /// The short entry, and the first slot of its long name (itself when none).
  var position: DirectoryPosition
  var firstPosition: DirectoryPosition
  /// Long-name slots plus the short one.
  var slotCount: UInt32

  var isDirectory: Bool { attributes & FatAttribute.directory != 0 }

  /// The name NT reports: the long name, else the 8.3 name in the case DIR_NTRes keeps.
  var displayName: [UInt16] { longName.isEmpty ? ShortName.display(shortName, caseFlags: caseFlags) : longName }

  /// Decodes the short entry at `slot` (the caller has classified it as live).
  init(slot: UnsafeRawPointer, position: DirectoryPosition) {
    let bytes = slot.assumingMemoryBound(to: UInt8.self)
    shortName = [UInt8](UnsafeBufferPointer(start: bytes, count: FatDirectoryEntry.nameLength))
    if shortName[0] == FatDirectoryEntry.escapedFreeMarker { shortName[0] = FatDirectoryEntry.freeMarker }
    longName = []
    attributes = bytes[FatDirectoryEntry.attributes]
    caseFlags = bytes[FatDirectoryEntry.caseFlags]
    firstCluster =
      (UInt32(loadLittle16(slot, FatDirectoryEntry.firstClusterHigh)) << 16
        | UInt32(loadLittle16(slot, FatDirectoryEntry.firstClusterLow))) & FatEntry.mask
    size = loadLittle32(slot, FatDirectoryEntry.fileSize)
    self.position = position
    firstPosition = position
    slotCount = 1
  }
}

/// What a directory slot holds, by its first byte and attributes.
enum SlotKind {
  case end, free, longName, volumeLabel, dot, entry

  init(_ slot: UnsafeRawPointer) {
    let bytes = slot.assumingMemoryBound(to: UInt8.self)
    let attributes = bytes[FatDirectoryEntry.attributes]
    if bytes[0] == FatDirectoryEntry.endMarker {
      self = .end
    } else if bytes[0] == FatDirectoryEntry.freeMarker {
      self = .free
    } else if attributes & FatAttribute.longNameMask == FatAttribute.longName {
      self = .longName
    } else if attributes & FatAttribute.volumeID != 0 {
      self = .volumeLabel
    } else if bytes[0] == UInt8(ascii: ".") {
      self = .dot
    } else {
      self = .entry
    }
  }
}

/// Writes a short entry: the name, attributes, first cluster and size, with
/// one fixed timestamp (the file system keeps no clock).
func encodeShortEntry(
  _ slot: UnsafeMutableRawPointer, name: [UInt8], attributes: UInt8, caseFlags: UInt8, firstCluster: UInt32,
  size: UInt32
) {
  slot.initializeMemory(as: UInt8.self, repeating: 0, count: FatDirectoryEntry.size)
  for index in 0..<FatDirectoryEntry.nameLength {
    slot.storeBytes(of: name[index], toByteOffset: index, as: UInt8.self)
  }
  slot.storeBytes(of: attributes, toByteOffset: FatDirectoryEntry.attributes, as: UInt8.self)
  slot.storeBytes(of: caseFlags, toByteOffset: FatDirectoryEntry.caseFlags, as: UInt8.self)
  for field in [FatDirectoryEntry.creationDate, FatDirectoryEntry.lastAccessDate, FatDirectoryEntry.writeDate] {
    storeLittle16(slot, field, fixedDate)
  }
  storeEntryCluster(slot, firstCluster)
  storeLittle32(slot, FatDirectoryEntry.fileSize, size)
}

/// 2024-01-01 in the FAT date format (years from 1980, month, day).
let fixedDate: UInt16 = (2024 - 1980) << 9 | 1 << 5 | 1

/// Sets the two halves of an entry's first cluster.
func storeEntryCluster(_ slot: UnsafeMutableRawPointer, _ cluster: UInt32) {
  storeLittle16(slot, FatDirectoryEntry.firstClusterHigh, UInt16(truncatingIfNeeded: cluster >> 16))
  storeLittle16(slot, FatDirectoryEntry.firstClusterLow, UInt16(truncatingIfNeeded: cluster))
}

/// 8.3 names: their display form, their checksum, and the basis a long name gives.
enum ShortName {
  /// "BASE.EXT" without padding, lowercased where DIR_NTRes says so.
  static func display(_ name: [UInt8], caseFlags: UInt8) -> [UInt16] {
    var result: [UInt16] = []
    let lowerBase = caseFlags & FatDirectoryEntry.lowercaseBase != 0
    let lowerExtension = caseFlags & FatDirectoryEntry.lowercaseExtension != 0
    for index in 0..<8 where name[index] != UInt8(ascii: " ") {
      result.append(UInt16(lowerBase ? asciiLower(name[index]) : name[index]))
    }
    if name[8] != UInt8(ascii: " ") {
      result.append(UInt16(UInt8(ascii: ".")))
      for index in 8..<11 where name[index] != UInt8(ascii: " ") {
        result.append(UInt16(lowerExtension ? asciiLower(name[index]) : name[index]))
      }
    }
    return result
  }

  /// The checksum long-name entries carry of the 11 bytes of their short name.
  static func checksum<Bytes: Sequence<UInt8>>(_ name: Bytes) -> UInt8 {
    var sum: UInt8 = 0
    for byte in name { sum = ((sum & 1) << 7) &+ (sum >> 1) &+ byte }
    return sum
  }

  static func asciiLower(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
  }

  static func asciiUpper(_ unit: UInt16) -> UInt16 {
    unit >= UInt16(UInt8(ascii: "a")) && unit <= UInt16(UInt8(ascii: "z")) ? unit - 32 : unit
  }
}

/// ASCII case-insensitive equality of two names (other units compare exactly).
func namesMatch(_ left: [UInt16], _ right: [UInt16]) -> Bool {
  guard left.count == right.count else { return false }
  for index in 0..<left.count where ShortName.asciiUpper(left[index]) != ShortName.asciiUpper(right[index]) {
    return false
  }
  return true
}
