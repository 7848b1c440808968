import GuestABI
import X86Paging

/// An invariant of the guest's memory manager that `MmValidator` checks. The raw
/// value is the rule's stable name (used in reports and JSON; never renamed).
/// Declaration order is report order.
public enum MmRule: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  // Page lists.
  case listTotal = "list-total"
  case listLinks = "list-links"
  case listCycle = "list-cycle"
  case listLocation = "list-location"
  case pageOnTwoLists = "page-on-two-lists"
  case lostPage = "lost-page"
  case zeroedPageNotZero = "zeroed-page-not-zero"
  // PFN records on their own.
  case invalidFrame = "invalid-frame"
  case holeInUse = "hole-in-use"
  // Page tables and what they map.
  case debugWindow = "debug-window"
  case pageTableStructure = "page-table-structure"
  case selfMapEntry = "self-map-entry"
  case pageTableUsage = "page-table-usage"
  case pageTableLinkage = "page-table-linkage"
  case unreachablePageTable = "unreachable-page-table"
  case largePageOutsideWindow = "large-page-outside-window"
  case mapsInvalidFrame = "maps-invalid-frame"
  case mapsInactiveFrame = "maps-inactive-frame"
  case pteAddressMismatch = "pte-address-mismatch"
  case pteFrameMismatch = "pte-frame-mismatch"
  // Counts.
  case shareCount = "share-count"
  case pageTableShareCount = "page-table-share-count"
  case availablePages = "available-pages"
  // Sections: control areas, segments, prototype PTEs and views.
  case controlAreaStructure = "control-area-structure"
  case segmentPage = "segment-page"
  case prototypePTE = "prototype-pte"
  case prototypeBackPointer = "prototype-back-pointer"
  case viewSection = "view-section"
  case prototypeMismatch = "prototype-mismatch"
  case controlAreaCounts = "control-area-counts"
  case cleanFilePage = "clean-file-page"

  /// The stable name.
  public var name: String { rawValue }
  public var description: String { rawValue }

  /// One line: what the rule requires.
  public var summary: String {
    switch self {
    case .listTotal: "a page list's total equals the number of pages linked on it"
    case .listLinks:
      "list links are symmetric: the head's first has no previous, each next's previous is the page, "
        + "the walk ends at the head's last, every link names a PFN in the database"
    case .listCycle: "following a list's next links never comes back to a page already walked"
    case .listLocation: "every page linked on a list has that list's location"
    case .pageOnTwoLists: "no page is linked on two lists"
    case .lostPage: "every page whose location is a list is linked on that list"
    case .zeroedPageNotZero: "every page on the zeroed list reads as all zeroes"
    case .invalidFrame:
      "every PFN record has a known location and usage, and only RAM pages have a usage other than hole"
    case .holeInUse: "a hole (not RAM) is on no list"
    case .debugWindow: "every debug window is a nonempty canonical range within one half, of a known kind"
    case .pageTableStructure:
      "every paging structure is page-aligned, in RAM, inside the PFN database, used at one level only, "
        + "with no reserved bits set, and the walk completes"
    case .selfMapEntry: "the self-map slot of every PML4 points at that PML4"
    case .pageTableUsage: "every page used as a paging structure is ActiveAndValid with usage pageTable"
    case .pageTableLinkage:
      "a page table's PTE address and PTE frame name the entry referencing it (a PML4: its self-map entry, itself)"
    case .unreachablePageTable:
      "every ActiveAndValid page-table page is reachable from the kernel's or a process's PML4"
    case .largePageOutsideWindow: "large pages are mapped only inside debug windows"
    case .mapsInvalidFrame: "every valid accounted PTE maps a PFN in the database that is not a hole"
    case .mapsInactiveFrame: "every valid accounted PTE maps an ActiveAndValid page"
    case .pteAddressMismatch:
      "a page mapped by a valid accounted PTE names that PTE (its self-map address) as its PTE address"
    case .pteFrameMismatch:
      "a page mapped by a valid accounted PTE names the page table holding that PTE as its PTE frame"
    case .shareCount: "a page's share count equals the valid accounted PTEs that map it"
    case .pageTableShareCount: "a page table's share count equals its live (nonzero) entries"
    case .availablePages: "zeroed + free + standby list totals equal the guest's available-pages figure"
    case .controlAreaStructure:
      "an in-use control area has known flags, zero reserved fields, as many segment pages as its size needs "
        + "(at most 1 GiB), a file identity only if file-backed, and a segment directory naming pages in RAM"
    case .segmentPage:
      "a segment's directory and prototype-PTE pages are ActiveAndValid with usage segment, share and reference "
        + "count 0, owner 0, each named by exactly one in-use control area; every segment-usage page is one of them"
    case .prototypePTE:
      "a prototype PTE is valid, transition, a subsection PTE naming its own control area (file-backed), demand "
        + "zero or page file (page-file-backed), or 0 (SEC_RESERVE); a valid one's page is mapped by a PTE"
    case .prototypeBackPointer:
      "a section page in memory has the prototype flag, usage general, owner 0, its prototype PTE as PTE address "
        + "and that PTE's page as PTE frame, the original PTE its backing, and the location its prototype PTE says; "
        + "every prototype-flagged page in memory is named by that prototype PTE"
    case .viewSection:
      "a mapped VAD names an in-use control area with a segment, and its pages lie inside the section"
    case .prototypeMismatch:
      "a valid PTE of a view maps the PFN its prototype PTE names (or, in a write-copy view, a private page), and "
        + "a prototype-format PTE of a view names that view page's prototype PTE"
    case .controlAreaCounts:
      "a control area's pfnReferences count its valid and transition prototype PTEs, mappedViews its views, "
        + "userReferences its sections plus process views; it is being deleted exactly when no section or view is left"
    case .cleanFilePage:
      "a file-backed section page in memory that is not modified and not mapped dirty equals the file's bytes on "
        + "the FAT volume (zero past the file's end)"
    }
  }

  /// Position in report order.
  var order: Int { Self.allCases.firstIndex(of: self) ?? 0 }
}

