// Enumerating every mapping of an address space (QEMU's `info tlb`); MappingRanges.swift merges
// mappings into ranges (QEMU's `info mem`).
//
// The tables are hostile input: the enumerator follows at most five levels, records
// tables that point back at an ancestor (self-maps) and descends anyway (depth is
// bounded), bounds the total work with a leaf limit and a table limit, and never reads
// anything `memory` does not answer. A table reached a second time (a self-map, or a
// table two entries share) is reported once, not once per path: its leaves are real
// translations at every path's addresses, so they are listed per path, but a subtree
// that holds no leaf is not scanned again, and when the limit cuts the listing short
// the leaves it did not list are counted exactly from per-table counts (each table
// and level counted once), so the work is bounded by the input, not by its paths. It is generic and @inlinable so that it specializes
// for the caller's memory type: a table is scanned straight out of `tablePage` with no
// call and no allocation per entry.

/// One page-mapping entry found by `forEachLeaf`.
public struct Leaf: Sendable, Hashable, CustomStringConvertible {
  /// The first linear address of the page, canonical (sign-extended under IA-32e paging).
  public var virtualAddress: UInt64
  /// The page frame's physical address.
  public var physicalAddress: UInt64
  public var pageSize: PageSize
  /// The level of the leaf entry (PT for 4 KiB pages, PD for 2/4 MiB, PDPT for 1 GiB).
  public var level: PagingLevel
  /// The leaf entry as read.
  public var entry: PagingEntry
  /// Physical address of the leaf entry.
  public var entryAddress: UInt64
  /// U/S = 1 at every level.
  public var user: Bool
  /// R/W = 1 at every level.
  public var writable: Bool
  /// No level has XD = 1, or XD is not active (NXE = 0 or 32-bit paging).
  public var executable: Bool
  /// Reserved bits set in the leaf or in any entry on its path (OR-ed together); nonzero
  /// means any access to the page faults with RSVD (or #GP for a PAE PDPTE).
  public var reservedBits: UInt64

  @inlinable
  public init(
    virtualAddress: UInt64, physicalAddress: UInt64, pageSize: PageSize, level: PagingLevel,
    entry: PagingEntry, entryAddress: UInt64, user: Bool, writable: Bool, executable: Bool,
    reservedBits: UInt64
  ) {
    self.virtualAddress = virtualAddress
    self.physicalAddress = physicalAddress
    self.pageSize = pageSize
    self.level = level
    self.entry = entry
    self.entryAddress = entryAddress
    self.user = user
    self.writable = writable
    self.executable = executable
    self.reservedBits = reservedBits
  }

  /// G: global (meaningful with CR4.PGE = 1).
  @inlinable public var global: Bool { entry.rawValue & 0x100 != 0 }
  /// A of the leaf.
  @inlinable public var accessed: Bool { entry.rawValue & 0x20 != 0 }
  /// D of the leaf.
  @inlinable public var dirty: Bool { entry.rawValue & 0x40 != 0 }
  /// PCD of the leaf.
  @inlinable public var cacheDisable: Bool { entry.rawValue & 0x10 != 0 }
  /// PWT of the leaf.
  @inlinable public var writeThrough: Bool { entry.rawValue & 0x08 != 0 }
  /// PAT bit of the leaf (bit 7 for 4 KiB pages, bit 12 for larger ones).
  @inlinable public var pat: Bool {
    entry.rawValue & (pageSize == .size4KiB ? 0x80 : 0x1000) != 0
  }
  /// The IA32_PAT entry selecting the memory type: PAT*4 + PCD*2 + PWT (SDM §11.12.3).
  @inlinable public var patIndex: Int {
    (pat ? 4 : 0) + (cacheDisable ? 2 : 0) + (writeThrough ? 1 : 0)
  }
  /// Bits 62:59 of the leaf (the protection key under 4/5-level paging).
  @inlinable public var protectionKey: UInt8 { entry.protectionKey }

