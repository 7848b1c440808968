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
public struct MmValidator {
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

  public init(
    state: MmState, maxPhysicalAddressBits: Int = 52, violationLimit: Int = 10_000, leafBudget: Int = 1 << 24,
    tableBudget: Int = 1 << 19
  ) {
    self.state = state
    self.maxPhysicalAddressBits = maxPhysicalAddressBits
    self.violationLimit = violationLimit
    self.leafBudget = leafBudget
    self.tableBudget = tableBudget
  }

  /// Runs every check and returns the violations in a deterministic order.
  public func validate() -> MmValidationReport {
    let run = ValidationRun(validator: self)
    run.checkLists()
    run.checkWindows()
    run.checkAddressSpaces()
    run.checkFrames()
    run.checkAvailable()
    return run.report()
  }
}

private let noPage = PageFrameRecord.noPage
private let recordSize = PageFrameRecord.size

/// Per-PFN marks.
private let leavesCounted: UInt8 = 1 << 0
private let shareCheckDone: UInt8 = 1 << 1

/// The state of one validation: flat per-PFN arrays, no per-page allocation.
private final class ValidationRun {
  let state: MmState
  let memory: GuestPhysicalMemory
  let limit: Int
  let maxPhysicalAddressBits: Int
  let selfMap: SelfMap
  /// PFN records in place.
  let database: UnsafeRawPointer
  let pfnCount: Int

  /// List index + 1 of the list a PFN was found on; 0 = none.
  let onList: UnsafeMutablePointer<UInt8>
  /// Accounted PTEs found mapping each PFN.
  let accounted: UnsafeMutablePointer<UInt32>
  /// `PagingLevel` raw value a PFN was used at as a paging structure; 0 = none.
  let tableLevel: UnsafeMutablePointer<UInt8>
  let marks: UnsafeMutablePointer<UInt8>

  var windowStarts: [UInt64] = []
  var windowLengths: [UInt64] = []

  var violations: [MmViolation] = []
  var violationCount = 0
  var countsByRule = [Int](repeating: 0, count: MmRule.allCases.count)
  var pagesWalked = [UInt64](repeating: 0, count: PageLocation.listCount)
  var rootsWalked = 0
  var tablesFound = 0
  var accountedLeaves = 0
  var leafBudget: Int
  var tableBudget: Int
  /// Entry addresses already reported (large pages, reserved bits): the kernel half is
  /// enumerated once per PML4, its findings reported once.
  var reportedEntries = Set<UInt64>()

  /// The leaf run being enumerated: the table holding it and the last entry seen.
  var runTable: UInt64 = .max
  var runLastEntry: UInt64 = 0
  var runCounts = false

  init(validator: MmValidator) {
    state = validator.state
    memory = state.memory
    limit = max(0, validator.violationLimit)
    maxPhysicalAddressBits = validator.maxPhysicalAddressBits
    selfMap = state.selfMap
    database = state.pfnDatabase.baseAddress!  // pfnCount > 0: never empty
    pfnCount = Int(state.pfnCount)
    onList = .allocate(capacity: pfnCount)
    onList.initialize(repeating: 0, count: pfnCount)
    accounted = .allocate(capacity: pfnCount)
    accounted.initialize(repeating: 0, count: pfnCount)
    tableLevel = .allocate(capacity: pfnCount)
    tableLevel.initialize(repeating: 0, count: pfnCount)
    marks = .allocate(capacity: pfnCount)
    marks.initialize(repeating: 0, count: pfnCount)
    leafBudget = max(0, validator.leafBudget)
    tableBudget = max(0, validator.tableBudget)
  }

  deinit {
    onList.deallocate()
    accounted.deallocate()
    tableLevel.deallocate()
    marks.deallocate()
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
    violationCount += 1
    countsByRule[rule.order] += 1
    guard violations.count < limit else { return }
    violations.append(MmViolation(rule: rule, pfn: pfn, virtualAddress: va, processID: process, message: message()))
  }