/// One broken invariant, with where it was found.
public struct MmViolation: Sendable, Hashable, CustomStringConvertible {
  public var rule: MmRule
  /// The page concerned, if one is (may be out of range when a link names a PFN outside the database).
  public var pfn: UInt64?
  /// The virtual address concerned (a mapping's page, a table's first address), if one is.
  public var virtualAddress: UInt64?
  /// The process whose address space the finding is in; nil for the kernel's or none.
  public var processID: UInt32?
  /// What was found, for a person.
  public var message: String

  public init(
    rule: MmRule, pfn: UInt64? = nil, virtualAddress: UInt64? = nil, processID: UInt32? = nil, message: String
  ) {
    self.rule = rule
    self.pfn = pfn
    self.virtualAddress = virtualAddress
    self.processID = processID
    self.message = message
  }

  /// "[share-count] PFN 0x1a3 VA 0x400000 process 2: message".
  public var description: String {
    var text = "[\(rule.rawValue)]"
    if let pfn { text += " PFN \(hex(pfn))" }
    if let virtualAddress { text += " VA \(hex(virtualAddress))" }
    if let processID { text += " process \(processID)" }
    return text + ": " + message
  }

  /// The violation for a program: rule, message, and the pfn/va/process that apply.
  public var json: [String: Any] {
    var object: [String: Any] = ["rule": rule.rawValue, "message": message]
    if let pfn { object["pfn"] = hex(pfn) }
    if let virtualAddress { object["va"] = hex(virtualAddress) }
    if let processID { object["process"] = Int(processID) }
    return object
  }
}

/// What one validation found.
public struct MmValidationReport: Sendable {
  /// The violations kept (at most the validator's limit), sorted by rule (declaration
  /// order), then PFN, then virtual address, then process; findings without a PFN or
  /// address sort after those with one.
  public var violations: [MmViolation]
  /// All violations found, including those past the limit.
  public var violationCount: Int
  /// Violations found per rule (kept or not); rules with none are absent.
  public var countsByRule: [MmRule: Int]
  /// Pages walked on each list, in `PageLocation` order.
  public var pagesWalked: [UInt64]
  /// Address spaces walked (the kernel's plus distinct process PML4s).
  public var rootsWalked: Int
  /// Paging structures found.
  public var tablesFound: Int
  /// Distinct valid 4 KiB leaf PTEs outside the windows (the accounted ones).
  public var accountedLeaves: Int
  /// How long each part of the validation took.
  public var timings = MmValidationTimings()

  public init(
    violations: [MmViolation], violationCount: Int, countsByRule: [MmRule: Int], pagesWalked: [UInt64],
    rootsWalked: Int, tablesFound: Int, accountedLeaves: Int
  ) {
    self.violations = violations
    self.violationCount = violationCount
    self.countsByRule = countsByRule
    self.pagesWalked = pagesWalked
    self.rootsWalked = rootsWalked
    self.tablesFound = tablesFound
    self.accountedLeaves = accountedLeaves
  }

  /// True if no invariant is broken.
  public var isClean: Bool { violationCount == 0 }

  /// The violations of `rule` kept in the report.
  public func violations(of rule: MmRule) -> [MmViolation] { violations.filter { $0.rule == rule } }

  /// Every violation on its own line, then a summary line.
  public var text: String {
    var lines = violations.map(\.description)
    if violationCount > violations.count {
      lines.append("... and \(violationCount - violations.count) more violations")
    }
    let walked = zip(PageLocation.allCases, pagesWalked).map { "\($0.reportName) \($1)" }.joined(separator: ", ")
    lines.append(
      "\(violationCount) violations; lists walked: \(walked); \(rootsWalked) address spaces, \(tablesFound) tables, "
        + "\(accountedLeaves) accounted PTEs")
    return lines.joined(separator: "\n") + "\n"
  }
}

/// Where a validation's time went.
public struct MmValidationTimings: Sendable, Hashable {
  /// Walking the six page lists.
  public var lists: Duration
  /// Scanning the paging structures and enumerating every address space's leaves.
  public var pageTables: Duration
  /// The pass over the PFN database (records, share counts, zeroed-page content) and the totals.
  public var frames: Duration
  /// The section rules: control areas, segments, prototype PTEs, views, clean file pages.
  public var sections: Duration = .zero
  public var total: Duration

  public init(lists: Duration = .zero, pageTables: Duration = .zero, frames: Duration = .zero, total: Duration = .zero)
  {
    self.lists = lists
    self.pageTables = pageTables
    self.frames = frames
    self.total = total
  }
}
