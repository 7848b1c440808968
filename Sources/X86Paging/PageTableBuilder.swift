// Building page tables in a MutablePhysicalMemory: for tests, and for hosts that
// prepare a guest's initial tables.

/// Why `PageTableBuilder.map` refused.
public enum PageTableBuilderError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The page size does not exist in the builder's paging mode.
  case unsupportedPageSize(PageSize, PagingMode)
  /// The linear or physical address is not aligned to the page size.
  case misaligned(linearAddress: UInt64, physicalAddress: UInt64, pageSize: PageSize)
  /// The linear address is not canonical (IA-32e) or exceeds 32 bits (other modes).
  case invalidLinearAddress(UInt64)
  /// A larger page already maps part of the range.
  case coveredByLargePage(level: PagingLevel, entryAddress: UInt64)
  /// The leaf entry is already present.
  case alreadyMapped(entryAddress: UInt64)
  /// A table would lie outside memory, or a store failed.
  case outsideMemory(UInt64)

  public var description: String {
    switch self {
    case .unsupportedPageSize(let size, let mode): "\(mode) paging has no \(size) pages"
    case .misaligned(let la, let pa, let size): "\(hex(la)) -> \(hex(pa)) is not \(size)-aligned"
    case .invalidLinearAddress(let la): "invalid linear address \(hex(la))"
    case .coveredByLargePage(let level, let address): "a \(level.entryName) at \(hex(address)) maps a large page here"
    case .alreadyMapped(let address): "the entry at \(hex(address)) is already present"
    case .outsideMemory(let address): "\(hex(address)) is outside memory"
    }
  }
}

/// Builds a paging hierarchy for one mode: tables come from a bump allocator starting at
/// `nextFreeTable`, intermediate entries get `tableFlags`, leaves get the caller's flags.
public struct PageTableBuilder<Memory: MutablePhysicalMemory> {
  public let memory: Memory
  /// The context the tables are built for (its CR3 points at the root). Copy it and set
  /// WP, NXE, SMEP, SMAP... on the copy as a test needs.
  public private(set) var context: PagingContext
  /// Physical address of the next table to hand out (4 KiB aligned).
  public private(set) var nextFreeTable: UInt64

  /// A builder whose root table is the (zeroed) page at `tableArea` (rounded down to 4 KiB);
  /// further tables follow it. `context` is `PagingContext(mode:cr3:maxPhysicalAddressBits:)`
  /// with CR3 pointing at the root.
  public init(memory: Memory, mode: PagingMode, maxPhysicalAddressBits: Int, tableArea: UInt64) {
    self.memory = memory
    let root = tableArea & ~0xFFF
    self.nextFreeTable = root + pageBytes
    self.context = PagingContext(mode: mode, cr3: root, maxPhysicalAddressBits: maxPhysicalAddressBits)
    // The root (PAE: the 32-byte PDPT at its start) starts zeroed.
    for offset in stride(from: 0, to: pageBytes, by: 8) { memory.store64(0, at: root + offset) }
  }

  /// The paging mode being built.
  public var mode: PagingMode { context.mode }
  /// The root table's physical address (the CR3 value, without flags).
  public var root: UInt64 { context.rootTableAddress }

  /// Allocates and zeroes a 4 KiB table.
  public mutating func allocateTable() throws(PageTableBuilderError) -> UInt64 {
    let table = nextFreeTable
    for offset in stride(from: 0, to: pageBytes, by: 8) {
      guard memory.store64(0, at: table + offset) else { throw .outsideMemory(table + offset) }
    }
    nextFreeTable += pageBytes
    return table
  }

  private func load(_ address: UInt64, width: Int) throws(PageTableBuilderError) -> UInt64 {
    let value: UInt64? = width == 4 ? memory.load32(address).map { UInt64($0) } : memory.load64(address)
    guard let value else { throw .outsideMemory(address) }
    return value
  }

  private func store(_ value: UInt64, at address: UInt64, width: Int) throws(PageTableBuilderError) {
    let ok =
      width == 4 ? memory.store32(UInt32(truncatingIfNeeded: value), at: address) : memory.store64(value, at: address)
    guard ok else { throw .outsideMemory(address) }
  }