  /// One line in the spirit of QEMU's `info tlb`.
  public var description: String {
    var flags = ""
    flags += executable ? "-" : "X"
    flags += global ? "G" : "-"
    flags += pat ? "P" : "-"
    flags += dirty ? "D" : "-"
    flags += accessed ? "A" : "-"
    flags += cacheDisable ? "C" : "-"
    flags += writeThrough ? "T" : "-"
    flags += user ? "U" : "-"
    flags += writable ? "W" : "-"
    var line = "\(hex(virtualAddress, digits: 16)): \(hex(physicalAddress, digits: 12)) \(pageSize) \(flags)"
    if reservedBits != 0 { line += " RSVD \(hex(reservedBits))" }
    return line
  }
}

/// Something wrong found while enumerating. `virtualAddress` is the first linear address
/// the offending entry covers.
public enum EnumerationProblem: Sendable, Hashable, CustomStringConvertible {
  /// A table (of `level`) lies (partly) outside memory. `entryAddress` is the entry that
  /// points at it, nil for the table CR3 points at.
  case tableOutsideMemory(level: PagingLevel, tableAddress: UInt64, entryAddress: UInt64?, virtualAddress: UInt64)
  /// A present entry that references a table (`level` is the entry's level) has reserved
  /// bits set. The enumerator descends anyway and flags every leaf below.
  case reservedBits(level: PagingLevel, entryAddress: UInt64, bits: UInt64, virtualAddress: UInt64)
  /// An entry of `level` references a table that is already on the current path (a
  /// recursive or self-map slot). The enumerator descends anyway: depth is bounded.
  case ancestorReference(level: PagingLevel, entryAddress: UInt64, tableAddress: UInt64, virtualAddress: UInt64)
  /// An entry of `level` references a table already reached from another entry (two
  /// entries share it: a DAG), outside any self-map. Reported once per table.
  case sharedTable(level: PagingLevel, entryAddress: UInt64, tableAddress: UInt64, virtualAddress: UInt64)

  public var description: String {
    switch self {
    case .tableOutsideMemory(let level, let table, let entry, let va):
      let from = entry.map { "referenced by the entry at \(hex($0))" } ?? "referenced by CR3"
      return "\(level) table at \(hex(table)) (\(from), VA \(hex(va))) is outside memory"
    case .reservedBits(let level, let entry, let bits, let va):
      return "\(level.entryName) at \(hex(entry)) (VA \(hex(va))) has reserved bits \(hex(bits))"
    case .ancestorReference(let level, let entry, let table, let va):
      return "\(level.entryName) at \(hex(entry)) (VA \(hex(va))) references \(hex(table)), a table on its own path"
    case .sharedTable(let level, let entry, let table, let va):
      return
        "\(level.entryName) at \(hex(entry)) (VA \(hex(va))) references \(hex(table)), a table already reached "
        + "from another entry"
    }
  }
}

/// What `forEachLeaf` did.
public struct EnumerationSummary: Sendable, Hashable, CustomStringConvertible {
  /// Why the enumeration stopped early.
  public enum Truncation: Sendable, Hashable {
    /// `limit` leaves were delivered and at least one more existed.
    case leafLimit
    /// `tableLimit` tables were scanned and at least one more was referenced.
    case tableLimit
  }

  /// At most this many problems are kept in `problems`; `problemCount` counts them all.
  public static let maxRecordedProblems = 256

  public var mode: PagingMode
  /// Leaves delivered to the body.
  public var leafCount: Int = 0
  /// Paging structures scanned (the PAE PDPT counts as one).
  public var tableCount: Int = 0
  /// Leaves delivered with `reservedBits != 0`.
  public var leavesWithReservedBits: Int = 0
  /// Set if the enumeration stopped before the end.
  public var truncation: Truncation? = nil
  /// The first `maxRecordedProblems` problems, in enumeration order.
  public var problems: [EnumerationProblem] = []
  /// All problems found, including those not kept.
  public var problemCount: Int = 0
  /// Entries that referenced a table already reached (through a self-map or a shared
  /// table). Each such table is reported once in `problems`.
  public var repeatedTableReferences: Int = 0
  /// Distinct tables reported as shared (`.sharedTable`).
  public var sharedTables: Int = 0
  /// Set when the enumeration was truncated: how many leaves a complete enumeration
  /// delivers, counted per table without listing them. Nil if not truncated, or if the
  /// count itself ran out of budget (more distinct tables than `countBudget`).
  public var totalLeaves: Int? = nil

