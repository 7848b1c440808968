// The not-present entries of a guest's paging structures, decoded in Mm's software
// formats (GuestABI `SoftwarePTE`).
//
// The processor looks only at P in a not-present entry; the memory manager keeps its own
// state in the other 63 bits: a transition page's PFN, a prototype PTE's address, a page
// file and offset, or just a protection (demand zero). X86Paging enumerates what the
// hardware uses; this walks the same tables from CR3 and reports every not-present,
// nonzero entry at every level. All-zero entries (most of any table) are only counted per
// level: they say "nothing committed here, ask the VAD".
//
// The tables are hostile input. The work is bounded by an entry limit and a table limit;
// a table outside memory is reported and the walk goes on; an entry that references a
// table already on the current path (the self-map slot does: the PML4 points at itself)
// is reported and not followed. Following it would only rescan the same tables one level
// lower and report each of their entries a second time under a self-map address. A table
// already scanned from another entry (two entries sharing it) is reported once and not
// scanned again either, so the work is bounded by the tables in memory, not by the paths
// through them.
//
// The software formats are x86-64's, so only 4- and 5-level paging is decoded.

import GuestABI
import X86Paging

/// The software format of an entry, as `SoftwarePTE(raw:)` classifies it.
public enum SoftwareEntryKind: String, Sendable, Hashable, CaseIterable {
  case prototype
  case transition
  case pageFile
  case demandZero
  /// All zero (counted, never listed by the enumerator).
  case zero
  /// P = 1 (never listed by the enumerator).
  case valid

  /// The kind of `pte`.
  public init(_ pte: SoftwarePTE) {
    switch pte {
    case .valid: self = .valid
    case .prototype: self = .prototype
    case .transition: self = .transition
    case .pageFile: self = .pageFile
    case .demandZero: self = .demandZero
    case .zero: self = .zero
    }
  }
}

/// The name of an NT protection code: the access ("readWrite", "executeRead", ...), then
/// "+noCache", "+guard" or "+writeCombine" for bits 3-4. Bits above the 5-bit code are
/// appended in hex (a decoded entry never has them).
public func pageProtectionName(_ code: UInt8) -> String {
  var writer = SoftwareEntryTextWriter()
  writer.appendProtection(code)
  return writer.string
}

/// What a software PTE says, in words: "transition PFN 0x1234, readWrite",
/// "prototype PTE at 0x…, readOnly", "prototype via VAD, …", "page file 2 offset 0x…, …",
/// "demand zero, …", "zero (not committed here: ask the VAD)".
public func softwarePTEDescription(_ pte: SoftwarePTE) -> String {
  var writer = SoftwareEntryTextWriter()
  writer.appendDescription(pte)
  return writer.string
}

/// Text for software entries, written as UTF-8 into one growing buffer: a dump of a
/// million entries allocates per buffer growth, not per line.
struct SoftwareEntryTextWriter {
  var bytes: [UInt8] = []

  init(reservingCapacity capacity: Int = 0) { bytes.reserveCapacity(capacity) }

  var string: String { String(decoding: bytes, as: UTF8.self) }

  mutating func append(_ text: StaticString) {
    text.withUTF8Buffer { bytes.append(contentsOf: $0) }
  }

  mutating func append(_ byte: UInt8) { bytes.append(byte) }

  /// Lowercase hex, zero-padded to `digits` (at least one digit), with "0x" if `prefixed`.
  mutating func appendHex(_ value: UInt64, digits: Int = 1, prefixed: Bool = true) {
    if prefixed { append("0x") }
    let significant = max((64 - value.leadingZeroBitCount + 3) / 4, 1)
    var shift = max(significant, digits) * 4
    while shift > 0 {
      shift -= 4
      let nibble = UInt8(truncatingIfNeeded: value >> UInt64(shift)) & 0xF
      bytes.append(nibble < 10 ? 0x30 + nibble : 0x57 + nibble)
    }
  }

  mutating func appendDecimal(_ value: UInt8) {
    if value >= 100 { bytes.append(0x30 + value / 100) }
    if value >= 10 { bytes.append(0x30 + value / 10 % 10) }
    bytes.append(0x30 + value % 10)
  }

