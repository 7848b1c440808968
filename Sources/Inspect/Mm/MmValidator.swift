import GuestABI
import Machine
import X86Paging

/// Checks the invariants of the guest's memory manager (`MmRule`) over a decoded
/// `MmState` and the page tables of the kernel's PML4 and every process's.
///
/// Accounting, as the host judges it:
/// - An *accounted* PTE is a valid 4 KiB leaf outside the debug windows and outside
///   the self-map slot's 512 GiB (the self-map is exempt whether or not the guest lists
///   it). Each physical PTE counts once, however many PML4s reach it (the kernel half is
///   shared); it is attributed to the first address space that reaches it, the
///   kernel's first, then processes in slot order.
/// - A page that is not a page table has share count = accounted PTEs mapping it,
///   whatever its usage: general and kernel-image pages are normally mapped once; pages
///   of the PFN database, loader-reserved pages and window backing are normally reached
///   only through windows (the direct map), so 0, unless the guest maps them with
///   accounted PTEs, which then count.
/// - A page with usage `pageTable` has share count = its live entries: every nonzero
///   entry, valid or a software PTE (a transition or demand-zero PTE keeps its table
///   alive as a valid one does), the self-map entry and a process PML4's copies of the
///   kernel half included. A paging structure's PTE address is the self-map address of
///   the entry that references it and its PTE frame that entry's table (a PML4: its own
///   self-map entry, and itself); each table is judged from the first PML4 that reaches
///   it, the kernel's first.
/// - A page mapped by an accounted PTE is ActiveAndValid, and unless it has the
///   prototype flag (its PTE address then names a prototype PTE: `MmRule.prototypeBackPointer`)
///   its PTE address is the PTE's self-map address and its PTE frame the PFN of the page
///   table holding the PTE.
/// - Holes (usage `hole`) are exempt from the list rules but must be on no list and
///   mapped by no accounted PTE.
///
/// Sections (`MmValidator+Sections.swift`, `+Views.swift`): every in-use control area's
/// record and segment are checked before anything is read through them; every prototype
/// PTE has a form its section allows, and a valid or transition one names a page whose
/// record points back at it (and every prototype-flagged page in memory is so named);
/// every view's valid PTE maps the PFN its prototype PTE names (or, in a write-copy view,
/// a private page); the control area's counts are what the host finds; and with disk 0's
/// FAT volume, every clean file page in memory equals the file's bytes. Share counts of
/// section pages are the general rule's: accounted PTEs over every address space.
///
/// One corruption can break more than one invariant (a wrong free-list total breaks
/// both `listTotal` and `availablePages`); each broken invariant is reported once, and
/// checks that would only repeat a reported finding are skipped (a walk that stopped at
/// a cycle does not also compare its length; a page mapped while free is not also
/// reported for its share count).
///
/// The work is bounded whatever the guest wrote: list walks mark each PFN at most
/// once, each paging structure is scanned once, and the leaf enumeration has a global
/// leaf and table budget.
///
/// Speed (a 1 GiB guest is 262,144 records, 12 MiB of database): no per-page
/// allocation, flat per-PFN arrays, records read in place. Sound lists are walked all
/// at once and from both ends (the misses overlap); the leaves only count per PFN,
/// and one sequential pass over the database checks each record against the PTE it
/// names; zeroed pages are read eight at a time. What remains is memory bandwidth
/// for zeroed-page content (about 5 ms per 80 MiB here): `ZeroCheck.dirtyPages`
/// limits it to pages written since they were last verified.
public struct MmValidator {
  /// Which zeroed-list pages to read back (reading is what costs: 4 KiB per page).
  public enum ZeroCheck: Sendable {
    /// Every page on the zeroed list.
    case everyPage
    /// Only pages whose bit is set in `bitmap` (bit `pfn % 64` of word `pfn / 64`, as
    /// KVM's dirty log has them): the others were verified zero before and not written
    /// since. PFNs past the bitmap are read.
    case dirtyPages(bitmap: [UInt64])
    /// None.
    case none
  }

  public var state: MmState
  /// MAXPHYADDR for reading entries (reserved bits, address fields). 52 is the
  /// architectural maximum and never flags an address bit as reserved.
  public var maxPhysicalAddressBits: Int
  /// Violations kept in the report; all are counted.
  public var violationLimit: Int
  /// Leaves delivered by all walks together before a walk is cut short.
  public var leafBudget: Int
  /// Paging structures scanned by all walks together before a walk is cut short.
  public var tableBudget: Int
  public var zeroCheck: ZeroCheck
  /// The FAT volume of disk 0, for `MmRule.cleanFilePage`; without it that rule is skipped.
  public var volume: FatImage?