  func report() -> MmValidationReport {
    let sorted = violations.enumerated().sorted { a, b in
      let (x, y) = (a.element, b.element)
      if x.rule != y.rule { return x.rule.order < y.rule.order }
      if x.pfn != y.pfn { return (x.pfn ?? .max) < (y.pfn ?? .max) }
      if x.virtualAddress != y.virtualAddress { return (x.virtualAddress ?? .max) < (y.virtualAddress ?? .max) }
      if x.processID != y.processID { return (x.processID ?? 0) < (y.processID ?? 0) }
      return a.offset < b.offset
    }.map(\.element)
    var counts: [MmRule: Int] = [:]
    for rule in MmRule.allCases where countsByRule[rule.order] > 0 { counts[rule] = countsByRule[rule.order] }
    return MmValidationReport(
      violations: sorted, violationCount: violationCount, countsByRule: counts, pagesWalked: pagesWalked,
      rootsWalked: rootsWalked, tablesFound: tablesFound, accountedLeaves: accountedLeaves)
  }

  func locationName(_ raw: UInt8) -> String { PageLocation(rawValue: raw)?.reportName ?? "unknown location \(raw)" }
  func usageName(_ raw: UInt8) -> String { PageUsage(rawValue: raw).map { "\($0)" } ?? "unknown usage \(raw)" }
  func listName(_ index: Int) -> String { PageLocation(rawValue: UInt8(index))?.reportName ?? "?" }
  func pfnName(_ value: UInt32) -> String { value == noPage ? "none" : "PFN \(mmHex(UInt64(value)))" }

  // MARK: Lists