  mutating func appendProtection(_ code: UInt8) {
    switch code & 7 {
    case PageProtection.noAccess: append("noAccess")
    case PageProtection.readOnly: append("readOnly")
    case PageProtection.execute: append("execute")
    case PageProtection.executeRead: append("executeRead")
    case PageProtection.readWrite: append("readWrite")
    case PageProtection.writeCopy: append("writeCopy")
    case PageProtection.executeReadWrite: append("executeReadWrite")
    default: append("executeWriteCopy")
    }
    switch code & PageProtection.writeCombine {
    case PageProtection.noCache: append("+noCache")
    case PageProtection.guardPage: append("+guard")
    case PageProtection.writeCombine: append("+writeCombine")
    default: break
    }
    if code > 0x1F {
      append("+")
      appendHex(UInt64(code & ~0x1F))
    }
  }

  mutating func appendDescription(_ pte: SoftwarePTE) {
    switch pte {
    case .valid(let raw):
      append("valid ")
      appendHex(raw)
    case .zero:
      append("zero (not committed here: ask the VAD)")
    case .prototype(let address, let protection, let viaVAD):
      if viaVAD {
        append("prototype via VAD, ")
      } else {
        append("prototype PTE at ")
        appendHex(address)
        append(", ")
      }
      appendProtection(protection)
    case .transition(let pfn, let protection):
      append("transition PFN ")
      appendHex(pfn)
      append(", ")
      appendProtection(protection)
    case .pageFile(let file, let offset, let protection):
      append("page file ")
      appendDecimal(file)
      append(" offset ")
      appendHex(offset)
      append(", ")
      appendProtection(protection)
    case .demandZero(let protection):
      append("demand zero, ")
      appendProtection(protection)
    }
  }

  /// "VA level entry-address raw decoding[ (other bits 0x…)]\n", addresses in 16 digits
  /// without prefix (the columns of `PageTableDump.text`).
  mutating func appendLine(_ entry: SoftwareEntry) {
    appendHex(entry.virtualAddress, digits: 16, prefixed: false)
    append(" ")
    switch entry.level {
    case .pageTable: append("PT   ")
    case .pageDirectory: append("PD   ")
    case .pageDirectoryPointerTable: append("PDPT ")
    case .pml4: append("PML4 ")
    case .pml5: append("PML5 ")
    }
    append(" ")
    appendHex(entry.entryAddress, digits: 16, prefixed: false)
    append(" ")
    appendHex(entry.raw, digits: 16, prefixed: false)
    append(" ")
    let pte = entry.pte
    appendDescription(pte)
    let other = entry.raw ^ pte.raw
    if other != 0 {
      append(" (other bits ")
      appendHex(other)
      append(")")
    }
    append("\n")
  }
}

/// One not-present entry with a nonzero value, found from CR3.
public struct SoftwareEntry: Sendable, Hashable, CustomStringConvertible {
  /// The first linear address the entry covers, canonical.
  public var virtualAddress: UInt64
  /// The level of the table holding the entry.
  public var level: PagingLevel
  /// Physical address of the entry.
  public var entryAddress: UInt64
  /// The entry as read (P = 0, nonzero).
  public var raw: UInt64

  @inlinable
  public init(virtualAddress: UInt64, level: PagingLevel, entryAddress: UInt64, raw: UInt64) {
    self.virtualAddress = virtualAddress
    self.level = level
    self.entryAddress = entryAddress
    self.raw = raw
  }

  /// The entry decoded in the order the fault handler dispatches.
  public var pte: SoftwarePTE { SoftwarePTE(raw: raw) }

  public var kind: SoftwareEntryKind { SoftwareEntryKind(pte) }

  /// The 5-bit protection code the entry carries (every software format has one).
  public var protection: UInt8 {
    switch pte {
    case .valid, .zero: 0  // not reached: P = 0 and raw != 0
    case .prototype(_, let protection, _), .transition(_, let protection), .pageFile(_, _, let protection),
      .demandZero(let protection):
      protection
    }
  }

