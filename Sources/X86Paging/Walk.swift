// The pure page walk: reads entries, never writes, never loops (at most five levels),
// never reads outside what `memory` answers.

/// One entry the walk read.
public struct WalkStep: Sendable, Hashable, CustomStringConvertible {
  public var level: PagingLevel
  /// Physical address of the entry (for PAE PDPTE registers: where they were loaded from).
  public var entryAddress: UInt64
  public var entry: PagingEntry
  /// The entry came from a PAE PDPTE register (`PagingContext.paeDirectoryPointers`), not memory.
  public var fromRegister: Bool

  @inlinable
  public init(level: PagingLevel, entryAddress: UInt64, entry: PagingEntry, fromRegister: Bool = false) {
    self.level = level
    self.entryAddress = entryAddress
    self.entry = entry
    self.fromRegister = fromRegister
  }

  public var description: String {
    let name = fromRegister ? "PDPTE register" : level.entryName
    return "\(name) @\(hex(entryAddress)) = \(entry)"
  }
}

/// Where a walk stopped.
public enum WalkEnd: Sendable, Hashable {
  /// A page-mapping entry was reached; `physicalAddress` includes the page offset.
  case leaf(physicalAddress: UInt64, pageSize: PageSize)
  /// The entry at `level` has P = 0.
  case notPresent(level: PagingLevel)
  /// The present entry at `level` has reserved `bits` set.
  case reservedBits(level: PagingLevel, bits: UInt64)
  /// The entry at `entryAddress` (of `level`) is not in memory: `memory` answered nil.
  case outsideMemory(level: PagingLevel, entryAddress: UInt64)
  /// IA-32e paging and the linear address is not canonical (→ #GP(0), no walk).
  case nonCanonical
}

/// The trail of one walk and where it ended.
public struct Walk: Sendable, Hashable, CustomStringConvertible {
  /// The linear address walked (truncated to 32 bits outside IA-32e paging).
  public var linearAddress: UInt64
  public var mode: PagingMode
  /// The entries read, top level first. The last one is the one the walk ended on.
  public var steps: [WalkStep]
  public var end: WalkEnd
  /// Rights combined over the steps; set only when `end` is `.leaf`.
  public var rights: EffectiveRights?

  @inlinable
  public init(linearAddress: UInt64, mode: PagingMode, steps: [WalkStep], end: WalkEnd, rights: EffectiveRights?) {
    self.linearAddress = linearAddress
    self.mode = mode
    self.steps = steps
    self.end = end
    self.rights = rights
  }

  /// The translated physical address, if the walk reached a leaf.
  public var physicalAddress: UInt64? {
    if case .leaf(let pa, _) = end { return pa }
    return nil
  }

  /// The size of the page reached, if any.
  public var pageSize: PageSize? {
    if case .leaf(_, let size) = end { return size }
    return nil
  }

  /// The leaf entry, if the walk reached one.
  public var leafStep: WalkStep? {
    if case .leaf = end { return steps.last }
    return nil
  }

  /// The IA32_PAT entry selecting the page's memory type: PAT*4 + PCD*2 + PWT of the leaf
  /// (PAT is bit 7 for 4 KiB pages, bit 12 for larger ones). Nil without a leaf entry.
  public var patIndex: Int? {
    guard case .leaf(_, let size) = end, let raw = steps.last?.entry.rawValue else { return nil }
    let pat = raw & (size == .size4KiB ? 0x80 : 0x1000) != 0
    return (pat ? 4 : 0) + Int((raw >> 3) & 3)
  }

  public var description: String {
    var lines = ["\(mode) walk of \(hex(linearAddress))"]
    for step in steps { lines.append("  " + step.description) }
    switch end {
    case .leaf(let pa, let size): lines.append("  -> \(hex(pa)) (\(size) page, \(rights.map { "\($0)" } ?? ""))")
    case .notPresent(let level): lines.append("  -> not present at \(level.entryName(in: mode))")
    case .reservedBits(let level, let bits):
      lines.append("  -> reserved bits \(hex(bits)) in \(level.entryName(in: mode))")
    case .outsideMemory(let level, let address):
      lines.append("  -> \(level.entryName(in: mode)) at \(hex(address)) is outside memory")
    case .nonCanonical: lines.append("  -> non-canonical")
    }
    return lines.joined(separator: "\n")
  }
}

