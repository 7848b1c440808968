import GuestABI
import X86Paging

/// What `mmlab sections` shows: each in-use control area with its file, counts, segment,
/// the pages it has in memory, and its views (processes' and Cc's) with the pages they map.
public struct SectionReport {
  /// One view of a section in a process, or one in system space (Cc's or MmMapViewInSystemSpace's).
  public struct View {
    public var process: UInt32
    /// A view in system space (`process` is 0).
    public var system = false
    /// One of Cc's views (with `system`).
    public var cache = false
    public var start: UInt64
    public var end: UInt64
    public var sectionOffsetPages: UInt64
    public var protection: UInt8
    /// Valid PTEs in the view's range.
    public var pagesMapped: UInt64
  }

  /// One control area and what it has.
  public struct Area {
    public var area: MmControlArea
    /// The file's path on the volume, when a volume is at hand and the file is found.
    public var path: String?
    /// Valid prototype PTEs, and transition ones whose page is on standby, on modified.
    public var valid: UInt64 = 0
    public var standby: UInt64 = 0
    public var modified: UInt64 = 0
    /// Why the segment cannot be read, if it cannot.
    public var segmentProblem: String?
    public var views: [View] = []

    public var resident: UInt64 { valid + standby + modified }
  }

  /// View PTEs read at most, over all views (a view's pages mapped count stops there).
  public static let pteBudget: UInt64 = 1 << 22

  public let state: MmState
  public private(set) var areas: [Area] = []
  /// Views naming no in-use control area.
  public private(set) var strayViews: [View] = []
  /// Processes whose views cannot be listed (their VAD table is unreadable).
  public private(set) var unreadable: [UnreadableVadTable] = []

  /// The report of `state`; with `volume` (disk 0's FAT volume), files are named by path.
  public init(state: MmState, volume: FatImage? = nil) {
    self.state = state
    var byAddress: [UInt64: Int] = [:]
    for area in state.controlAreas {
      var entry = Area(area: area)
      if area.isFile { entry.path = volume?.path(ofFirstCluster: area.fileFirstCluster) }
      switch state.segment(of: area) {
      case nil: break
      case .failure(let problem)?: entry.segmentProblem = problem.description
      case .success(let segment)?: count(segment, into: &entry)
      }
      byAddress[area.address] = areas.count
      areas.append(entry)
    }
    let (views, unreadable) = state.views()
    self.unreadable = unreadable
    // PTEs read for all views together: bounded whatever the VADs claim.
    var budget = Self.pteBudget
    for view in views + state.systemViews() {
      var reader = LeafPTEReader(memory: state.memory, root: view.root)
      var mapped: UInt64 = 0
      let pages = min(view.pageCount, SegmentLayout.maximumPages, budget)
      budget -= pages
      for index in 0..<pages {
        if let (pte, _) = reader.entry(view.vad.start + index << 12), pte & 1 != 0 { mapped += 1 }
      }
      let row = View(
        process: view.process, system: view.isSystem, cache: view.isCacheView, start: view.vad.start, end: view.vad.end,
        sectionOffsetPages: view.vad.sectionOffsetPages, protection: view.vad.protection, pagesMapped: mapped)
      if let index = byAddress[view.controlArea] { areas[index].views.append(row) } else { strayViews.append(row) }
    }
  }

  private func count(_ segment: MmSegment, into entry: inout Area) {
    for page in 0..<segment.pages {
      switch SoftwarePTE(raw: state.prototypePTE(segment, page)) {
      case .valid: entry.valid += 1
      case .transition(let pfn, _):
        if state.frame(pfn)?.location == .modified { entry.modified += 1 } else { entry.standby += 1 }
      default: break
      }
    }
  }

  /// "/DATA.BIN (cluster 3)", "cluster 3", or "-" for the page file.
  public static func fileName(_ entry: Area) -> String {
    guard entry.area.isFile else { return "-" }
    let cluster = "cluster \(entry.area.fileFirstCluster)"
    return entry.path.map { "\($0) (\(cluster))" } ?? cluster
  }

