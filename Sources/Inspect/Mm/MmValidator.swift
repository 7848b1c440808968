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
///   prototype flag (its PTE address then names a prototype PTE, checked with sections)
///   its PTE address is the PTE's self-map address and its PTE frame the PFN of the page
///   table holding the PTE.
/// - Holes (usage `hole`) are exempt from the list rules but must be on no list and
///   mapped by no accounted PTE.
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

  public init(
    state: MmState, maxPhysicalAddressBits: Int = 52, violationLimit: Int = 10_000, leafBudget: Int = 1 << 24,
    tableBudget: Int = 1 << 19, zeroCheck: ZeroCheck = .everyPage
  ) {
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
    let end = clock.now
    var report = run.report()
    report.timings = MmValidationTimings(
      lists: listsDone - start, pageTables: tablesDone - listsDone, frames: end - tablesDone, total: end - start)
    return report
  }
}

private let noPage = PageFrameRecord.noPage
/// `onList` marks a page found by a backward walk of a list with this bit besides the list.
private let backwardMark: UInt8 = 0x10
private let recordSize = PageFrameRecord.size
/// The frame address of a 4 KiB PTE (bits 51:12; MAXPHYADDR is judged by the walk).
private let pageFrameMask: UInt64 = 0x000F_FFFF_FFFF_F000

/// How leaves are checked. The hot path never reads the mapped page's record per leaf
/// (a cache miss per leaf): it counts accounted leaves per PFN, and the sequential frame
/// pass checks each record against the PTE the record names. Only pages that fail that
/// (or are mapped while not ActiveAndValid, or privately more than once) have their
/// leaves looked at one by one, in a second enumeration that runs only if there are any.
private enum LeafPass {
  case count
  case detail
}

/// Per-PFN flags.
private enum FrameFlag {
  /// A page table some of whose leaves were counted (each physical PTE counts once).
  static let leavesCounted: UInt8 = 1 << 0
  /// A page whose leaves must be checked one by one.
  static let needsDetail: UInt8 = 1 << 1
  /// `mapsInactiveFrame` was reported for the page.
  static let inactiveReported: UInt8 = 1 << 2
  /// `leavesCounted`, for the second enumeration.
  static let leavesSeenAgain: UInt8 = 1 << 3
}

/// The state of one validation: flat per-PFN arrays, no per-page allocation. A struct
/// (not a class) so that its hot fields are plain memory, with no dynamic exclusivity
/// checks; `deallocate` frees the arrays.
private struct ValidationRun {
  let state: MmState
  let memory: GuestPhysicalMemory
  let maxPhysicalAddressBits: Int
  let selfMap: SelfMap
  let zeroCheck: MmValidator.ZeroCheck
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

  // MARK: Lists

  /// Walks the lists: first the fast way, which can only conclude that every list is
  /// sound; on any doubt, the careful way, which says what is wrong.
  mutating func checkLists() {
    if !walkSoundLists() {
      onList.update(repeating: 0, count: pfnCount)
      walkListsOneByOne()
    }
  }

  /// Walks all lists at once, each from both ends, so that the cache misses of up to
  /// twelve walks overlap instead of one walk waiting for each record in turn. Returns
  /// true, with every page marked, if every list is sound: links in range and symmetric,
  /// the walks from both ends meeting, no page reached twice or on another list, every
  /// page with its list's location, every total right. Returns false at the first doubt,
  /// having reported nothing.
  mutating func walkSoundLists() -> Bool {
    /// One list's two walks: forward from the head's first, backward from its last.
    struct Walk {
      var list: Int
      var marker: UInt8
      var forward: UInt32
      var backward: UInt32
      var count: UInt64
      var total: UInt64
      var done: Bool
    }
    var walks: [Walk] = []
    for head in state.listHeads {
      let list = Int(head.location.rawValue)
      if head.first == noPage {
        guard head.last == noPage, head.total == 0 else { return false }
        pagesWalked[list] = 0
        continue
      }
      let first = Int(head.first)
      let last = Int(head.last)
      guard first < pfnCount, last < pfnCount, onList[first] == 0, onList[last] == 0,
        u32(first, PageFrameRecord.previous) == noPage, u32(last, PageFrameRecord.next) == noPage,
        Int(u8(first, PageFrameRecord.location)) == list, Int(u8(last, PageFrameRecord.location)) == list
      else { return false }
      let marker = UInt8(list + 1)
      onList[first] = marker
      onList[last] = marker | backwardMark
      if first == last {
        guard head.total == 1 else { return false }
        pagesWalked[list] = 1
        continue
      }
      walks.append(
        Walk(
          list: list, marker: marker, forward: head.first, backward: head.last, count: 2, total: head.total,
          done: false))
    }
    var active = walks.count
    while active > 0 {
      for index in walks.indices where !walks[index].done {
        var walk = walks[index]
        // Forward one page.
        let next = u32(Int(walk.forward), PageFrameRecord.next)
        guard Int(next) < pfnCount else { return false }
        let nextMark = onList[Int(next)]
        if nextMark == 0 {
          guard u32(Int(next), PageFrameRecord.previous) == walk.forward,
            Int(u8(Int(next), PageFrameRecord.location)) == walk.list
          else { return false }
          onList[Int(next)] = walk.marker
          walk.count &+= 1
          walk.forward = next
          // Backward one page.
          let previous = u32(Int(walk.backward), PageFrameRecord.previous)
          guard Int(previous) < pfnCount else { return false }
          let previousMark = onList[Int(previous)]
          if previousMark == 0 {
            guard u32(Int(previous), PageFrameRecord.next) == walk.backward,
              Int(u8(Int(previous), PageFrameRecord.location)) == walk.list
            else { return false }
            onList[Int(previous)] = walk.marker | backwardMark
            walk.count &+= 1
            walk.backward = previous
          } else {
            // Met the forward walk at its newest page.
            guard previous == walk.forward, previousMark == walk.marker,
              u32(Int(previous), PageFrameRecord.next) == walk.backward
            else { return false }
            walk.done = true
          }
        } else {
          // Met the backward walk at its newest page.
          guard next == walk.backward, nextMark == walk.marker | backwardMark,
            u32(Int(next), PageFrameRecord.previous) == walk.forward
          else { return false }
          walk.done = true
        }
        if walk.done {
          guard walk.count == walk.total else { return false }
          pagesWalked[walk.list] = walk.count
          active -= 1
        }
        walks[index] = walk
      }
    }
    return true
  }