  @inlinable public init(mode: PagingMode) { self.mode = mode }

  @inlinable public var isTruncated: Bool { truncation != nil }

  /// Leaves the enumeration did not deliver, when truncated and counted.
  @inlinable public var unlistedLeaves: Int? { totalLeaves.map { $0 - leafCount } }

  public var description: String {
    var text = "\(mode): \(leafCount) leaves in \(tableCount) tables"
    if leavesWithReservedBits > 0 { text += ", \(leavesWithReservedBits) with reserved bits" }
    if problemCount > 0 { text += ", \(problemCount) problems" }
    switch truncation {
    case .leafLimit: text += " (truncated at the leaf limit"
    case .tableLimit: text += " (truncated at the table limit"
    case nil: return text
    }
    if let unlisted = unlistedLeaves { text += "; \(unlisted) leaves not listed" }
    return text + ")"
  }
}

/// Calls `body` for every present page-mapping entry reachable from CR3, in ascending
/// linear-address order, and reports what it found. Leaves with reserved bits (in the leaf
/// or on the path) are delivered with `reservedBits` set, not dropped.
///
/// - Parameters:
///   - limit: at most this many leaves are delivered (bounds the work on hostile tables,
///     e.g. every entry of every level pointing at one page: 512^4 leaves).
///   - tableLimit: at most this many tables are scanned (bounds the work when hostile
///     tables fan out without leaves).
@inlinable
public func forEachLeaf<Memory: PhysicalMemory>(
  context: PagingContext, memory: Memory, limit: Int = 1 << 24, tableLimit: Int = 1 << 18,
  body: (Leaf) -> Void
) -> EnumerationSummary {
  var enumerator = LeafEnumerator(context: context, memory: memory, limit: limit, tableLimit: tableLimit)
  enumerator.run(body)
  return enumerator.summary
}

/// A table read as a table of one level (the same page can be read at several levels through a self-map).
@usableFromInline
struct TableAtLevel: Hashable {
  @usableFromInline var table: UInt64
  @usableFromInline var level: PagingLevel
  @inlinable init(table: UInt64, level: PagingLevel) {
    self.table = table
    self.level = level
  }
}

/// Rights and reserved bits accumulated from the entries above a table.
@usableFromInline
struct InheritedRights {
  @usableFromInline var user = true
  @usableFromInline var writable = true
  @usableFromInline var executeDisable = false
  @usableFromInline var reservedBits: UInt64 = 0
  @inlinable init() {}
}

/// The tables on the current path, top first (at most five).
@usableFromInline
struct TablePath {
  @usableFromInline var t0: UInt64 = 0, t1: UInt64 = 0, t2: UInt64 = 0, t3: UInt64 = 0, t4: UInt64 = 0
  @usableFromInline var count = 0
  /// The path went through an entry that references an ancestor (a self-map slot):
  /// every table below is one reached before, by design.
  @usableFromInline var throughSelfMap = false
  @inlinable init() {}

  @inlinable mutating func push(_ table: UInt64) {
    switch count {
    case 0: t0 = table
    case 1: t1 = table
    case 2: t2 = table
    case 3: t3 = table
    default: t4 = table
    }
    count += 1
  }

  @inlinable func contains(_ table: UInt64) -> Bool {
    (count > 0 && t0 == table) || (count > 1 && t1 == table) || (count > 2 && t2 == table)
      || (count > 3 && t3 == table) || (count > 4 && t4 == table)
  }
}

