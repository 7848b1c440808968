import GuestABI

/// Byte-level and structure-aware mutations of the fuzzer's seeds. Every mutation is a pure
/// function of the seed bytes and the generator, so a case is reproduced from its index.
public enum Mutations {
  /// Values that find off-by-ones and overflows in decoders.
  static let interesting: [UInt64] = [
    0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0xFFF, 0x1000, 0xFFFF, 0x1_0000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
    0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_F000, .max,
  ]

  static func interestingValue(_ random: inout SplitMix64) -> UInt64 {
    random.next() % 3 == 0 ? random.next() : interesting[Int(random.next() % UInt64(interesting.count))]
  }

  /// Flips, overwrites or truncates: what a damaged file looks like.
  public static func bytes(_ input: [UInt8], random: inout SplitMix64, region: Range<Int>? = nil) -> [UInt8] {
    var bytes = input
    guard !bytes.isEmpty else { return [UInt8(truncatingIfNeeded: random.next())] }
    let range = region.map { $0.clamped(to: 0..<bytes.count) } ?? 0..<bytes.count
    guard !range.isEmpty else { return bytes }
    let edits = 1 + Int(random.next() % 8)
    for _ in 0..<edits {
      let at = range.lowerBound + Int(random.next() % UInt64(range.count))
      guard at < bytes.count else { continue }  // an earlier edit truncated the file
      switch random.next() % 5 {
      case 0: bytes[at] ^= 1 << UInt8(random.next() % 8)
      case 1: bytes[at] = UInt8(truncatingIfNeeded: random.next())
      case 2: store(interestingValue(&random), width: [2, 4, 8][Int(random.next() % 3)], at: at, in: &bytes)
      case 3: bytes[at] = [0x00, 0xFF, 0x7F, 0x80][Int(random.next() % 4)]
      default: if random.next() % 4 == 0 { bytes.removeSubrange(at..<bytes.count) }
      }
      if bytes.isEmpty { break }
    }
    return bytes
  }

  /// Little-endian `width` bytes of `value` at `at`, as far as the array reaches.
  static func store(_ value: UInt64, width: Int, at: Int, in bytes: inout [UInt8]) {
    for index in 0..<width where at + index < bytes.count {
      bytes[at + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))
    }
  }

  static func load64(_ bytes: [UInt8], at: Int) -> UInt64? {
    guard at >= 0, at + 8 <= bytes.count else { return nil }
    var value: UInt64 = 0
    for index in 0..<8 { value |= UInt64(bytes[at + index]) << (8 * UInt64(index)) }
    return value
  }
}

/// A core file and where its structures are: the fuzzer aims at what the readers decode.
public struct CoreSeed: Sendable {
  public var name: String
  public var bytes: [UInt8]
  /// Guest physical ranges and where their bytes are in the file.
  public var loads: [(physical: UInt64, fileOffset: Int, size: Int)]
  public var cr3: UInt64?
  public var debugBlock: UInt64?

  /// Reads the program headers of an ELF64 core (the loads) and mmlab's register note.
  public init(name: String, bytes: [UInt8], cr3: UInt64?, debugBlock: UInt64?) {
    self.name = name
    self.bytes = bytes
    self.cr3 = cr3
    self.debugBlock = debugBlock
    var loads: [(UInt64, Int, Int)] = []
    if let table = Mutations.load64(bytes, at: 0x20), bytes.count > 0x3A {
      let count = Int(bytes[0x38]) | Int(bytes[0x39]) << 8
      for index in 0..<min(count, 64) {
        let header = Int(table) + index * 56
        guard let word = Mutations.load64(bytes, at: header), word & 0xFFFF_FFFF == 1,
          let offset = Mutations.load64(bytes, at: header + 8), let physical = Mutations.load64(bytes, at: header + 24),
          let size = Mutations.load64(bytes, at: header + 32), offset < UInt64(bytes.count)
        else { continue }
        loads.append((physical, Int(offset), Int(min(size, UInt64(bytes.count) - offset))))
      }
    }
    self.loads = loads
  }

  /// The file offset of guest physical `address`, if a load holds 8 bytes there.
  func fileOffset(_ address: UInt64) -> Int? {
    for load in loads where address >= load.physical && address + 8 <= load.physical + UInt64(load.size) {
      return load.fileOffset + Int(address - load.physical)
    }
    return nil
  }

  /// One mutation aimed at the headers, the page tables, the debug block or the PFN database.
  public func mutate(_ random: inout SplitMix64) -> (bytes: [UInt8], what: String) {
    var bytes = self.bytes
    switch random.next() % 6 {
    case 0:
      let headers = loads.map(\.fileOffset).min() ?? 4096
      return (Mutations.bytes(bytes, random: &random, region: 0..<headers), "headers and notes")
    case 1, 2:
      let edits = editTables(&bytes, random: &random)
      return (bytes, "\(edits) page-table entries")
    case 3:
      editDebugBlock(&bytes, random: &random)
      return (bytes, "debug block fields")
    case 4:
      editFrameRecords(&bytes, random: &random)
      return (bytes, "PFN records and list heads")
    default:
      return (Mutations.bytes(bytes, random: &random), "bytes anywhere")
    }
  }