  public init(
    state: MmState, maxPhysicalAddressBits: Int = 52, violationLimit: Int = 10_000, leafBudget: Int = 1 << 24,
    tableBudget: Int = 1 << 19, zeroCheck: ZeroCheck = .everyPage, volume: FatImage? = nil
  ) {
    self.volume = volume
    self.state = state
    self.maxPhysicalAddressBits = maxPhysicalAddressBits
    self.violationLimit = violationLimit
    self.leafBudget = leafBudget
    self.tableBudget = tableBudget
    self.zeroCheck = zeroCheck
  }

  /// Runs every check and returns the violations in a deterministic order.
  public func validate() -> MmValidationReport {
    let clock = ContinuousClock()
    let start = clock.now
    var run = ValidationRun(validator: self)
    defer { run.deallocate() }
    run.checkLists()
    let listsDone = clock.now
    run.checkWindows()
    run.checkAddressSpaces()
    let tablesDone = clock.now
    run.checkFrames()
    run.checkAvailable()
    let framesDone = clock.now
    run.checkSections()
    let end = clock.now
    var report = run.report()
    report.timings = MmValidationTimings(
      lists: listsDone - start, pageTables: tablesDone - listsDone, frames: framesDone - tablesDone, total: end - start)
    report.timings.sections = end - framesDone
    return report
  }
}

let noPage = PageFrameRecord.noPage
/// `onList` marks a page found by a backward walk of a list with this bit besides the list.
let backwardMark: UInt8 = 0x10
let recordSize = PageFrameRecord.size
/// The frame address of a 4 KiB PTE (bits 51:12; MAXPHYADDR is judged by the walk).
let pageFrameMask: UInt64 = 0x000F_FFFF_FFFF_F000

/// How leaves are checked. The hot path never reads the mapped page's record per leaf
/// (a cache miss per leaf): it counts accounted leaves per PFN, and the sequential frame
/// pass checks each record against the PTE the record names. Only pages that fail that
/// (or are mapped while not ActiveAndValid, or privately more than once) have their
/// leaves looked at one by one, in a second enumeration that runs only if there are any.
enum LeafPass {
  case count
  case detail
}

/// Per-PFN flags.
enum FrameFlag {
  /// A page table some of whose leaves were counted (each physical PTE counts once).
  static let leavesCounted: UInt8 = 1 << 0
  /// A page whose leaves must be checked one by one.
  static let needsDetail: UInt8 = 1 << 1
  /// `mapsInactiveFrame` was reported for the page.
  static let inactiveReported: UInt8 = 1 << 2
  /// `leavesCounted`, for the second enumeration.
  static let leavesSeenAgain: UInt8 = 1 << 3
  /// Some accounted PTE mapping the page has its dirty bit set.
  static let mappedDirty: UInt8 = 1 << 4
}

/// The state of one validation: flat per-PFN arrays, no per-page allocation. A struct
/// (not a class) so that its hot fields are plain memory, with no dynamic exclusivity
/// checks; `deallocate` frees the arrays.
struct ValidationRun {
  let state: MmState
  let memory: GuestPhysicalMemory
  let maxPhysicalAddressBits: Int
  let selfMap: SelfMap
  let zeroCheck: MmValidator.ZeroCheck
  let volume: FatImage?
  /// PFN records in place.
  let database: UnsafeRawPointer
  let pfnCount: Int

  /// List index + 1 of the list a PFN was found on; 0 = none.
  let onList: UnsafeMutablePointer<UInt8>
  /// `PagingLevel` raw value a PFN was used at as a paging structure; 0 = none.
  let tableLevel: UnsafeMutablePointer<UInt8>
  /// First virtual address covered by each paging structure: written when `tableLevel`
  /// is, read only where it is set (so never initialised as a whole).
  let tableVA: UnsafeMutablePointer<UInt64>
  /// `FrameFlag`s.
  let flags: UnsafeMutablePointer<UInt8>
  /// Accounted leaves mapping each PFN.
  let mapped: UnsafeMutablePointer<UInt32>
  var accountedLeaves = 0
  /// Some page's leaves must be looked at one by one.
  var needsDetail = false
  /// The address spaces enumerated, with the budgets they had (the second enumeration
  /// must see the same leaves), and the kernel PML4's entries.
  var spaces: [(root: UInt64, process: UInt32?, leafLimit: Int, tableLimit: Int)] = []
  var kernelSlots: [UInt64]?

  var windowStarts: [UInt64] = []
  var windowLengths: [UInt64] = []