@usableFromInline
struct LeafEnumerator<Memory: PhysicalMemory> {
  @usableFromInline let context: PagingContext
  @usableFromInline let memory: Memory
  @usableFromInline let limit: Int
  @usableFromInline let tableLimit: Int
  @usableFromInline let executeDisableActive: Bool
  /// Left shift then arithmetic right shift that canonicalizes a linear address (0 outside IA-32e).
  @usableFromInline let canonicalShift: UInt64
  @usableFromInline var summary: EnumerationSummary
  /// Every table reached so far; those reached outside a self-map; those already reported.
  @usableFromInline var reachedAnywhere: Set<UInt64> = []
  @usableFromInline var reached: Set<UInt64> = []
  @usableFromInline var reported: Set<UInt64> = []
  /// Leaves below a table read at a level (`leafCount`), each counted once.
  @usableFromInline var leafCounts: [TableAtLevel: Int] = [:]
  /// At most this many distinct (table, level) pairs are counted.
  @usableFromInline let countBudget: Int

  @inlinable
  init(context: PagingContext, memory: Memory, limit: Int, tableLimit: Int) {
    self.context = context
    self.memory = memory
    self.limit = max(limit, 0)
    self.tableLimit = max(tableLimit, 0)
    self.executeDisableActive = context.executeDisableActive
    let mode = context.mode
    self.canonicalShift = mode.isIA32e ? UInt64(64 - mode.linearAddressBits) : 0
    self.summary = EnumerationSummary(mode: mode)
    self.countBudget = max(self.tableLimit, 1 << 16)
  }

  @inlinable
  mutating func note(_ problem: EnumerationProblem) {
    summary.problemCount += 1
    if summary.problems.count < EnumerationSummary.maxRecordedProblems { summary.problems.append(problem) }
  }

  @inlinable
  func canonical(_ address: UInt64) -> UInt64 {
    UInt64(bitPattern: Int64(bitPattern: address << canonicalShift) >> Int64(canonicalShift))
  }

  @inlinable
  mutating func run(_ body: (Leaf) -> Void) {
    let mode = context.mode
    guard let top = mode.topLevel else { return }
    let root = context.rootTableAddress
    reached.insert(root)
    reachedAnywhere.insert(root)
    if mode == .pae {
      scanPAEDirectoryPointers(root, body)
    } else {
      _ = scanTable(
        root, level: top, base: 0, inherited: InheritedRights(), path: TablePath(),
        referencedBy: nil, body)
    }
    if summary.truncation != nil { summary.totalLeaves = totalLeafCount(root: root, top: top) }
  }

  /// Leaves a complete enumeration delivers (nil if the count runs out of budget).
  @inlinable
  mutating func totalLeafCount(root: UInt64, top: PagingLevel) -> Int? {
    guard context.mode == .pae else { return leafCount(root, level: top) }
    let format = context.entryFormat(at: .pageDirectoryPointerTable)
    let registers = context.paeDirectoryPointers.flatMap { $0.count == 4 ? $0 : nil }
    var total = 0
    for index in 0..<4 {
      guard let raw = registers?[index] ?? memory.load64(root &+ UInt64(index) &* 8) else { break }
      guard raw & 1 != 0 else { continue }
      guard let below = leafCount(format.tableAddress(raw), level: .pageDirectory) else { return nil }
      total += below
    }
    return total
  }