// How each mode splits a linear address (SDM Figures 4-2, 4-5, 4-8, 4-9):
//
// 32-bit paging (4-byte entries, 1024 per table):
//    31        22 21        12 11          0
//   +------------+------------+-------------+
//   |  PD index  |  PT index  |   offset    |   4 KiB page
//   +------------+------------+-------------+
//   |  PD index  |        offset (22)       |   4 MiB page (CR4.PSE, PDE.PS)
//
// PAE paging (8-byte entries; 4 PDPTE registers, 512 per PD/PT):
//    31 30 29       21 20       12 11          0
//   +-----+-----------+-----------+-------------+
//   |PDPTE| PD index  | PT index  |   offset    |   4 KiB page
//   |PDPTE| PD index  |      offset (21)        |   2 MiB page
//
// 4-level paging (48-bit linear addresses; 63:48 copies of bit 47):
//    63    48 47     39 38     30 29     21 20     12 11        0
//   +--------+---------+---------+---------+---------+-----------+
//   |  sign  |  PML4   |  PDPT   |   PD    |   PT    |  offset   |   4 KiB
//   |  sign  |  PML4   |  PDPT   |   PD    |    offset (21)      |   2 MiB
//   |  sign  |  PML4   |  PDPT   |         offset (30)           |   1 GiB
//
// 5-level paging (57-bit; 63:57 copies of bit 56) adds the PML5 index in bits 56:48.
// Non-canonical addresses raise #GP(0) before any walk.

/// Walks the paging structures for `linearAddress`. Pure: reads `memory`, writes nothing.
/// With paging disabled the walk is empty and ends at a `.leaf` with the 32-bit identity
/// address (reported as a 4 KiB page: rights cannot vary inside one).
public func walk(_ linearAddress: UInt64, context: PagingContext, memory: some PhysicalMemory) -> Walk {
  let mode = context.mode
  guard let top = mode.topLevel else {
    let address = linearAddress & 0xFFFF_FFFF
    return Walk(
      linearAddress: address, mode: mode, steps: [],
      end: .leaf(physicalAddress: address, pageSize: .size4KiB), rights: .unrestricted)
  }
  guard mode.isCanonical(linearAddress) else {
    return Walk(linearAddress: linearAddress, mode: mode, steps: [], end: .nonCanonical, rights: nil)
  }
  let address = mode.canonicalize(linearAddress)

  var steps: [WalkStep] = []
  steps.reserveCapacity(5)
  var rights = EffectiveRights.unrestricted
  var table = context.rootTableAddress
  var level = top
  while true {
    let format = context.entryFormat(at: level)
    let index = format.index(of: address)
    let entryAddress = table &+ UInt64(index) &* UInt64(format.entryWidth)
    var fromRegister = false
    let raw: UInt64
    if mode == .pae, level == .pageDirectoryPointerTable, let registers = context.paeDirectoryPointers,
      registers.count == 4
    {
      raw = registers[index]
      fromRegister = true
    } else if format.entryWidth == 4 {
      guard let value = memory.load32(entryAddress) else {
        return Walk(
          linearAddress: address, mode: mode, steps: steps,
          end: .outsideMemory(level: level, entryAddress: entryAddress), rights: nil)
      }
      raw = UInt64(value)
    } else {
      guard let value = memory.load64(entryAddress) else {
        return Walk(
          linearAddress: address, mode: mode, steps: steps,
          end: .outsideMemory(level: level, entryAddress: entryAddress), rights: nil)
      }
      raw = value
    }
    steps.append(
      WalkStep(
        level: level, entryAddress: entryAddress, entry: PagingEntry(rawValue: raw),
        fromRegister: fromRegister))

    guard raw & 1 != 0 else {
      return Walk(linearAddress: address, mode: mode, steps: steps, end: .notPresent(level: level), rights: nil)
    }
    let reserved = format.reservedBits(raw)
    guard reserved == 0 else {
      return Walk(
        linearAddress: address, mode: mode, steps: steps,
        end: .reservedBits(level: level, bits: reserved), rights: nil)
    }
    if format.hasAccessRights { rights.combine(raw) }
    if format.isPage(raw) {
      if mode.isIA32e { rights.protectionKey = PagingEntry(rawValue: raw).protectionKey }
      let physical = format.pageFrame(raw) | (address & format.pageSize.offsetMask)
      return Walk(
        linearAddress: address, mode: mode, steps: steps,
        end: .leaf(physicalAddress: physical, pageSize: format.pageSize), rights: rights)
    }
    // A page table entry always maps a page, so `lower` exists here.
    guard let next = level.lower else { preconditionFailure("page-table entries always map pages") }
    table = format.tableAddress(raw)
    level = next
  }
}