  /// Walks each list forward from its head, one after the other, saying what is wrong.
  mutating func walkListsOneByOne() {
    for head in state.listHeads {
      let list = Int(head.location.rawValue)
      let marker = UInt8(list + 1)
      let name = head.location.reportName
      if head.first == noPage {
        if head.last != noPage {
          report(
            .listLinks, pfn: UInt64(head.last),
            "the \(name) list's head has no first page but names \(pfnName(head.last)) as its last")
        }
        if head.total != 0 { report(.listTotal, "the \(name) list is empty but its total is \(head.total)") }
        continue
      }
      var walked: UInt64 = 0
      var previous = noPage
      var current = head.first
      var broken = false
      while current != noPage {
        // Only formatted when a violation is reported.
        var from: String { previous == noPage ? "its head" : pfnName(previous) }
        guard Int(current) < pfnCount else {
          report(
            .listLinks, pfn: UInt64(current),
            "\(from) on the \(name) list links to PFN \(hex(UInt64(current))), beyond the PFN database "
              + "(\(pfnCount) records)")
          broken = true
          break
        }
        let pfn = Int(current)
        let mark = onList[pfn]
        if mark == marker {
          report(
            .listCycle, pfn: UInt64(pfn),
            "the \(name) list comes back to PFN \(hex(UInt64(pfn))) from \(from) after \(walked) pages")
          broken = true
          break
        }
        if mark != 0 {
          report(
            .pageOnTwoLists, pfn: UInt64(pfn),
            "PFN \(hex(UInt64(pfn))), linked on the \(listName(Int(mark) - 1)) list, is linked on the \(name) "
              + "list too (from \(from))")
          broken = true
          break
        }
        onList[pfn] = marker
        walked &+= 1
        let back = u32(pfn, PageFrameRecord.previous)
        if back != previous {
          report(
            .listLinks, pfn: UInt64(pfn),
            "PFN \(hex(UInt64(pfn))) on the \(name) list has previous \(pfnName(back)), but the walk came from "
              + "\(from)")
        }
        checkLocation(pfn, list: list)
        previous = current
        current = u32(pfn, PageFrameRecord.next)
      }
      if broken {
        // The forward walk could not finish: mark the rest of the list from its tail, so
        // its pages are not also reported as lost.
        var tail = head.last
        while tail != noPage, Int(tail) < pfnCount, onList[Int(tail)] == 0 {
          onList[Int(tail)] = marker
          walked &+= 1
          checkLocation(Int(tail), list: list)
          tail = u32(Int(tail), PageFrameRecord.previous)
        }
      } else {
        if previous != head.last {
          report(
            .listLinks, pfn: UInt64(head.last),
            "the \(name) list's walk ends at \(pfnName(previous)) but its head names \(pfnName(head.last)) as "
              + "its last")
        }
        if walked != head.total {
          report(.listTotal, "the \(name) list links \(walked) pages but its total is \(head.total)")
        }
      }
      pagesWalked[list] = walked
    }
  }

  /// A page found on list `list` has that list's location.
  @inline(__always) mutating func checkLocation(_ pfn: Int, list: Int) {
    let location = u8(pfn, PageFrameRecord.location)
    guard Int(location) != list else { return }
    // A hole on a list is reported once, as such, by the frame pass (its location means
    // nothing); an unknown location once, as an invalid frame.
    if u8(pfn, PageFrameRecord.usage) == PageUsage.hole.rawValue || location > PageLocation.transition.rawValue {
      return
    }
    report(
      .listLocation, pfn: UInt64(pfn),
      "PFN \(hex(UInt64(pfn))) is linked on the \(listName(list)) list but its location is "
        + locationName(location))
  }

