#if canImport(GuestABI)
  import GuestABI
#endif
#if canImport(GuestMm)
  import GuestMm
#endif

/// Gathers the long-name slots before a short entry. A run counts only when its
/// parts come in order (last part first), all carry one checksum, and that
/// checksum is the short name's; anything else is an orphan, and ignored.
struct LongNameAssembler {
  private var units: [UInt16] = []
  private var expected: UInt8 = 0
  private var checksum: UInt8 = 0
  private var active = false
  private(set) var start = DirectoryPosition(cluster: 0, index: 0)
  private(set) var parts: UInt32 = 0

  /// Forgets a run (a free slot, a label or a broken order ends it).
  mutating func reset() {
    active = false
    parts = 0
  }

  /// Takes one long-name slot.
  mutating func add(_ slot: UnsafeRawPointer, at position: DirectoryPosition) {
    let bytes = slot.assumingMemoryBound(to: UInt8.self)
    let order = bytes[FatLongNameEntry.order]
    let part = order & ~FatLongNameEntry.lastPart
    let wellFormed =
      bytes[FatLongNameEntry.type] == 0 && loadLittle16(slot, FatLongNameEntry.firstClusterLow) == 0 && part != 0
      && part <= UInt8(FatLongNameEntry.maximumEntries)
    if wellFormed && order & FatLongNameEntry.lastPart != 0 {
      units = [UInt16](repeating: FatLongNameEntry.padding, count: Int(part) * FatLongNameEntry.unitsPerEntry)
      checksum = bytes[FatLongNameEntry.checksum]
      start = position
      active = true
      parts = 0
    } else if !(wellFormed && active && part == expected && bytes[FatLongNameEntry.checksum] == checksum) {
      reset()
      return
    }
    Self.copyUnits(slot, into: &units, part: Int(part))
    expected = part - 1
    parts += 1
  }

  /// The name the finished run gives the short entry whose name has `shortChecksum`, or nil.
  mutating func finish(shortChecksum: UInt8) -> [UInt16]? {
    defer { reset() }
    guard active, expected == 0, shortChecksum == checksum else { return nil }
    var length = units.count
    for index in 0..<units.count where units[index] == FatLongNameEntry.terminator {
      length = index
      break
    }
    guard length > 0, length <= FatLongNameEntry.maximumUnits else { return nil }
    return [UInt16](units[0..<length])
  }

  /// The 13 units of part `part` (from 1) into their place in the name.
  private static func copyUnits(_ slot: UnsafeRawPointer, into units: inout [UInt16], part: Int) {
    let base = (part - 1) * FatLongNameEntry.unitsPerEntry
    for index in 0..<FatLongNameEntry.unitsPerEntry {
      units[base + index] = loadLittle16(slot, unitOffset(index))
    }
  }
}

/// The byte offset in a long-name slot of the part's unit `index` (0 ..< 13).
func unitOffset(_ index: Int) -> Int {
  if index < 5 { return FatLongNameEntry.name1 + 2 * index }
  if index < 11 { return FatLongNameEntry.name2 + 2 * (index - 5) }
  return FatLongNameEntry.name3 + 2 * (index - 11)
}

/// The long-name slots of `name`, in disk order (last part first), for the short name `shortName`.
func encodeLongName(_ name: [UInt16], shortName: [UInt8]) -> [UInt8] {
  let parts = (name.count + FatLongNameEntry.unitsPerEntry - 1) / FatLongNameEntry.unitsPerEntry
  var slots = [UInt8](repeating: 0, count: parts * FatDirectoryEntry.size)
  let sum = ShortName.checksum(shortName)
  slots.withUnsafeMutableBytes { buffer in
    for part in 1...parts {
      let slot = buffer.baseAddress! + (parts - part) * FatDirectoryEntry.size
      let order = UInt8(part) | (part == parts ? FatLongNameEntry.lastPart : 0)
      slot.storeBytes(of: order, toByteOffset: FatLongNameEntry.order, as: UInt8.self)
      slot.storeBytes(of: FatAttribute.longName, toByteOffset: FatDirectoryEntry.attributes, as: UInt8.self)
      slot.storeBytes(of: sum, toByteOffset: FatLongNameEntry.checksum, as: UInt8.self)
      for index in 0..<FatLongNameEntry.unitsPerEntry {
        let position = (part - 1) * FatLongNameEntry.unitsPerEntry + index
        let unit =
          position < name.count
          ? name[position] : position == name.count ? FatLongNameEntry.terminator : FatLongNameEntry.padding
        storeLittle16(slot, unitOffset(index), unit)
      }
    }
  }
  return slots
}