  /// The leaves below the table at `table` read as a table of `level`: what `scanTable`
  /// would deliver with no limit. Each (table, level) is counted once: levels only go
  /// down, so no pair is below itself, and a pair reached again costs a lookup.
  @inlinable
  mutating func leafCount(_ table: UInt64, level: PagingLevel) -> Int? {
    let key = TableAtLevel(table: table, level: level)
    if let known = leafCounts[key] { return known }
    guard leafCounts.count < countBudget else { return nil }
    let format = context.entryFormat(at: level)
    let width = UInt64(format.entryWidth)
    let page = memory.tablePage(table).flatMap { $0.count >= Int(pageBytes) ? $0.baseAddress : nil }
    var total = 0
    for index in 0..<format.entryCount {
      let raw: UInt64
      if let page {
        raw =
          width == 8
          ? UInt64(littleEndian: page.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self))
          : UInt64(UInt32(littleEndian: page.loadUnaligned(fromByteOffset: index &* 4, as: UInt32.self)))
      } else {
        let address = table &+ UInt64(index) &* width
        guard let loaded = width == 8 ? memory.load64(address) : memory.load32(address).map({ UInt64($0) })
        else { break }
        raw = loaded
      }
      if raw & 1 == 0 { continue }
      if format.isPage(raw) {
        total += 1
      } else if let lower = level.lower {
        guard let below = leafCount(format.tableAddress(raw), level: lower) else { return nil }
        total += below
      }
    }
    leafCounts[key] = total
    return total
  }

  /// PAE: the four PDPTEs (registers if given, else 32 bytes at CR3[31:5]).
  @inlinable
  mutating func scanPAEDirectoryPointers(_ root: UInt64, _ body: (Leaf) -> Void) {
    guard summary.tableCount < tableLimit else {
      summary.truncation = .tableLimit
      return
    }
    summary.tableCount += 1
    let format = context.entryFormat(at: .pageDirectoryPointerTable)
    var path = TablePath()
    path.push(root)
    let registers = context.paeDirectoryPointers.flatMap { $0.count == 4 ? $0 : nil }
    for index in 0..<4 {
      let entryAddress = root &+ UInt64(index) &* 8
      guard let raw = registers?[index] ?? memory.load64(entryAddress) else {
        note(
          .tableOutsideMemory(
            level: .pageDirectoryPointerTable, tableAddress: root, entryAddress: nil,
            virtualAddress: UInt64(index) << 30))
        return
      }
      guard raw & 1 != 0 else { continue }
      if !visitTableEntry(
        raw, format: format, entryAddress: entryAddress, virtualAddress: UInt64(index) << 30,
        inherited: InheritedRights(), path: path, body)
      {
        return
      }
    }
  }

  /// Scans one table of `level` at `table`. Returns false to stop the whole enumeration.
  @inlinable
  mutating func scanTable(
    _ table: UInt64, level: PagingLevel, base: UInt64, inherited: InheritedRights, path: TablePath,
    referencedBy entryAddress: UInt64?, _ body: (Leaf) -> Void
  ) -> Bool {
    guard summary.tableCount < tableLimit else {
      summary.truncation = .tableLimit
      return false
    }
    summary.tableCount += 1
    let format = context.entryFormat(at: level)
    var path = path
    path.push(table)
    let shift = UInt64(format.indexShift)
    let count = format.entryCount

    if let page = memory.tablePage(table), page.count >= Int(pageBytes), let bytes = page.baseAddress {
      if format.entryWidth == 8 {
        if format.alwaysMapsPage {
          // The hot loop: a page table of 512 8-byte PTEs, straight from the buffer.
          for index in 0..<count {
            let raw = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self))
            if raw & 1 == 0 { continue }
            if !emitLeaf(
              raw, format: format, entryAddress: table &+ UInt64(index &* 8),
              virtualAddress: base | UInt64(index) << shift, inherited: inherited, body)
            {
              return false
            }
          }
        } else {
          for index in 0..<count {
            let raw = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self))
            if raw & 1 == 0 { continue }
            if !visit(
              raw, format: format, entryAddress: table &+ UInt64(index &* 8),
              virtualAddress: base | UInt64(index) << shift, inherited: inherited, path: path, body)
            {
              return false
            }
          }
        }
      } else {
        for index in 0..<count {
          let raw = UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index &* 4, as: UInt32.self)))
          if raw & 1 == 0 { continue }
          if !visit(
            raw, format: format, entryAddress: table &+ UInt64(index &* 4),
            virtualAddress: base | UInt64(index) << shift, inherited: inherited, path: path, body)
          {
            return false
          }
        }
      }
      return true
    }

    // No in-place page: entry by entry, stopping at the first one memory does not have.
    let width = UInt64(format.entryWidth)
    for index in 0..<count {
      let address = table &+ UInt64(index) &* width
      let loaded: UInt64? = width == 8 ? memory.load64(address) : memory.load32(address).map { UInt64($0) }
      guard let raw = loaded else {
        note(
          .tableOutsideMemory(
            level: level, tableAddress: table, entryAddress: entryAddress,
            virtualAddress: canonical(base)))
        return true
      }
      if raw & 1 == 0 { continue }
      if !visit(
        raw, format: format, entryAddress: address, virtualAddress: base | UInt64(index) << shift,
        inherited: inherited, path: path, body)
      {
        return false
      }
    }
    return true
  }

  /// A present entry: a leaf, or a table to descend into.
  @inlinable
  mutating func visit(
    _ raw: UInt64, format: EntryFormat, entryAddress: UInt64, virtualAddress: UInt64,
    inherited: InheritedRights, path: TablePath, _ body: (Leaf) -> Void
  ) -> Bool {
    if format.isPage(raw) {
      return emitLeaf(
        raw, format: format, entryAddress: entryAddress, virtualAddress: virtualAddress,
        inherited: inherited, body)
    }
    return visitTableEntry(
      raw, format: format, entryAddress: entryAddress, virtualAddress: virtualAddress,
      inherited: inherited, path: path, body)
  }

  @inlinable
  mutating func visitTableEntry(
    _ raw: UInt64, format: EntryFormat, entryAddress: UInt64, virtualAddress: UInt64,
    inherited: InheritedRights, path: TablePath, _ body: (Leaf) -> Void
  ) -> Bool {
    guard let lower = format.level.lower else { return true }
    var rights = inherited
    let reserved = raw & format.reservedIfTable
    if reserved != 0 {
      note(
        .reservedBits(
          level: format.level, entryAddress: entryAddress, bits: reserved,
          virtualAddress: canonical(virtualAddress)))
      rights.reservedBits |= reserved
    }
    if format.hasAccessRights {
      rights.user = rights.user && raw & 4 != 0
      rights.writable = rights.writable && raw & 2 != 0
      rights.executeDisable = rights.executeDisable || raw >> 63 != 0
    }
    let child = format.tableAddress(raw)
    var path = path
    let first = reachedAnywhere.insert(child).inserted
    let va = canonical(virtualAddress)
    if path.contains(child) {
      if reported.insert(child).inserted {
        note(
          .ancestorReference(level: format.level, entryAddress: entryAddress, tableAddress: child, virtualAddress: va))
      }
      path.throughSelfMap = true
    } else if !path.throughSelfMap, !reached.insert(child).inserted, reported.insert(child).inserted {
      // Reached twice outside any self-map (under one, every table is reached again by design).
      summary.sharedTables += 1
      note(.sharedTable(level: format.level, entryAddress: entryAddress, tableAddress: child, virtualAddress: va))
    }
    if !first {
      summary.repeatedTableReferences += 1
      // Its leaves are listed again at this path's addresses, but a subtree without one is not rescanned.
      if leafCount(child, level: lower) == 0 { return true }
    }
    return scanTable(
      child, level: lower, base: virtualAddress, inherited: rights, path: path,
      referencedBy: entryAddress, body)
  }

  @inlinable
  mutating func emitLeaf(
    _ raw: UInt64, format: EntryFormat, entryAddress: UInt64, virtualAddress: UInt64,
    inherited: InheritedRights, _ body: (Leaf) -> Void
  ) -> Bool {
    guard summary.leafCount < limit else {
      summary.truncation = .leafLimit
      return false
    }
    summary.leafCount += 1
    let reserved = inherited.reservedBits | (raw & format.reservedIfPage)
    if reserved != 0 { summary.leavesWithReservedBits += 1 }
    let executeDisable = inherited.executeDisable || raw >> 63 != 0
    body(
      Leaf(
        virtualAddress: canonical(virtualAddress),
        physicalAddress: format.pageFrame(raw),
        pageSize: format.pageSize,
        level: format.level,
        entry: PagingEntry(rawValue: raw),
        entryAddress: entryAddress,
        user: inherited.user && raw & 4 != 0,
        writable: inherited.writable && raw & 2 != 0,
        executable: !(executeDisable && executeDisableActive),
        reservedBits: reserved))
    return true
  }
}