  /// Whether the zeroed-list page `pfn` is to be read back.
  @inline(__always) func wantsZeroCheck(_ pfn: Int) -> Bool {
    switch zeroCheck {
    case .everyPage: return true
    case .none: return false
    case .dirtyPages(let bitmap):
      let word = pfn >> 6
      return word >= bitmap.count || bitmap[word] & (1 << UInt64(pfn & 63)) != 0
    }
  }

  // MARK: Windows

  mutating func checkWindows() {
    for (index, window) in state.windows.enumerated() {
      var problem: String?
      if window.kind == nil {
        problem = "unknown kind \(window.rawKind)"
      } else if window.length == 0 {
        problem = "it is empty"
      } else if window.length - 1 > UInt64.max - window.start {
        problem = "it runs past the end of the address space"
      } else if !isCanonical(window.start) || !isCanonical(window.start + (window.length - 1))
        || (window.start ^ (window.start + (window.length - 1))) >> 63 != 0
      {
        problem = "it is not a canonical range of one half"
      }
      if let problem {
        report(
          .debugWindow, va: window.start,
          "debug window \(index) (\(window)): \(problem); its mappings are checked as accounted ones")
      } else {
        windowStarts.append(window.start)
        windowLengths.append(window.length)
      }
    }
  }

  @inline(__always) func isExempt(_ va: UInt64) -> Bool {
    if selfMap.contains(va) { return true }
    for index in windowStarts.indices where va &- windowStarts[index] < windowLengths[index] { return true }
    return false
  }

  // MARK: Address spaces

  mutating func checkAddressSpaces() {
    var context = PagingContext(mode: .fourLevel, cr3: 0, maxPhysicalAddressBits: maxPhysicalAddressBits)
    context.efer.insert(.noExecuteEnable)
    let formats = TableFormats(context: context)
    var seen: [UInt64: UInt32?] = [:]
    var roots: [(root: UInt64, process: UInt32?)] = [(state.kernelRoot, nil)]
    roots += state.processes.map { ($0.root, $0.id) }
    for (root, process) in roots {
      let owner = process.map { "process \($0)'s" } ?? "the kernel's"
      if let other = seen[root] {
        let first = other.map { "process \($0)'s" } ?? "the kernel's"
        report(
          .pageTableStructure, pfn: root >> 12, process: process, "\(owner) PML4 \(hex(root)) is also \(first)")
        continue
      }
      seen[root] = process
      guard root & 0xFFF == 0 else {
        report(
          .pageTableStructure, pfn: root >> 12, process: process, "\(owner) PML4 \(hex(root)) is not page-aligned")
        continue
      }
      guard memory.tablePage(root) != nil else {
        report(
          .pageTableStructure, pfn: root >> 12, process: process, "\(owner) PML4 \(hex(root)) is not in guest RAM")
        continue
      }
      rootsWalked += 1
      scanTable(
        root, level: .pml4, va: 0, process: process, referencedBy: selfMap.selfEntryAddress, in: root >> 12,
        formats: formats)
      if process == nil { kernelSlots = (0..<512).map { memory.load64(root + UInt64($0) * 8) ?? 0 } }
      spaces.append((root, process, leafBudget, tableBudget))
      walkLeaves(spaces[spaces.count - 1], pass: .count, context: context, formats: formats)
    }
  }

  /// The PML4 as the enumeration sees it: without its self-map slot (exempt, and a tour
  /// of every table again) and, for a process, without the slots it shares with the
  /// kernel's PML4 (their leaves were enumerated from the kernel's and count once).
  func overlay(root: UInt64, process: UInt32?) -> RootOverlay {
    let overlay = RootOverlay(memory: memory, root: root)
    overlay.clear(slot: Int(selfMap.slot))
    if process != nil, let kernel = kernelSlots {
      for slot in 0..<512 where kernel[slot] & 1 != 0 && overlay.entry(slot) == kernel[slot] {
        overlay.clear(slot: slot)
      }
    }
    return overlay
  }

