import GuestArch

/// A range of usable RAM from the PVH memory map.
struct PhysicalRange {
  var start: UInt64
  var end: UInt64
}

/// What the loader told us in the PVH start_info record (GuestABI/PVHBoot.swift),
/// copied out before the boot identity map goes away.
struct BootInformation {
  var ram: [PhysicalRange] = []
  var commandLine: [UInt8] = []

  /// Reads start_info at `physical` through the boot identity map; nil if it is not a valid v1 record.
  init?(startInfoPhysical physical: UInt64) {
    guard physical != 0, physical < arch_boot_identity_size else { return nil }
    let info = UnsafeRawPointer(bitPattern: UInt(physical))!
    guard info.load(fromByteOffset: PVHStartInfo.magic, as: UInt32.self) == PVHStartInfo.magicValue,
      info.load(fromByteOffset: PVHStartInfo.version, as: UInt32.self) >= 1
    else { return nil }
    let mapAddress = info.load(fromByteOffset: PVHStartInfo.memmapPhysicalAddress, as: UInt64.self)
    let mapEntries = Int(info.load(fromByteOffset: PVHStartInfo.memmapEntries, as: UInt32.self))
    guard mapAddress != 0, mapAddress < arch_boot_identity_size, mapEntries > 0, mapEntries <= 128 else { return nil }
    for index in 0..<mapEntries {
      let entry = UnsafeRawPointer(bitPattern: UInt(mapAddress) + UInt(index * PVHMemoryMapEntry.entrySize))!
      guard entry.load(fromByteOffset: PVHMemoryMapEntry.type, as: UInt32.self) == PVHMemoryMapEntry.typeRAM
      else { continue }
      let start = entry.load(fromByteOffset: PVHMemoryMapEntry.address, as: UInt64.self)
      let size = entry.load(fromByteOffset: PVHMemoryMapEntry.size, as: UInt64.self)
      ram.append(PhysicalRange(start: start, end: start &+ size))
    }
    let line = info.load(fromByteOffset: PVHStartInfo.commandLinePhysicalAddress, as: UInt64.self)
    if line != 0, line < arch_boot_identity_size {
      let bytes = UnsafePointer<UInt8>(bitPattern: UInt(line))!
      var index = 0
      while index < 1024, bytes[index] != 0 {
        commandLine.append(bytes[index])
        index += 1
      }
    }
  }

  /// True if the command line holds `word` as a whole space-separated word.
  func hasWord(_ word: StaticString) -> Bool {
    let count = word.utf8CodeUnitCount
    var start = 0
    while start < commandLine.count {
      var end = start
      while end < commandLine.count, commandLine[end] != 0x20 { end += 1 }
      if end - start == count {
        var same = true
        for index in 0..<count where commandLine[start + index] != word.utf8Start[index] { same = false }
        if same { return true }
      }
      start = end + 1
    }
    return false
  }

  /// The decimal number after `prefix` in the first word that starts with it ("seed=42" -> 42).
  func number(after prefix: StaticString) -> UInt64? {
    let count = prefix.utf8CodeUnitCount
    var start = 0
    while start < commandLine.count {
      var end = start
      while end < commandLine.count, commandLine[end] != 0x20 { end += 1 }
      var matches = end - start > count
      for index in 0..<count where matches && commandLine[start + index] != prefix.utf8Start[index] { matches = false }
      if matches {
        var value: UInt64 = 0
        for digit in commandLine[(start + count)..<end] {
          guard digit >= 0x30, digit <= 0x39 else { return nil }
          value = value &* 10 &+ UInt64(digit - 0x30)
        }
        return value
      }
      start = end + 1
    }
    return nil
  }

  /// True if every word is one of `GuestCommandLine.words`, or a number prefix followed by digits.
  func allWordsKnown() -> Bool {
    var start = 0
    while start < commandLine.count {
      var end = start
      while end < commandLine.count, commandLine[end] != 0x20 { end += 1 }
      if end > start, !isKnownWord(start, end) { return false }
      start = end + 1
    }
    return true
  }

  /// The word at `start..<end` is a known word or prefix+digits.
  private func isKnownWord(_ start: Int, _ end: Int) -> Bool {
    for word in GuestCommandLine.words where matches(word, at: start, through: end, prefixOnly: false) { return true }
    for prefix in GuestCommandLine.numberPrefixes where matches(prefix, at: start, through: end, prefixOnly: true) {
      var digits = start + prefix.utf8CodeUnitCount
      guard digits < end else { return false }
      while digits < end, commandLine[digits] >= 0x30, commandLine[digits] <= 0x39 { digits += 1 }
      return digits == end
    }
    return false
  }

  private func matches(_ text: StaticString, at start: Int, through end: Int, prefixOnly: Bool) -> Bool {
    let count = text.utf8CodeUnitCount
    guard prefixOnly ? end - start >= count : end - start == count else { return false }
    for index in 0..<count where commandLine[start + index] != text.utf8Start[index] { return false }
    return true
  }

  /// One past the highest usable RAM address.
  var ramEnd: UInt64 { ram.reduce(0) { $0 > $1.end ? $0 : $1.end } }
}