  /// An aligned table of the control areas, each followed by its views.
  public var text: String {
    var lines = [
      "# \(areas.count) control area\(areas.count == 1 ? "" : "s") in \(state.controlAreaSlots) slots"
        + (state.controlAreaSlots > 0 ? " (table at \(hex(state.controlAreaTableAddress)))" : "")
    ]
    guard !areas.isEmpty || !strayViews.isEmpty else { return (lines + ["no sections"]).joined(separator: "\n") + "\n" }
    let header = [
      "slot", "kind", "file", "size", "flags", "sections", "views", "users", "pfns", "segment", "valid", "standby",
      "modified",
    ]
    var rows = [header]
    for entry in areas {
      let area = entry.area
      rows.append([
        "\(area.slot)", area.kindName, Self.fileName(entry), "\(area.sizeBytes)",
        area.flagNames.replacingOccurrences(of: " ", with: ","),
        "\(area.sections)", "\(area.mappedViews)", "\(area.userReferences)", "\(area.pfnReferences)",
        area.segmentDirectory == 0 ? "deleted" : "\(area.segmentPages) pages", "\(entry.valid)", "\(entry.standby)",
        "\(entry.modified)",
      ])
    }
    let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
    func line(_ row: [String]) -> String {
      row.enumerated().map { pad($1, widths[$0]) }.joined(separator: "  ").trimmingTrailingSpaces
    }
    lines.append(line(rows[0]))
    for (index, entry) in areas.enumerated() {
      lines.append(line(rows[index + 1]))
      if let problem = entry.segmentProblem { lines.append("  ! segment unreadable: \(problem)") }
      lines += entry.views.map { "  " + Self.viewLine($0) }
    }
    lines += strayViews.map { "! view naming no control area: " + Self.viewLine($0) }
    lines += unreadable.map { "! process \($0.process)'s views unknown: \($0.problem)" }
    return lines.joined(separator: "\n") + "\n"
  }

  static func viewLine(_ view: View) -> String {
    (view.cache ? "view: Cc system " : view.system ? "view: system space " : "view: process \(view.process) ")
      + "\(hex(view.start))-\(hex(view.end)) section offset \(hex(view.sectionOffsetPages << 12)) "
      + "protection \(hex(UInt64(view.protection))) pages mapped \(view.pagesMapped)"
  }

  public var json: [String: Any] {
    [
      "controlAreaSlots": state.controlAreaSlots, "controlAreaTable": hex(state.controlAreaTableAddress),
      "controlAreas": areas.map(Self.json), "strayViews": strayViews.map(Self.json),
      "unreadableVadTables": unreadable.map { ["process": Int($0.process), "problem": $0.problem.description] },
    ]
  }

  static func json(_ entry: Area) -> [String: Any] {
    let area = entry.area
    var object: [String: Any] = [
      "slot": area.slot, "address": hex(area.address), "kind": area.kindName, "flags": area.flagNames,
      "sizeBytes": area.sizeBytes, "sections": area.sections, "mappedViews": area.mappedViews,
      "userReferences": area.userReferences, "pfnReferences": area.pfnReferences, "protection": Int(area.protection),
      "segmentPages": area.segmentPages, "segmentDeleted": area.segmentDirectory == 0,
      "resident": ["valid": entry.valid, "standby": entry.standby, "modified": entry.modified],
      "views": entry.views.map(json),
    ]
    if area.isFile {
      var file: [String: Any] = ["firstCluster": Int(area.fileFirstCluster), "size": area.fileSize]
      if let path = entry.path { file["path"] = path }
      object["file"] = file
    }
    if let problem = entry.segmentProblem { object["segmentProblem"] = problem }
    return object
  }

  static func json(_ view: View) -> [String: Any] {
    [
      "process": Int(view.process), "system": view.system, "cache": view.cache, "start": hex(view.start),
      "end": hex(view.end),
      "sectionOffset": hex(view.sectionOffsetPages << 12), "protection": Int(view.protection),
      "pagesMapped": view.pagesMapped,
    ]
  }
}

extension String {
  fileprivate var trimmingTrailingSpaces: String {
    var text = self
    while text.last == " " { text.removeLast() }
    return text
  }
}