  /// Marks the paging structures reachable from `table` (of `level`) and checks their
  /// structure; each table is scanned once, whichever PML4 reaches it first. Page tables
  /// are marked, not scanned: their leaves come from the enumeration.
  /// `entryAddress` is the self-map address of the entry referencing the table, in the
  /// table at PFN `parent`: what the table's record must name.
  mutating func scanTable(
    _ table: UInt64, level: PagingLevel, va: UInt64, process: UInt32?, referencedBy entryAddress: UInt64,
    in parent: UInt64, formats: TableFormats
  ) {
    let pfnValue = table >> 12
    var place: String { "the \(level) at \(hex(table)) (VA \(hex(va)))" }
    guard pfnValue < UInt64(pfnCount) else {
      report(
        .pageTableStructure, pfn: pfnValue, va: va, process: process,
        "\(place) is beyond the PFN database (\(pfnCount) pages)")
      return
    }
    let pfn = Int(pfnValue)
    let existing = tableLevel[pfn]
    if existing == UInt8(level.rawValue) { return }
    if existing != 0 {
      let other = PagingLevel(rawValue: Int(existing)).map { "\($0)" } ?? "?"
      report(.pageTableStructure, pfn: pfnValue, va: va, process: process, "\(place) is also used as a \(other)")
      return
    }
    guard let page = memory.tablePage(table), let bytes = page.baseAddress else {
      report(.pageTableStructure, pfn: pfnValue, va: va, process: process, "\(place) is not in guest RAM")
      return
    }
    tableLevel[pfn] = UInt8(level.rawValue)
    tableVA[pfn] = va
    tablesFound += 1
    // A page whose usage is wrong is reported once, by the frame pass.
    if u8(pfn, PageFrameRecord.usage) == PageUsage.pageTable.rawValue {
      let named = u64(pfn, PageFrameRecord.pteAddress)
      let frame = u32(pfn, PageFrameRecord.pteFrame)
      if named != entryAddress || UInt64(frame) != parent {
        report(
          .pageTableLinkage, pfn: pfnValue, va: va, process: process,
          "\(place) is referenced by the entry at self-map address \(hex(entryAddress)) in PFN \(hex(parent)) "
            + "but its PTE address is \(hex(named)) and its PTE frame \(pfnName(frame))")
      }
    }
    guard let lower = level.lower else { return }
    let format = formats[level]
    let shift = UInt64(format.indexShift)
    for index in 0..<512 {
      let raw = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self))
      guard raw & 1 != 0 else { continue }
      if level == .pml4 && UInt64(index) == selfMap.slot {
        if format.tableAddress(raw) != table {
          report(
            .selfMapEntry, pfn: pfnValue, va: selfMap.base, process: process,
            "the PML4 at \(hex(table)) has self-map slot \(hex(selfMap.slot)) pointing at "
              + "\(hex(format.tableAddress(raw))), not at itself")
        }
        continue
      }
      if format.isPage(raw) { continue }
      let childVA = canonical(va | UInt64(index) << shift)
      scanTable(
        format.tableAddress(raw), level: lower, va: childVA, process: process,
        referencedBy: selfMap.entryAddress(mapping: childVA, level: level.rawValue), in: pfnValue, formats: formats)
    }
  }

  /// Enumerates the leaves of one address space. Counting: checks what a leaf alone
  /// shows and counts each accounted one against the page it maps. Detail: checks the
  /// accounted leaves of the pages the frame pass marked, one by one.
  mutating func walkLeaves(
    _ space: (root: UInt64, process: UInt32?, leafLimit: Int, tableLimit: Int), pass: LeafPass,
    context: PagingContext, formats: TableFormats
  ) {
    let (root, process) = (space.root, space.process)
    var context = context
    context.cr3 = root
    runTable = .max
    let memory = overlay(root: root, process: process)
    defer { memory.deallocate() }
    let summary = forEachLeaf(context: context, memory: memory, limit: space.leafLimit, tableLimit: space.tableLimit) {
      leaf in
      switch pass {
      case .count: visitLeaf(leaf, process: process, formats: formats)
      case .detail: visitLeafInDetail(leaf, process: process)
      }
    }
    guard pass == .count else { return }
    leafBudget -= summary.leafCount
    tableBudget -= summary.tableCount
    for problem in summary.problems {
      // Tables outside memory and tables on their own path are found by `scanTable`;
      // what the enumeration adds is reserved bits in table entries.
      guard case .reservedBits(let level, let entryAddress, let bits, let va) = problem, !selfMap.contains(va),
        reportedEntries.insert(entryAddress).inserted
      else { continue }
      report(
        .pageTableStructure, va: va, process: process,
        "the \(level.entryName) at \(hex(entryAddress)) has reserved bits \(hex(bits)) set")
    }
    if let truncation = summary.truncation {
      let what = truncation == .leafLimit ? "leaves" : "tables"
      report(
        .pageTableStructure, pfn: root >> 12, process: process,
        "the walk of the PML4 at \(hex(root)) stopped at the validator's budget of \(what); "
          + "later mappings were not checked")
    }
  }

  @inline(__always) mutating func visitLeaf(_ leaf: Leaf, process: UInt32?, formats: TableFormats) {
    let va = leaf.virtualAddress
    if isExempt(va) { return }
    let entryAddress = leaf.entryAddress
    if leaf.reservedBits != 0 {
      let own = formats[leaf.level].reservedBits(leaf.entry.rawValue)
      if own != 0, reportedEntries.insert(entryAddress).inserted {
        report(
          .pageTableStructure, va: va, process: process,
          "the \(leaf.level.entryName) at \(hex(entryAddress)) mapping VA \(hex(va)) has reserved bits "
            + "\(hex(own)) set")
      }
    }
    if leaf.pageSize != .size4KiB {
      if reportedEntries.insert(entryAddress).inserted {
        report(
          .largePageOutsideWindow, pfn: leaf.physicalAddress >> 12, va: va, process: process,
          "the \(leaf.level.entryName) at \(hex(entryAddress)) maps a \(leaf.pageSize) page at VA \(hex(va)) "
            + "outside every debug window")
      }
      return
    }

    guard isFirstSight(of: entryAddress, mark: FrameFlag.leavesCounted) else { return }
    accountedLeaves += 1

    let pfnValue = leaf.physicalAddress >> 12
    guard pfnValue < UInt64(pfnCount) else {
      report(
        .mapsInvalidFrame, pfn: pfnValue, va: va, process: process,
        "the PTE at \(hex(entryAddress)) maps VA \(hex(va)) to PFN \(hex(pfnValue)), beyond the PFN database "
          + "(\(pfnCount) pages)")
      return
    }
    mapped[Int(pfnValue)] &+= 1
  }

  /// Each physical PTE counts once: a page table's leaves arrive as one run of rising
  /// entry addresses; a run of a table already seen (a table referenced twice) is skipped.
  @inline(__always) mutating func isFirstSight(of entryAddress: UInt64, mark: UInt8) -> Bool {
    let table = entryAddress >> 12
    if table != runTable || entryAddress <= runLastEntry {
      runTable = table
      if table < UInt64(pfnCount) {
        runCounts = flags[Int(table)] & mark == 0
        flags[Int(table)] |= mark
      } else {
        runCounts = true  // reported by scanTable as beyond the database
      }
    }
    runLastEntry = entryAddress
    return runCounts
  }

  /// The second enumeration's view of a leaf: only accounted leaves of marked pages.
  mutating func visitLeafInDetail(_ leaf: Leaf, process: UInt32?) {
    guard !isExempt(leaf.virtualAddress), leaf.pageSize == .size4KiB,
      isFirstSight(of: leaf.entryAddress, mark: FrameFlag.leavesSeenAgain)
    else { return }
    let pfnValue = leaf.physicalAddress >> 12
    guard pfnValue < UInt64(pfnCount), flags[Int(pfnValue)] & FrameFlag.needsDetail != 0 else { return }
    checkLeaf(Int(pfnValue), va: leaf.virtualAddress, entryAddress: leaf.entryAddress, process: process)
  }

  // MARK: Frames

  /// One sequential pass over the database: every record on its own, the accounted
  /// leaves mapping it, its share count, and the content of zeroed-list pages.
  mutating func checkFrames() {
    // PFN ranges wholly in RAM, ascending, with the host address of their first page.
    var ram: [(start: Int, end: Int, host: UnsafeRawPointer)] = []
    for region in memory.regions {
      let start = (region.base &+ 0xFFF) >> 12
      let end = region.end >> 12
      guard start < end, start < UInt64(pfnCount), let base = region.bytes.baseAddress else { continue }
      ram.append(
        (Int(start), Int(min(end, UInt64(pfnCount))), UnsafeRawPointer(base + Int((start << 12) - region.base))))
    }
    ram.sort { $0.start < $1.start }
    var rangeIndex = 0
    let knownLocation = PageLocation.transition.rawValue
    let hole = PageUsage.hole.rawValue
    let active = PageLocation.activeAndValid.rawValue
    let pageTable = PageUsage.pageTable.rawValue
    let zeroedMarker = PageLocation.zeroed.rawValue + 1

    var zeroBatch = ZeroBatch()
    for pfn in 0..<pfnCount {
      let location = u8(pfn, PageFrameRecord.location)
      let usage = u8(pfn, PageFrameRecord.usage)
      guard location <= knownLocation, usage <= hole else {
        report(
          .invalidFrame, pfn: UInt64(pfn),
          "PFN \(hex(UInt64(pfn))) has \(locationName(location)) and \(usageName(usage))")
        continue
      }
      if usage == hole {
        if onList[pfn] != 0 {
          report(
            .holeInUse, pfn: UInt64(pfn),
            "PFN \(hex(UInt64(pfn))) is a hole (not RAM) but is linked on the "
              + "\(listName(Int(onList[pfn] & ~backwardMark) - 1)) list")
        }
        if mapped[pfn] != 0 { markForDetail(pfn) }
        continue
      }
      while rangeIndex < ram.count && ram[rangeIndex].end <= pfn { rangeIndex += 1 }
      guard rangeIndex < ram.count, ram[rangeIndex].start <= pfn else {
        report(
          .invalidFrame, pfn: UInt64(pfn),
          "PFN \(hex(UInt64(pfn))) has \(usageName(usage)) but is not in guest RAM (a hole must have usage hole)")
        continue
      }
      let page = ram[rangeIndex].host + (pfn - ram[rangeIndex].start) << 12
      let list = onList[pfn] & ~backwardMark
      if location < active && list == 0 {
        report(
          .lostPage, pfn: UInt64(pfn),
          "PFN \(hex(UInt64(pfn))) has location \(locationName(location)) but is on no list")
      }
      if list == zeroedMarker && wantsZeroCheck(pfn) {
        zeroBatch.append(pfn: pfn, page: page)
        if zeroBatch.isFull { checkZeroBatch(&zeroBatch) }
      }

      // The accounted PTEs mapping the page: checked from the record's side when it
      // names one, one by one (`checkLeaves`) when not.
      let count = mapped[pfn]
      var shareChecked = false
      if count != 0 {
        if location != active {
          markForDetail(pfn)
          shareChecked = true  // mapsInactiveFrame says it; the share count says nothing more
        } else if u8(pfn, PageFrameRecord.flags) & PageFrameFlags.prototype.rawValue == 0
          && (count != 1 || !namesCountedPTE(pfn))
        {
          markForDetail(pfn)
        }
      }

      let level = tableLevel[pfn]
      if level != 0 && (usage != pageTable || location != active) {
        let levelName = PagingLevel(rawValue: Int(level)).map { "\($0)" } ?? "?"
        report(
          .pageTableUsage, pfn: UInt64(pfn),
          "PFN \(hex(UInt64(pfn))) is used as a \(levelName) but has location \(locationName(location)) and "
            + usageName(usage))
        continue
      }
      let share = u32(pfn, PageFrameRecord.shareCount)
      if usage == pageTable {
        let live = liveEntries(page)
        if share != live {
          report(
            .pageTableShareCount, pfn: UInt64(pfn),
            "page table PFN \(hex(UInt64(pfn))) has \(live) live (nonzero) entries but share count \(share)")
        }
        if level == 0 && location == active {
          report(
            .unreachablePageTable, pfn: UInt64(pfn),
            "PFN \(hex(UInt64(pfn))) is an active page table (\(live) live entries) that no PML4 reaches")
        }
      } else if !shareChecked && share != count {
        report(
          .shareCount, pfn: UInt64(pfn),
          "PFN \(hex(UInt64(pfn))) (\(usageName(usage)), \(locationName(location))) has share count \(share) but "
            + "\(count) valid accounted PTEs map it")
      }
    }
    checkZeroBatch(&zeroBatch)
    checkLeaves()
  }

  /// Reads the batch's pages together (their loads overlap) and reports the nonzero ones.
  func checkZeroBatch(_ batch: inout ZeroBatch) {
    guard batch.count > 0 else { return }
    let nonzero = batch.nonzeroPages()
    if nonzero != 0 {
      for index in 0..<batch.count where nonzero & (1 << index) != 0 {
        let (pfn, page) = batch[index]
        if let offset = firstNonzeroByte(page) {
          report(
            .zeroedPageNotZero, pfn: UInt64(pfn),
            "PFN \(hex(UInt64(pfn))) is on the zeroed list but its byte \(hex(UInt64(offset))) is "
              + hex(UInt64(page.load(fromByteOffset: offset, as: UInt8.self))))
        }
      }
    }
    batch.count = 0
  }

  @inline(__always) mutating func markForDetail(_ pfn: Int) {
    flags[pfn] |= FrameFlag.needsDetail
    needsDetail = true
  }

  /// True if the record of `pfn` names, by self-map address and PTE frame, a valid
  /// accounted PTE that maps `pfn`: found from the record, with one read of that PTE.
  @inline(__always) func namesCountedPTE(_ pfn: Int) -> Bool {
    let named = u64(pfn, PageFrameRecord.pteAddress)
    let frame = u32(pfn, PageFrameRecord.pteFrame)
    guard selfMap.contains(named), named & 7 == 0, Int(frame) < pfnCount,
      tableLevel[Int(frame)] == UInt8(PagingLevel.pageTable.rawValue),
      flags[Int(frame)] & FrameFlag.leavesCounted != 0
    else { return false }
    let index = (named >> 3) & 511
    let va = tableVA[Int(frame)] | index << 12
    guard selfMap.pteAddress(mapping: va) == named, !isExempt(va),
      let entry = memory.load(UInt64.self, at: UInt64(frame) << 12 | index << 3)
    else { return false }
    return entry & 1 != 0 && (entry & pageFrameMask) >> 12 == UInt64(pfn)
  }

  /// The leaves of the pages the frame pass could not clear, one by one, in the order
  /// the first enumeration found them.
  mutating func checkLeaves() {
    guard needsDetail else { return }
    var context = PagingContext(mode: .fourLevel, cr3: 0, maxPhysicalAddressBits: maxPhysicalAddressBits)
    context.efer.insert(.noExecuteEnable)
    let formats = TableFormats(context: context)
    for space in spaces { walkLeaves(space, pass: .detail, context: context, formats: formats) }
  }

  /// One accounted leaf of a marked page.
  mutating func checkLeaf(_ pfn: Int, va: UInt64, entryAddress: UInt64, process: UInt32?) {
    if u8(pfn, PageFrameRecord.usage) == PageUsage.hole.rawValue {
      report(
        .mapsInvalidFrame, pfn: UInt64(pfn), va: va, process: process,
        "the PTE at \(hex(entryAddress)) maps VA \(hex(va)) to PFN \(hex(UInt64(pfn))), a hole (not RAM)")
      return
    }
    let location = u8(pfn, PageFrameRecord.location)
    if location != PageLocation.activeAndValid.rawValue {
      // Reported once, at the first PTE found.
      if flags[pfn] & FrameFlag.inactiveReported == 0 {
        flags[pfn] |= FrameFlag.inactiveReported
        report(
          .mapsInactiveFrame, pfn: UInt64(pfn), va: va, process: process,
          "the PTE at \(hex(entryAddress)) maps VA \(hex(va)) to PFN \(hex(UInt64(pfn))), whose location is "
            + locationName(location))
      }
      return
    }
    let named = u64(pfn, PageFrameRecord.pteAddress)
    let expected = selfMap.pteAddress(mapping: va)
    if named != expected {
      report(
        .pteAddressMismatch, pfn: UInt64(pfn), va: va, process: process,
        "PFN \(hex(UInt64(pfn))) is mapped at VA \(hex(va)) by the PTE at \(hex(entryAddress)) "
          + "(self-map address \(hex(expected))) but its PTE address is \(hex(named))")
    }
    let frame = u32(pfn, PageFrameRecord.pteFrame)
    let table = entryAddress >> 12
    if UInt64(frame) != table {
      report(
        .pteFrameMismatch, pfn: UInt64(pfn), va: va, process: process,
        "PFN \(hex(UInt64(pfn))) is mapped at VA \(hex(va)) by a PTE in the page table at PFN \(hex(table)) "
          + "but its PTE frame is \(pfnName(frame))")
    }
  }

  // MARK: Available pages

  mutating func checkAvailable() {
    let zeroed = state.listHeads[Int(PageLocation.zeroed.rawValue)].total
    let free = state.listHeads[Int(PageLocation.free.rawValue)].total
    let standby = state.listHeads[Int(PageLocation.standby.rawValue)].total
    let (partial, overflow1) = zeroed.addingReportingOverflow(free)
    let (sum, overflow2) = partial.addingReportingOverflow(standby)
    if overflow1 || overflow2 || sum != state.availablePages {
      let total = overflow1 || overflow2 ? "more than 2^64" : "\(sum)"
      report(
        .availablePages,
        "zeroed \(zeroed) + free \(free) + standby \(standby) = \(total), but the guest counts "
          + "\(state.availablePages) available pages")
    }
  }

  func canonical(_ va: UInt64) -> UInt64 { UInt64(bitPattern: Int64(bitPattern: va << 16) >> 16) }
  func isCanonical(_ va: UInt64) -> Bool { canonical(va) == va }
}