  /// Bits of `raw` the decoded format does not hold (re-encoding drops them), e.g. a page-file
  /// number with offset 0, or bits 48-63 of a transition entry. 0 for a well-formed entry.
  public var otherBits: UInt64 { raw ^ pte.raw }

  /// "VA (level entry at address): raw decoding".
  public var description: String {
    var text = "\(hex(virtualAddress)) (\(level.entryName) at \(hex(entryAddress))): \(hex(raw)) "
    text += softwarePTEDescription(pte)
    let other = otherBits
    if other != 0 { text += " (other bits \(hex(other)))" }
    return text
  }
}

/// A count per paging level, without allocation.
public struct PagingLevelCounts: Sendable, Hashable {
  public var pageTable = 0
  public var pageDirectory = 0
  public var pageDirectoryPointerTable = 0
  public var pml4 = 0
  public var pml5 = 0

  public init() {}

  public subscript(level: PagingLevel) -> Int {
    get {
      switch level {
      case .pageTable: pageTable
      case .pageDirectory: pageDirectory
      case .pageDirectoryPointerTable: pageDirectoryPointerTable
      case .pml4: pml4
      case .pml5: pml5
      }
    }
    set {
      switch level {
      case .pageTable: pageTable = newValue
      case .pageDirectory: pageDirectory = newValue
      case .pageDirectoryPointerTable: pageDirectoryPointerTable = newValue
      case .pml4: pml4 = newValue
      case .pml5: pml5 = newValue
      }
    }
  }

  public var total: Int { pageTable + pageDirectory + pageDirectoryPointerTable + pml4 + pml5 }
}

/// What `forEachSoftwareEntry` did.
public struct SoftwareEntrySummary: Sendable, Hashable, CustomStringConvertible {
  /// Why the enumeration stopped early.
  public enum Truncation: Sendable, Hashable {
    /// `limit` entries were delivered and at least one more existed.
    case entryLimit
    /// `tableLimit` tables were scanned and at least one more was referenced.
    case tableLimit
  }

  public var mode: PagingMode
  /// The mode has the x86-64 software formats (4- or 5-level paging). Otherwise nothing
  /// was scanned.
  public var isSupported: Bool
  /// Entries delivered to the body.
  public var entryCount = 0
  /// Delivered entries per kind (prototype, transition, page file, demand zero).
  public var prototypeCount = 0
  public var transitionCount = 0
  public var pageFileCount = 0
  public var demandZeroCount = 0
  /// Delivered entries with bits their format does not hold (`SoftwareEntry.otherBits`).
  public var entriesWithOtherBits = 0
  /// All-zero entries per level of the scanned tables ("not committed here: ask the VAD").
  public var zeroEntries = PagingLevelCounts()
  /// Tables scanned (each once).
  public var tableCount = 0
  /// Entries referencing a table on their own path (self-map slots), not followed.
  public var ancestorReferences = 0
  /// Entries referencing a table already scanned from another entry, not followed; each
  /// such table is reported once (`.sharedTable`).
  public var sharedTableReferences = 0
  public var truncation: Truncation? = nil
  /// The first `EnumerationSummary.maxRecordedProblems` problems: tables outside memory
  /// and ancestor references.
  public var problems: [EnumerationProblem] = []
  /// All problems found, including those not kept.
  public var problemCount = 0

  public init(mode: PagingMode) {
    self.mode = mode
    self.isSupported = mode.isIA32e
  }

  public var isTruncated: Bool { truncation != nil }

  /// Delivered entries of `kind` (0 for `zero` and `valid`, which are never delivered).
  public func count(of kind: SoftwareEntryKind) -> Int {
    switch kind {
    case .prototype: prototypeCount
    case .transition: transitionCount
    case .pageFile: pageFileCount
    case .demandZero: demandZeroCount
    case .zero, .valid: 0
    }
  }

  /// The levels of `mode`, top first (none when unsupported).
  public var levels: [PagingLevel] { isSupported ? mode.levels : [] }