  /// Entries of the root table and of tables it references, pointed at themselves, at
  /// ancestors, at random pages, outside memory, or given reserved or PS bits.
  func editTables(_ bytes: inout [UInt8], random: inout SplitMix64) -> Int {
    guard let root = cr3.map({ $0 & 0x000F_FFFF_FFFF_F000 }) else { return 0 }
    var tables = [root]
    for index in 0..<512 {
      if let offset = fileOffset(root + UInt64(index * 8)), let entry = Mutations.load64(bytes, at: offset),
        entry & 1 != 0, entry & 0x80 == 0
      {
        tables.append(entry & 0x000F_FFFF_FFFF_F000)
      }
    }
    let ramEnd = loads.map { $0.physical + UInt64($0.size) }.max() ?? 0
    let edits = 1 + Int(random.next() % 64)
    for _ in 0..<edits {
      let table = tables[Int(random.next() % UInt64(tables.count))]
      let other = tables[Int(random.next() % UInt64(tables.count))]
      guard let offset = fileOffset(table + (random.next() % 512) * 8) else { continue }
      let value: UInt64
      switch random.next() % 6 {
      case 0: value = table | 0x7
      case 1: value = other | 0x7
      case 2: value = (random.next() % max(ramEnd, 1)) & ~0xFFF | 0x7 | (random.next() % 2) << 7
      case 3: value = (random.next() & 0x000F_FFFF_FFFF_F000) | 0x7
      case 4: value = other | 0x7 | (random.next() % 0x800) << 52
      default: value = random.next()
      }
      Mutations.store(value, width: 8, at: offset, in: &bytes)
    }
    return edits
  }

  func editDebugBlock(_ bytes: inout [UInt8], random: inout SplitMix64) {
    guard let block = debugBlock else { return }
    let fields = [
      DebugBlock.version, DebugBlock.size, DebugBlock.pfnRecordSize, DebugBlock.pfnDatabasePhysical,
      DebugBlock.pfnCount, DebugBlock.listHeadsPhysical, DebugBlock.kernelRoot, DebugBlock.selfMapSlot,
      DebugBlock.windowCount, DebugBlock.windowsPhysical, DebugBlock.processTablePhysical, DebugBlock.processCount,
      DebugBlock.processRecordSize, DebugBlock.availablePages, DebugBlock.controlAreasPhysical,
      DebugBlock.controlAreaSlots, DebugBlock.controlAreaRecordSize,
    ]
    for _ in 0..<(1 + Int(random.next() % 3)) {
      let field = fields[Int(random.next() % UInt64(fields.count))]
      guard let offset = fileOffset(block + UInt64(field)) else { continue }
      Mutations.store(
        Mutations.interestingValue(&random), width: [4, 8][Int(random.next() % 2)], at: offset, in: &bytes)
    }
  }

  /// List totals (all ones, as the campaign found), list links and record words.
  func editFrameRecords(_ bytes: inout [UInt8], random: inout SplitMix64) {
    guard let block = debugBlock, let headsField = fileOffset(block + UInt64(DebugBlock.listHeadsPhysical)),
      let heads = Mutations.load64(bytes, at: headsField),
      let databaseField = fileOffset(block + UInt64(DebugBlock.pfnDatabasePhysical)),
      let database = Mutations.load64(bytes, at: databaseField),
      let countField = fileOffset(block + UInt64(DebugBlock.pfnCount)),
      let count = Mutations.load64(bytes, at: countField)
    else { return }
    if random.next() % 2 == 0 {
      for list in 0..<PageLocation.listCount where random.next() % 2 == 0 || list == 0 {
        let field = heads + UInt64(list * PageListHead.size)
        let word = [PageListHead.total, PageListHead.total, 0, 8][Int(random.next() % 4)]
        guard let offset = fileOffset(field + UInt64(word)) else { continue }
        Mutations.store(
          random.next() % 2 == 0 ? .max : Mutations.interestingValue(&random), width: 8, at: offset, in: &bytes)
      }
    } else {
      for _ in 0..<(1 + Int(random.next() % 32)) {
        let record = database + (random.next() % max(count, 1)) * UInt64(PageFrameRecord.size)
        let word = (random.next() % UInt64(PageFrameRecord.size / 4)) * 4
        guard let offset = fileOffset(record + word) else { continue }
        let value = random.next() % 2 == 0 ? random.next() % max(count + 2, 1) : Mutations.interestingValue(&random)
        Mutations.store(value, width: 4, at: offset, in: &bytes)
      }
    }
  }
}