/// Guest memory with one PML4 replaced by an edited copy (slots cleared), so that the
/// enumeration skips what it must not walk again. Everything else reads through.
private struct RootOverlay: PhysicalMemory {
  let memory: GuestPhysicalMemory
  let root: UInt64
  let copy: UnsafeMutableRawBufferPointer

  /// `root` must be a page-aligned table in RAM.
  init(memory: GuestPhysicalMemory, root: UInt64) {
    self.memory = memory
    self.root = root
    copy = .allocate(byteCount: 4096, alignment: 4096)
    if let page = memory.tablePage(root) {
      copy.copyMemory(from: page)
    } else {
      copy.initializeMemory(as: UInt8.self, repeating: 0)
    }
  }

  func deallocate() { copy.deallocate() }
  func entry(_ slot: Int) -> UInt64 { copy.load(fromByteOffset: slot * 8, as: UInt64.self) }
  func clear(slot: Int) { copy.storeBytes(of: 0, toByteOffset: slot * 8, as: UInt64.self) }

  func load64(_ physicalAddress: UInt64) -> UInt64? {
    guard physicalAddress & ~0xFFF == root, physicalAddress & 0xFFF <= 4088 else {
      return memory.load64(physicalAddress)
    }
    return UInt64(littleEndian: copy.loadUnaligned(fromByteOffset: Int(physicalAddress & 0xFFF), as: UInt64.self))
  }