  public var description: String {
    guard isSupported else { return "\(mode): the software PTE formats are x86-64's; not decoded" }
    var text = "\(entryCount) not-present entries"
    let kinds = SoftwareEntryKind.allCases.compactMap { kind -> String? in
      let count = count(of: kind)
      return count > 0 ? "\(count) \(kind.rawValue)" : nil
    }
    if !kinds.isEmpty { text += " (" + kinds.joined(separator: ", ") + ")" }
    text += " in \(tableCount) tables"
    if entriesWithOtherBits > 0 { text += ", \(entriesWithOtherBits) with other bits set" }
    text += "; zero entries: " + levels.map { "\($0) \(zeroEntries[$0])" }.joined(separator: ", ")
    if ancestorReferences > 0 {
      text += "; \(ancestorReferences) self-reference\(ancestorReferences == 1 ? "" : "s") not followed"
    }
    if sharedTableReferences > 0 {
      text += "; \(sharedTableReferences) reference\(sharedTableReferences == 1 ? "" : "s") to tables already scanned"
    }
    let expected = ancestorReferences + problems.count { if case .sharedTable = $0 { true } else { false } }
    if problemCount > expected { text += "; \(problemCount - expected) problems" }
    switch truncation {
    case .entryLimit: text += " (truncated at the entry limit)"
    case .tableLimit: text += " (truncated at the table limit)"
    case nil: break
    }
    return text
  }
}

/// Calls `body` for every not-present entry with a nonzero value in the paging structures
/// reachable from CR3 (4- or 5-level paging), at every level, in ascending linear-address
/// order, and counts the all-zero entries per level. Present entries that map pages are
/// the hardware's (see `forEachLeaf`); present entries that reference a table are followed,
/// unless the table is already on the current path (reported as `.ancestorReference`, not
/// followed). Reserved bits are not checked here (`forEachLeaf` reports them).
///
/// - Parameters:
///   - limit: at most this many entries are delivered.
///   - tableLimit: at most this many tables are scanned.
public func forEachSoftwareEntry<Memory: PhysicalMemory>(
  context: PagingContext, memory: Memory, limit: Int = 1 << 22, tableLimit: Int = 1 << 18,
  body: (SoftwareEntry) -> Void
) -> SoftwareEntrySummary {
  var enumerator = SoftwareEntryEnumerator(context: context, memory: memory, limit: limit, tableLimit: tableLimit)
  if enumerator.summary.isSupported, let top = context.mode.topLevel {
    var path = AncestorPath()
    _ = enumerator.scanTable(
      context.rootTableAddress, level: top, base: 0, path: &path, referencedBy: nil, body)
  }
  return enumerator.summary
}

/// Every not-present, nonzero entry reachable from CR3, collected; see `forEachSoftwareEntry`.
public struct SoftwareEntryDump: Sendable {
  public var entries: [SoftwareEntry]
  public var summary: SoftwareEntrySummary

  public init(
    context: PagingContext, memory: some PhysicalMemory, limit: Int = 1 << 22, tableLimit: Int = 1 << 18
  ) {
    var entries: [SoftwareEntry] = []
    summary = forEachSoftwareEntry(context: context, memory: memory, limit: limit, tableLimit: tableLimit) {
      entries.append($0)
    }
    self.entries = entries
  }
}

/// The tables on the current path, top first (at most five: 5-level paging).
struct AncestorPath {
  var tables: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
  var count = 0

  mutating func push(_ table: UInt64) {
    switch count {
    case 0: tables.0 = table
    case 1: tables.1 = table
    case 2: tables.2 = table
    case 3: tables.3 = table
    default: tables.4 = table
    }
    count += 1
  }

  mutating func pop() { count -= 1 }

  func contains(_ table: UInt64) -> Bool {
    (count > 0 && tables.0 == table) || (count > 1 && tables.1 == table) || (count > 2 && tables.2 == table)
      || (count > 3 && tables.3 == table) || (count > 4 && tables.4 == table)
  }
}

struct SoftwareEntryEnumerator<Memory: PhysicalMemory> {
  let context: PagingContext
  let memory: Memory
  let limit: Int
  let tableLimit: Int
  var summary: SoftwareEntrySummary
  /// Tables scanned, and those reported as shared.
  var scanned: Set<UInt64> = []
  var reportedShared: Set<UInt64> = []