/// Long names: what a path component may be, and the 8.3 name a new one gets.
enum LongName {
  /// Whether `name` can name a FAT entry: 1 to 255 units, no control
  /// character or `"*/:<>?\|`, not "." or "..", no trailing space or period
  /// (Win32 strips those, so such a name could never be opened again).
  static func isValid(_ name: [UInt16]) -> Bool {
    guard let last = name.last, name.count <= FatLongNameEntry.maximumUnits else { return false }
    guard last != UInt16(UInt8(ascii: ".")), last != UInt16(UInt8(ascii: " ")) else { return false }
    for unit in name where unit < 0x20 || (unit < 0x80 && invalidCharacters.contains(UInt8(unit))) {
      return false
    }
    return true
  }

  static let invalidCharacters: [UInt8] = Array("\"*/:<>?\\|".utf8)
  /// Valid in long names, not in 8.3 names: they become "_" there.
  static let longOnlyCharacters: [UInt8] = Array("+,;=[]".utf8)

  /// The 8.3 form of `name` (11 bytes, uppercase, space padded), and whether
  /// it keeps the whole name (lossless: then no "~N" tail is needed).
  static func basis(_ name: [UInt16]) -> (name: [UInt8], lossless: Bool) {
    var lossless = true
    var characters: [UInt8] = []
    var leading = true
    for unit in name {
      if unit == UInt16(UInt8(ascii: " ")) || (leading && unit == UInt16(UInt8(ascii: "."))) {
        lossless = false
        continue
      }
      leading = false
      let upper = ShortName.asciiUpper(unit)
      if upper >= 0x80 || longOnlyCharacters.contains(UInt8(upper)) {
        characters.append(UInt8(ascii: "_"))
        lossless = false
      } else {
        characters.append(UInt8(upper))
      }
    }
    return split(characters, lossless: lossless)
  }

  /// Splits cleaned characters at the last period into an 8-byte base and a 3-byte extension.
  private static func split(_ characters: [UInt8], lossless: Bool) -> (name: [UInt8], lossless: Bool) {
    var dot = characters.count
    for index in stride(from: characters.count - 1, through: 0, by: -1) where characters[index] == UInt8(ascii: ".") {
      dot = index
      break
    }
    var result = [UInt8](repeating: UInt8(ascii: " "), count: FatDirectoryEntry.nameLength)
    var kept = lossless
    var length = 0
    for index in 0..<dot where characters[index] != UInt8(ascii: ".") {
      if length < 8 { result[length] = characters[index] } else { kept = false }
      length += 1
    }
    if length != dot { kept = false }
    if length == 0 { result[0] = UInt8(ascii: "_") }
    let extensionLength = dot < characters.count ? characters.count - dot - 1 : 0
    for index in 0..<min(extensionLength, 3) { result[8 + index] = characters[dot + 1 + index] }
    if extensionLength > 3 { kept = false }
    return (result, kept && length > 0)
  }

  /// The DIR_NTRes flags that let the 8.3 name alone show `name`'s case, or nil when it cannot.
  static func caseFlags(_ name: [UInt16], basis: [UInt8]) -> UInt8? {
    for flags: UInt8 in [0, FatDirectoryEntry.lowercaseBase, FatDirectoryEntry.lowercaseExtension, 0x18]
    where ShortName.display(basis, caseFlags: flags) == name {
      return flags
    }
    return nil
  }

  /// `basis` with the tail "~N" ending its base part.
  static func tailed(_ basis: [UInt8], _ number: Int) -> [UInt8] {
    var digits: [UInt8] = []
    var rest = number
    repeat {
      digits.insert(UInt8(ascii: "0") + UInt8(rest % 10), at: 0)
      rest /= 10
    } while rest > 0
    var baseLength = 0
    while baseLength < 8 && basis[baseLength] != UInt8(ascii: " ") { baseLength += 1 }
    let keep = min(baseLength, 8 - 1 - digits.count)
    // Built afresh rather than copied from `basis` and patched: the guest's
    // -Osize build was seen to patch `basis` itself through the copy.
    var result: [UInt8] = []
    result.reserveCapacity(FatDirectoryEntry.nameLength)
    for index in 0..<keep { result.append(basis[index]) }
    result.append(UInt8(ascii: "~"))
    result += digits
    while result.count < 8 { result.append(UInt8(ascii: " ")) }
    for index in 8..<FatDirectoryEntry.nameLength { result.append(basis[index]) }
    return result
  }
}