  /// The level whose entries map pages of `size` in this mode.
  public func leafLevel(for size: PageSize) -> PagingLevel? {
    switch (mode, size) {
    case (.bit32, .size4KiB), (.pae, .size4KiB), (.fourLevel, .size4KiB), (.fiveLevel, .size4KiB): .pageTable
    case (.bit32, .size4MiB), (.pae, .size2MiB), (.fourLevel, .size2MiB), (.fiveLevel, .size2MiB): .pageDirectory
    case (.fourLevel, .size1GiB), (.fiveLevel, .size1GiB): .pageDirectoryPointerTable
    default: nil
    }
  }

  /// Maps the page at `linearAddress` to `physicalAddress`. `flags` are the leaf's flags
  /// (P is added; PS is added for large pages; for large pages use
  /// `.largePageAttributeTable` for PAT). Intermediate entries are created with
  /// `tableFlags` (P is added; PAE PDPTEs keep only P, PWT and PCD). Returns the physical
  /// address of the leaf entry.
  @discardableResult
  public mutating func map(
    _ linearAddress: UInt64, to physicalAddress: UInt64, size: PageSize, flags: PagingEntry,
    tableFlags: PagingEntry = [.writable, .user]
  ) throws(PageTableBuilderError) -> UInt64 {
    guard let target = leafLevel(for: size), let top = mode.topLevel else {
      throw .unsupportedPageSize(size, mode)
    }
    guard mode.isIA32e ? mode.isCanonical(linearAddress) : linearAddress <= 0xFFFF_FFFF else {
      throw .invalidLinearAddress(linearAddress)
    }
    guard linearAddress & size.offsetMask == 0, physicalAddress & size.offsetMask == 0 else {
      throw .misaligned(linearAddress: linearAddress, physicalAddress: physicalAddress, pageSize: size)
    }
    var table = root
    var level = top
    while level > target {
      let format = context.entryFormat(at: level)
      let entryAddress = table + UInt64(format.index(of: linearAddress) * format.entryWidth)
      let raw = try load(entryAddress, width: format.entryWidth)
      if raw & 1 != 0 {
        if format.isPage(raw) { throw .coveredByLargePage(level: level, entryAddress: entryAddress) }
        table = format.tableAddress(raw)
      } else {
        let child = try allocateTable()
        var entryFlags = tableFlags.union(.present)
        if !format.hasAccessRights { entryFlags.formIntersection([.present, .writeThrough, .cacheDisable]) }
        entryFlags.remove(.pageSize)
        try store(child | entryFlags.rawValue, at: entryAddress, width: format.entryWidth)
        table = child
      }
      guard let next = level.lower else { break }
      level = next
    }
    let format = context.entryFormat(at: target)
    let entryAddress = table + UInt64(format.index(of: linearAddress) * format.entryWidth)
    if try load(entryAddress, width: format.entryWidth) & 1 != 0 { throw .alreadyMapped(entryAddress: entryAddress) }
    var leafFlags = flags.union(.present)
    if target != .pageTable { leafFlags.insert(.pageSize) }
    try store(format.encodePageFrame(physicalAddress) | leafFlags.rawValue, at: entryAddress, width: format.entryWidth)
    return entryAddress
  }

  /// Physical address of the entry of `level` that translates `linearAddress`, following
  /// present entries; nil if the walk stops above `level`.
  public func entryAddress(of linearAddress: UInt64, at level: PagingLevel) -> UInt64? {
    guard let top = mode.topLevel, level <= top else { return nil }
    var table = root
    var current = top
    while true {
      let format = context.entryFormat(at: current)
      let address = table + UInt64(format.index(of: linearAddress) * format.entryWidth)
      if current == level { return address }
      guard let raw = try? load(address, width: format.entryWidth), raw & 1 != 0, !format.isPage(raw),
        let next = current.lower
      else { return nil }
      table = format.tableAddress(raw)
      current = next
    }
  }
}