  init(context: PagingContext, memory: Memory, limit: Int, tableLimit: Int) {
    self.context = context
    self.memory = memory
    self.limit = max(limit, 0)
    self.tableLimit = max(tableLimit, 0)
    self.summary = SoftwareEntrySummary(mode: context.mode)
  }

  mutating func note(_ problem: EnumerationProblem) {
    summary.problemCount += 1
    if summary.problems.count < EnumerationSummary.maxRecordedProblems { summary.problems.append(problem) }
  }

  /// Scans one table of `level` at `table`. Returns false to stop the whole enumeration.
  mutating func scanTable(
    _ table: UInt64, level: PagingLevel, base: UInt64, path: inout AncestorPath, referencedBy entryAddress: UInt64?,
    _ body: (SoftwareEntry) -> Void
  ) -> Bool {
    guard summary.tableCount < tableLimit else {
      summary.truncation = .tableLimit
      return false
    }
    summary.tableCount += 1
    scanned.insert(table)
    let format = context.entryFormat(at: level)
    let shift = UInt64(format.indexShift)
    let count = format.entryCount  // 512: IA-32e only
    path.push(table)
    defer { path.pop() }
    var zeros = 0
    defer { summary.zeroEntries[level] += zeros }

    if let page = memory.tablePage(table), page.count >= 4096, let bytes = page.baseAddress {
      for index in 0..<count {
        let raw = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self))
        if raw == 0 {
          zeros &+= 1
          continue
        }
        if !visit(
          raw, format: format, entryAddress: table &+ UInt64(index &* 8), virtualAddress: base | UInt64(index) << shift,
          path: &path, body)
        {
          return false
        }
      }
      return true
    }

    // No in-place page: entry by entry, stopping at the first one memory does not have.
    for index in 0..<count {
      let address = table &+ UInt64(index &* 8)
      guard let raw = memory.load64(address) else {
        note(
          .tableOutsideMemory(
            level: level, tableAddress: table, entryAddress: entryAddress,
            virtualAddress: context.mode.canonicalize(base)))
        return true
      }
      if raw == 0 {
        zeros &+= 1
        continue
      }
      if !visit(
        raw, format: format, entryAddress: address, virtualAddress: base | UInt64(index) << shift, path: &path, body)
      {
        return false
      }
    }
    return true
  }

  /// A nonzero entry: delivered if not present; followed if it references a table.
  mutating func visit(
    _ raw: UInt64, format: EntryFormat, entryAddress: UInt64, virtualAddress: UInt64, path: inout AncestorPath,
    _ body: (SoftwareEntry) -> Void
  ) -> Bool {
    if raw & 1 == 0 {
      guard summary.entryCount < limit else {
        summary.truncation = .entryLimit
        return false
      }
      let entry = SoftwareEntry(
        virtualAddress: context.mode.canonicalize(virtualAddress), level: format.level, entryAddress: entryAddress,
        raw: raw)
      let pte = SoftwarePTE(raw: raw)
      switch pte {
      case .prototype: summary.prototypeCount += 1
      case .transition: summary.transitionCount += 1
      case .pageFile: summary.pageFileCount += 1
      case .demandZero: summary.demandZeroCount += 1
      case .valid, .zero: break  // not reached: P = 0, raw != 0
      }
      if pte.raw != raw { summary.entriesWithOtherBits += 1 }
      summary.entryCount += 1
      body(entry)
      return true
    }
    if format.isPage(raw) { return true }  // the hardware's: forEachLeaf reports it
    guard let lower = format.level.lower else { return true }
    let child = format.tableAddress(raw)
    if path.contains(child) {
      summary.ancestorReferences += 1
      note(
        .ancestorReference(
          level: format.level, entryAddress: entryAddress, tableAddress: child,
          virtualAddress: context.mode.canonicalize(virtualAddress)))
      return true
    }
    if scanned.contains(child) {
      summary.sharedTableReferences += 1
      if reportedShared.insert(child).inserted {
        note(
          .sharedTable(
            level: format.level, entryAddress: entryAddress, tableAddress: child,
            virtualAddress: context.mode.canonicalize(virtualAddress)))
      }
      return true
    }
    return scanTable(child, level: lower, base: virtualAddress, path: &path, referencedBy: entryAddress, body)
  }
}