  /// Where violations go: a reference, so that reporting (with a message formatted from
  /// `self`) needs no exclusive access to the run.
  let sink: ViolationSink
  var pagesWalked = [UInt64](repeating: 0, count: PageLocation.listCount)
  var rootsWalked = 0
  var tablesFound = 0
  var leafBudget: Int
  var tableBudget: Int
  /// Entry addresses already reported (large pages, reserved bits), so that an entry
  /// reached twice (a table referenced from two places) is reported once.
  var reportedEntries = Set<UInt64>()

  /// The leaf run being enumerated: the table holding it and the last entry seen.
  var runTable: UInt64 = .max
  var runLastEntry: UInt64 = 0
  var runCounts = false

  init(validator: MmValidator) {
    state = validator.state
    memory = state.memory
    sink = ViolationSink(limit: validator.violationLimit)
    maxPhysicalAddressBits = validator.maxPhysicalAddressBits
    selfMap = state.selfMap
    zeroCheck = validator.zeroCheck
    volume = validator.volume
    database = state.pfnDatabase.baseAddress!  // pfnCount > 0: never empty
    pfnCount = Int(state.pfnCount)
    onList = .allocate(capacity: pfnCount)
    onList.initialize(repeating: 0, count: pfnCount)
    tableLevel = .allocate(capacity: pfnCount)
    tableLevel.initialize(repeating: 0, count: pfnCount)
    tableVA = .allocate(capacity: pfnCount)
    flags = .allocate(capacity: pfnCount)
    flags.initialize(repeating: 0, count: pfnCount)
    mapped = .allocate(capacity: pfnCount)
    mapped.initialize(repeating: 0, count: pfnCount)
    leafBudget = max(0, validator.leafBudget)
    tableBudget = max(0, validator.tableBudget)
  }

  func deallocate() {
    onList.deallocate()
    tableLevel.deallocate()
    tableVA.deallocate()
    flags.deallocate()
    mapped.deallocate()
  }

  // MARK: Records

  @inline(__always) func u8(_ pfn: Int, _ offset: Int) -> UInt8 {
    database.load(fromByteOffset: pfn &* recordSize &+ offset, as: UInt8.self)
  }

  @inline(__always) func u32(_ pfn: Int, _ offset: Int) -> UInt32 {
    UInt32(littleEndian: database.loadUnaligned(fromByteOffset: pfn &* recordSize &+ offset, as: UInt32.self))
  }

  @inline(__always) func u64(_ pfn: Int, _ offset: Int) -> UInt64 {
    UInt64(littleEndian: database.loadUnaligned(fromByteOffset: pfn &* recordSize &+ offset, as: UInt64.self))
  }

  // MARK: Reporting

  func report(
    _ rule: MmRule, pfn: UInt64? = nil, va: UInt64? = nil, process: UInt32? = nil, _ message: @autoclosure () -> String
  ) {
    sink.report(rule, pfn: pfn, va: va, process: process, message)
  }

  func report() -> MmValidationReport {
    let sorted = sink.violations.enumerated().sorted { a, b in
      let (x, y) = (a.element, b.element)
      if x.rule != y.rule { return x.rule.order < y.rule.order }
      if x.pfn != y.pfn { return (x.pfn ?? .max) < (y.pfn ?? .max) }
      if x.virtualAddress != y.virtualAddress { return (x.virtualAddress ?? .max) < (y.virtualAddress ?? .max) }
      if x.processID != y.processID { return (x.processID ?? 0) < (y.processID ?? 0) }
      return a.offset < b.offset
    }.map(\.element)
    var counts: [MmRule: Int] = [:]
    for rule in MmRule.allCases where sink.countsByRule[rule.order] > 0 { counts[rule] = sink.countsByRule[rule.order] }
    return MmValidationReport(
      violations: sorted, violationCount: sink.count, countsByRule: counts, pagesWalked: pagesWalked,
      rootsWalked: rootsWalked, tablesFound: tablesFound, accountedLeaves: accountedLeaves)
  }

  func locationName(_ raw: UInt8) -> String { PageLocation(rawValue: raw)?.reportName ?? "unknown location \(raw)" }
  func usageName(_ raw: UInt8) -> String { PageUsage(rawValue: raw).map { "\($0)" } ?? "unknown usage \(raw)" }
  func listName(_ index: Int) -> String { PageLocation(rawValue: UInt8(index))?.reportName ?? "?" }
  func pfnName(_ value: UInt32) -> String { value == noPage ? "none" : "PFN \(hex(UInt64(value)))" }

  func canonical(_ va: UInt64) -> UInt64 { UInt64(bitPattern: Int64(bitPattern: va << 16) >> 16) }
  func isCanonical(_ va: UInt64) -> Bool { canonical(va) == va }
}