  func load32(_ physicalAddress: UInt64) -> UInt32? {
    guard physicalAddress & ~0xFFF == root, physicalAddress & 0xFFF <= 4092 else {
      return memory.load32(physicalAddress)
    }
    return UInt32(littleEndian: copy.loadUnaligned(fromByteOffset: Int(physicalAddress & 0xFFF), as: UInt32.self))
  }

  func tablePage(_ physicalAddress: UInt64) -> UnsafeRawBufferPointer? {
    physicalAddress == root ? UnsafeRawBufferPointer(copy) : memory.tablePage(physicalAddress)
  }
}

/// Collects violations: all counted, the first `limit` kept.
private final class ViolationSink {
  let limit: Int
  var violations: [MmViolation] = []
  var count = 0
  var countsByRule = [Int](repeating: 0, count: MmRule.allCases.count)

  init(limit: Int) { self.limit = max(0, limit) }

  func report(_ rule: MmRule, pfn: UInt64?, va: UInt64?, process: UInt32?, _ message: () -> String) {
    count += 1
    countsByRule[rule.order] += 1
    guard violations.count < limit else { return }
    violations.append(MmViolation(rule: rule, pfn: pfn, virtualAddress: va, processID: process, message: message()))
  }
}

/// The entry formats of the four levels, looked up without building one per entry.
struct TableFormats {
  let pml4: EntryFormat
  let pdpt: EntryFormat
  let pd: EntryFormat
  let pt: EntryFormat