  func checkLists() {
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
            "\(from) on the \(name) list links to PFN \(mmHex(UInt64(current))), beyond the PFN database "
              + "(\(pfnCount) records)")
          broken = true
          break
        }
        let pfn = Int(current)
        let mark = onList[pfn]
        if mark == marker {
          report(
            .listCycle, pfn: UInt64(pfn),
            "the \(name) list comes back to PFN \(mmHex(UInt64(pfn))) from \(from) after \(walked) pages")
          broken = true
          break
        }
        if mark != 0 {
          report(
            .pageOnTwoLists, pfn: UInt64(pfn),
            "PFN \(mmHex(UInt64(pfn))), linked on the \(listName(Int(mark) - 1)) list, is linked on the \(name) "
              + "list too (from \(from))")
          broken = true
          break
        }
        onList[pfn] = marker
        walked += 1
        let back = u32(pfn, PageFrameRecord.previous)
        if back != previous {
          report(
            .listLinks, pfn: UInt64(pfn),
            "PFN \(mmHex(UInt64(pfn))) on the \(name) list has previous \(pfnName(back)), but the walk came from "
              + "\(from)")
        }
        visitListPage(pfn, list: list)
        previous = current
        current = u32(pfn, PageFrameRecord.next)
      }
      if broken {
        // The forward walk could not finish: mark the rest of the list from its tail, so
        // its pages are not also reported as lost.
        var tail = head.last
        while tail != noPage, Int(tail) < pfnCount, onList[Int(tail)] == 0 {
          onList[Int(tail)] = marker
          walked += 1
          visitListPage(Int(tail), list: list)
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

  /// Checks of one page found on list `list`.
  @inline(__always) func visitListPage(_ pfn: Int, list: Int) {
    // A hole on a list is reported once, as such, by the frame pass; its location means nothing.
    if u8(pfn, PageFrameRecord.usage) == PageUsage.hole.rawValue { return }
    let location = u8(pfn, PageFrameRecord.location)
    // An unknown location is reported once, as an invalid frame.
    if Int(location) != list, location <= PageLocation.transition.rawValue {
      report(
        .listLocation, pfn: UInt64(pfn),
        "PFN \(mmHex(UInt64(pfn))) is linked on the \(listName(list)) list but its location is "
          + locationName(location))
    }
    if list == Int(PageLocation.zeroed.rawValue) { checkZeroed(pfn) }
  }

  func checkZeroed(_ pfn: Int) {
    // A page outside RAM is reported by the frame pass (invalid frame or hole in use).
    guard let page = memory.bytes(at: UInt64(pfn) << 12, count: 4096), let base = page.baseAddress else { return }
    if let offset = firstNonzeroByte(base) {
      report(
        .zeroedPageNotZero, pfn: UInt64(pfn),
        "PFN \(mmHex(UInt64(pfn))) is on the zeroed list but its byte \(mmHex(UInt64(offset))) is "
          + mmHex(UInt64(page[offset])))
    }
  }

  // MARK: Windows

  func checkWindows() {
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

  func checkAddressSpaces() {
    var context = PagingContext(mode: .fourLevel, cr3: 0, maxPhysicalAddressBits: maxPhysicalAddressBits)
    context.efer.insert(.noExecuteEnable)
    let formats = TableFormats(context: context)
    var seen: [UInt64: UInt32?] = [:]
    var spaces: [(root: UInt64, process: UInt32?)] = [(state.kernelRoot, nil)]
    spaces += state.processes.map { ($0.root, $0.id) }
    for (root, process) in spaces {
      let owner = process.map { "process \($0)'s" } ?? "the kernel's"
      if let other = seen[root] {
        let first = other.map { "process \($0)'s" } ?? "the kernel's"
        report(
          .pageTableStructure, pfn: root >> 12, process: process, "\(owner) PML4 \(mmHex(root)) is also \(first)")
        continue
      }
      seen[root] = process
      guard root & 0xFFF == 0 else {
        report(
          .pageTableStructure, pfn: root >> 12, process: process, "\(owner) PML4 \(mmHex(root)) is not page-aligned")
        continue
      }
      guard memory.tablePage(root) != nil else {
        report(
          .pageTableStructure, pfn: root >> 12, process: process, "\(owner) PML4 \(mmHex(root)) is not in guest RAM")
        continue
      }
      rootsWalked += 1
      scanTable(
        root, level: .pml4, va: 0, process: process, referencedBy: selfMap.selfEntryAddress, in: root >> 12,
        formats: formats)
      walkLeaves(root: root, process: process, context: context, formats: formats)
    }
  }

  /// Marks the paging structures reachable from `table` (of `level`) and checks their
  /// structure; each table is scanned once, whichever PML4 reaches it first. Page tables
  /// are marked, not scanned: their leaves come from the enumeration.
  /// `entryAddress` is the self-map address of the entry referencing the table, in the
  /// table at PFN `parent`: what the table's record must name.
  func scanTable(
    _ table: UInt64, level: PagingLevel, va: UInt64, process: UInt32?, referencedBy entryAddress: UInt64,
    in parent: UInt64, formats: TableFormats
  ) {
    let pfnValue = table >> 12
    var place: String { "the \(level) at \(mmHex(table)) (VA \(mmHex(canonical(va))))" }
    guard pfnValue < UInt64(pfnCount) else {
      report(
        .pageTableStructure, pfn: pfnValue, va: canonical(va), process: process,
        "\(place) is beyond the PFN database (\(pfnCount) pages)")
      return
    }
    let pfn = Int(pfnValue)
    let existing = tableLevel[pfn]
    if existing == UInt8(level.rawValue) { return }
    if existing != 0 {
      let other = PagingLevel(rawValue: Int(existing)).map { "\($0)" } ?? "?"
      report(
        .pageTableStructure, pfn: pfnValue, va: canonical(va), process: process,
        "\(place) is also used as a \(other)")
      return
    }
    guard let page = memory.tablePage(table), let bytes = page.baseAddress else {
      report(.pageTableStructure, pfn: pfnValue, va: canonical(va), process: process, "\(place) is not in guest RAM")
      return
    }
    tableLevel[pfn] = UInt8(level.rawValue)
    tablesFound += 1
    // A page whose usage is wrong is reported once, by the frame pass.
    if u8(pfn, PageFrameRecord.usage) == PageUsage.pageTable.rawValue {
      let named = u64(pfn, PageFrameRecord.pteAddress)
      let frame = u32(pfn, PageFrameRecord.pteFrame)
      if named != entryAddress || UInt64(frame) != parent {
        report(
          .pageTableLinkage, pfn: pfnValue, va: canonical(va), process: process,
          "\(place) is referenced by the entry at self-map address \(mmHex(entryAddress)) in PFN \(mmHex(parent)) "
            + "but its PTE address is \(mmHex(named)) and its PTE frame \(pfnName(frame))")
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
            "the PML4 at \(mmHex(table)) has self-map slot \(mmHex(selfMap.slot)) pointing at "
              + "\(mmHex(format.tableAddress(raw))), not at itself")
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

  /// Enumerates the leaves of `root` and checks each accounted one.
  func walkLeaves(root: UInt64, process: UInt32?, context: PagingContext, formats: TableFormats) {
    var context = context
    context.cr3 = root
    runTable = .max
    let leafLimit = leafBudget
    let tableLimit = tableBudget
    let summary = forEachLeaf(context: context, memory: memory, limit: leafLimit, tableLimit: tableLimit) { leaf in
      visitLeaf(leaf, process: process, formats: formats)
    }
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
        "the \(level.entryName) at \(mmHex(entryAddress)) has reserved bits \(mmHex(bits)) set")
    }
    if let truncation = summary.truncation {
      let what = truncation == .leafLimit ? "leaves" : "tables"
      report(
        .pageTableStructure, pfn: root >> 12, process: process,
        "the walk of the PML4 at \(mmHex(root)) stopped at the validator's budget of \(what); "
          + "later mappings were not checked")
    }
  }

  @inline(__always) func visitLeaf(_ leaf: Leaf, process: UInt32?, formats: TableFormats) {
    let va = leaf.virtualAddress
    if isExempt(va) { return }
    let entryAddress = leaf.entryAddress
    let raw = leaf.entry.rawValue
    if leaf.reservedBits != 0 {
      let own = formats[leaf.level].reservedBits(raw)
      if own != 0, reportedEntries.insert(entryAddress).inserted {
        report(
          .pageTableStructure, va: va, process: process,
          "the \(leaf.level.entryName) at \(mmHex(entryAddress)) mapping VA \(mmHex(va)) has reserved bits "
            + "\(mmHex(own)) set")
      }
    }
    if leaf.pageSize != .size4KiB {
      if reportedEntries.insert(entryAddress).inserted {
        report(
          .largePageOutsideWindow, pfn: leaf.physicalAddress >> 12, va: va, process: process,
          "the \(leaf.level.entryName) at \(mmHex(entryAddress)) maps a \(leaf.pageSize) page at VA \(mmHex(va)) "
            + "outside every debug window")
      }
      return
    }

    // Each physical PTE counts once: a page table's leaves arrive as one run of rising
    // entry addresses; a run of a table already counted (the shared kernel half, or a
    // table referenced twice) is skipped.
    let table = entryAddress >> 12
    if table != runTable || entryAddress <= runLastEntry {
      runTable = table
      if table < UInt64(pfnCount) {
        runCounts = marks[Int(table)] & leavesCounted == 0
        marks[Int(table)] |= leavesCounted
      } else {
        runCounts = true  // reported by scanTable as beyond the database
      }
    }
    runLastEntry = entryAddress
    guard runCounts else { return }
    accountedLeaves += 1

    let pfnValue = leaf.physicalAddress >> 12
    guard pfnValue < UInt64(pfnCount) else {
      report(
        .mapsInvalidFrame, pfn: pfnValue, va: va, process: process,
        "the PTE at \(mmHex(entryAddress)) maps VA \(mmHex(va)) to PFN \(mmHex(pfnValue)), beyond the PFN database "
          + "(\(pfnCount) pages)")
      return
    }
    let pfn = Int(pfnValue)
    if u8(pfn, PageFrameRecord.usage) == PageUsage.hole.rawValue {
      report(
        .mapsInvalidFrame, pfn: pfnValue, va: va, process: process,
        "the PTE at \(mmHex(entryAddress)) maps VA \(mmHex(va)) to PFN \(mmHex(pfnValue)), a hole (not RAM)")
      return
    }
    if accounted[pfn] != .max { accounted[pfn] &+= 1 }
    let location = u8(pfn, PageFrameRecord.location)
    guard location == PageLocation.activeAndValid.rawValue else {
      if marks[pfn] & shareCheckDone == 0 {
        marks[pfn] |= shareCheckDone
        report(
          .mapsInactiveFrame, pfn: pfnValue, va: va, process: process,
          "the PTE at \(mmHex(entryAddress)) maps VA \(mmHex(va)) to PFN \(mmHex(pfnValue)), whose location is "
            + locationName(location))
      }
      return
    }
    if u8(pfn, PageFrameRecord.flags) & PageFrameFlags.prototype.rawValue != 0 { return }
    let expected = selfMap.pteAddress(mapping: va)
    let named = u64(pfn, PageFrameRecord.pteAddress)
    if named != expected {
      report(
        .pteAddressMismatch, pfn: pfnValue, va: va, process: process,
        "PFN \(mmHex(pfnValue)) is mapped at VA \(mmHex(va)) by the PTE at \(mmHex(entryAddress)) (self-map address "
          + "\(mmHex(expected))) but its PTE address is \(mmHex(named))")
    }
    let frame = u32(pfn, PageFrameRecord.pteFrame)
    if UInt64(frame) != table {
      report(
        .pteFrameMismatch, pfn: pfnValue, va: va, process: process,
        "PFN \(mmHex(pfnValue)) is mapped at VA \(mmHex(va)) by a PTE in the page table at PFN \(mmHex(table)) but "
          + "its PTE frame is \(pfnName(frame))")
    }
  }

  // MARK: Frames

  func checkFrames() {
    // PFN ranges wholly in RAM, ascending.
    var ram: [(start: Int, end: Int)] = []
    for region in memory.regions {
      let start = (region.base &+ 0xFFF) >> 12
      let end = region.end >> 12
      if start < end, start < UInt64(pfnCount) { ram.append((Int(start), Int(min(end, UInt64(pfnCount))))) }
    }
    ram.sort { $0.start < $1.start }
    var rangeIndex = 0
    let knownLocation = PageLocation.transition.rawValue
    let knownUsage = PageUsage.hole.rawValue
    let active = PageLocation.activeAndValid.rawValue
    let pageTable = PageUsage.pageTable.rawValue

    for pfn in 0..<pfnCount {
      let location = u8(pfn, PageFrameRecord.location)
      let usage = u8(pfn, PageFrameRecord.usage)
      guard location <= knownLocation, usage <= knownUsage else {
        report(
          .invalidFrame, pfn: UInt64(pfn),
          "PFN \(mmHex(UInt64(pfn))) has \(locationName(location)) and \(usageName(usage))")
        continue
      }
      if usage == knownUsage {  // a hole
        if onList[pfn] != 0 {
          report(
            .holeInUse, pfn: UInt64(pfn),
            "PFN \(mmHex(UInt64(pfn))) is a hole (not RAM) but is linked on the \(listName(Int(onList[pfn]) - 1)) list")
        }
        continue
      }
      while rangeIndex < ram.count && ram[rangeIndex].end <= pfn { rangeIndex += 1 }
      guard rangeIndex < ram.count, ram[rangeIndex].start <= pfn else {
        report(
          .invalidFrame, pfn: UInt64(pfn),
          "PFN \(mmHex(UInt64(pfn))) has \(usageName(usage)) but is not in guest RAM (a hole must have usage hole)")
        continue
      }
      if location < active && onList[pfn] == 0 {
        report(
          .lostPage, pfn: UInt64(pfn), "PFN \(mmHex(UInt64(pfn))) has location \(locationName(location)) but is on no list")
      }
      let level = tableLevel[pfn]
      if level != 0 && (usage != pageTable || location != active) {
        let levelName = PagingLevel(rawValue: Int(level)).map { "\($0)" } ?? "?"
        report(
          .pageTableUsage, pfn: UInt64(pfn),
          "PFN \(mmHex(UInt64(pfn))) is used as a \(levelName) but has location \(locationName(location)) and "
            + usageName(usage))
        continue
      }
      let share = u32(pfn, PageFrameRecord.shareCount)
      if usage == pageTable {
        guard let page = memory.tablePage(UInt64(pfn) << 12), let bytes = page.baseAddress else { continue }
        let live = liveEntries(bytes)
        if share != live {
          report(
            .pageTableShareCount, pfn: UInt64(pfn),
            "page table PFN \(mmHex(UInt64(pfn))) has \(live) live (nonzero) entries but share count \(share)")
        }
        if level == 0 && location == active {
          report(
            .unreachablePageTable, pfn: UInt64(pfn),
            "PFN \(mmHex(UInt64(pfn))) is an active page table (\(live) live entries) that no PML4 reaches")
        }
      } else if marks[pfn] & shareCheckDone == 0 && share != accounted[pfn] {
        report(
          .shareCount, pfn: UInt64(pfn),
          "PFN \(mmHex(UInt64(pfn))) (\(usageName(usage)), \(locationName(location))) has share count \(share) but "
            + "\(accounted[pfn]) valid accounted PTEs map it")
      }
    }
  }

  // MARK: Available pages

  func checkAvailable() {
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