  init(context: PagingContext) {
    pml4 = context.entryFormat(at: .pml4)
    pdpt = context.entryFormat(at: .pageDirectoryPointerTable)
    pd = context.entryFormat(at: .pageDirectory)
    pt = context.entryFormat(at: .pageTable)
  }

  subscript(level: PagingLevel) -> EntryFormat {
    switch level {
    case .pml4, .pml5: pml4
    case .pageDirectoryPointerTable: pdpt
    case .pageDirectory: pd
    case .pageTable: pt
    }
  }
}

/// Up to eight zeroed-list pages read back together: eight streams of loads in flight
/// instead of one, which is what reading scattered pages needs to approach bandwidth.
struct ZeroBatch {
  private var pfns: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
  private var pages:
    (
      UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?,
      UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?
    ) = (nil, nil, nil, nil, nil, nil, nil, nil)
  var count = 0

  var isFull: Bool { count == 8 }

  mutating func append(pfn: Int, page: UnsafeRawPointer) {
    withUnsafeMutableBytes(of: &pfns) { $0.storeBytes(of: pfn, toByteOffset: count * 8, as: Int.self) }
    withUnsafeMutableBytes(of: &pages) { $0.storeBytes(of: page, toByteOffset: count * 8, as: UnsafeRawPointer?.self) }
    count += 1
  }

  subscript(index: Int) -> (pfn: Int, page: UnsafeRawPointer) {
    let pfn = withUnsafeBytes(of: pfns) { $0.load(fromByteOffset: index * 8, as: Int.self) }
    let page = withUnsafeBytes(of: pages) { $0.load(fromByteOffset: index * 8, as: UnsafeRawPointer?.self) }
    return (pfn, page!)
  }

  /// Bit i set if page i has a nonzero byte. Slots past `count` repeat page 0.
  func nonzeroPages() -> UInt8 {
    let p0 = self[0].page
    let p1 = count > 1 ? self[1].page : p0
    let p2 = count > 2 ? self[2].page : p0
    let p3 = count > 3 ? self[3].page : p0
    let p4 = count > 4 ? self[4].page : p0
    let p5 = count > 5 ? self[5].page : p0
    let p6 = count > 6 ? self[6].page : p0
    let p7 = count > 7 ? self[7].page : p0
    var a0: UInt64 = 0
    var a1: UInt64 = 0
    var a2: UInt64 = 0
    var a3: UInt64 = 0
    var a4: UInt64 = 0
    var a5: UInt64 = 0
    var a6: UInt64 = 0
    var a7: UInt64 = 0
    var offset = 0
    while offset < 4096 {
      a0 |= orLine(p0, offset)
      a1 |= orLine(p1, offset)
      a2 |= orLine(p2, offset)
      a3 |= orLine(p3, offset)
      a4 |= orLine(p4, offset)
      a5 |= orLine(p5, offset)
      a6 |= orLine(p6, offset)
      a7 |= orLine(p7, offset)
      offset &+= 64
    }
    var bits: UInt8 = 0
    for (index, value) in [a0, a1, a2, a3, a4, a5, a6, a7].enumerated() where value != 0 && index < count {
      bits |= 1 << index
    }
    return bits
  }
}

/// The eight words of the 64-byte line at `offset`, OR-ed.
@inline(__always)
func orLine(_ page: UnsafeRawPointer, _ offset: Int) -> UInt64 {
  (page.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
    | page.loadUnaligned(fromByteOffset: offset &+ 8, as: UInt64.self))
    | (page.loadUnaligned(fromByteOffset: offset &+ 16, as: UInt64.self)
      | page.loadUnaligned(fromByteOffset: offset &+ 24, as: UInt64.self))
    | (page.loadUnaligned(fromByteOffset: offset &+ 32, as: UInt64.self)
      | page.loadUnaligned(fromByteOffset: offset &+ 40, as: UInt64.self))
    | (page.loadUnaligned(fromByteOffset: offset &+ 48, as: UInt64.self)
      | page.loadUnaligned(fromByteOffset: offset &+ 56, as: UInt64.self))
}

/// Offset of the first nonzero byte of the 4 KiB page at `page`, or nil if all zero.
/// ORs eight bytes at a time (four accumulators); bytes are looked at only on a hit.
@inline(__always)
func firstNonzeroByte(_ page: UnsafeRawPointer) -> Int? {
  var a: UInt64 = 0
  var b: UInt64 = 0
  var c: UInt64 = 0
  var d: UInt64 = 0
  var offset = 0
  while offset < 4096 {
    a |= page.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
    b |= page.loadUnaligned(fromByteOffset: offset &+ 8, as: UInt64.self)
    c |= page.loadUnaligned(fromByteOffset: offset &+ 16, as: UInt64.self)
    d |= page.loadUnaligned(fromByteOffset: offset &+ 24, as: UInt64.self)
    offset &+= 32
  }
  guard a | b | c | d != 0 else { return nil }
  for index in 0..<4096 where page.load(fromByteOffset: index, as: UInt8.self) != 0 { return index }
  return nil
}

/// Live (nonzero) entries among the 512 of the table page at `page`.
@inline(__always)
func liveEntries(_ page: UnsafeRawPointer) -> UInt32 {
  var count: UInt32 = 0
  for index in 0..<512 where page.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self) != 0 { count &+= 1 }
  return count
}
