import Foundation
import GuestABI

/// Physical memory drawn as a map of pages coloured by what they are: one
/// small square per page, rows of `columns` pages, runs of one colour in a row
/// drawn as one rectangle (a 1 GiB guest is 262,144 pages), and a legend with
/// each class's count.
public struct PhysicalMemoryMap {
  /// What a page is, for colouring: its list, or for active pages their use.
  public enum PageClass: Int, CaseIterable, Sendable {
    case zeroed, free, standby, modified, modifiedNoWrite, bad
    case active, section, segment, pageTable, kernelImage, pfnDatabase, reserved, transition, hole

    public var name: String {
      switch self {
      case .zeroed: "zeroed"
      case .free: "free"
      case .standby: "standby"
      case .modified: "modified"
      case .modifiedNoWrite: "modified (no write)"
      case .bad: "bad"
      case .active: "active (mapped)"
      case .section: "section page (through a prototype PTE)"
      case .segment: "segment (prototype PTEs)"
      case .pageTable: "page table"
      case .kernelImage: "kernel image"
      case .pfnDatabase: "PFN database and boot data"
      case .reserved: "reserved / window backing"
      case .transition: "transition"
      case .hole: "not RAM"
      }
    }

    /// Colours chosen to tell lists apart at a glance and to read for the colour-blind.
    public var color: String {
      switch self {
      case .zeroed: "#e8f4fa"
      case .free: "#9ecae1"
      case .standby: "#fdd49e"
      case .modified: "#fc8d59"
      case .modifiedNoWrite: "#d7301f"
      case .bad: "#000000"
      case .active: "#41ab5d"
      case .section: "#1d91c0"
      case .segment: "#253494"
      case .pageTable: "#756bb1"
      case .kernelImage: "#636363"
      case .pfnDatabase: "#bdbdbd"
      case .reserved: "#fee391"
      case .transition: "#c994c7"
      case .hole: "#ffffff"
      }
    }

    /// The class of a page from its record's location, usage and flags bytes: a page
    /// with the prototype flag that is in memory (active, standby or modified) is a
    /// section page, whichever list it is on.
    public init(location: UInt8, usage: UInt8, flags: UInt8 = 0) {
      if usage == PageUsage.general.rawValue, flags & PageFrameFlags.prototype.rawValue != 0,
        location == PageLocation.activeAndValid.rawValue || location == PageLocation.standby.rawValue
          || location == PageLocation.modified.rawValue
      {
        self = .section
        return
      }
      switch PageUsage(rawValue: usage) {
      case .hole?: self = .hole
      case .segment?: self = .segment
      case .pageTable?: self = .pageTable
      case .kernelImage?: self = .kernelImage
      case .pfnDatabase?: self = .pfnDatabase
      case .loaderReserved?, .windowBacking?, .segment?: self = .reserved
      case .general?, nil:
        switch PageLocation(rawValue: location) {
        case .zeroed?: self = .zeroed
        case .free?: self = .free
        case .standby?: self = .standby
        case .modified?: self = .modified
        case .modifiedNoWrite?: self = .modifiedNoWrite
        case .bad?, nil: self = .bad
        case .activeAndValid?: self = .active
        case .transition?: self = .transition
        }
      }
    }
  }

  public var classes: [PageClass]
  public var columns: Int
  /// Pixels per page square.
  public var cell: Int

  public init(classes: [PageClass], columns: Int = 256, cell: Int = 4) {
    self.classes = classes
    self.columns = max(1, columns)
    self.cell = max(1, cell)
  }

  /// The SVG document, with a title naming `caption`.
  public func svg(caption: String) -> String {
    let rows = (classes.count + columns - 1) / columns
    let mapWidth = columns * cell
    let legendTop = rows * cell + 16
    let present = Set(classes).count
    let height = legendTop + present * 16 + 8
    var out = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(max(mapWidth, 320) + 16)" height="\(height + 24)" \
      font-family="sans-serif" font-size="11">
      <title>\(escapeXML(caption))</title>
      <text x="8" y="14">\(escapeXML(caption))</text>
      <g transform="translate(8,20)" shape-rendering="crispEdges">

      """
    for row in 0..<rows { out += rowRects(row) }
    out += legend(top: legendTop)
    out += "</g>\n</svg>\n"
    return out
  }

  /// One rectangle per run of equal classes in `row`.
  private func rowRects(_ row: Int) -> String {
    var out = ""
    let start = row * columns
    let end = min(start + columns, classes.count)
    var runStart = start
    while runStart < end {
      var runEnd = runStart + 1
      while runEnd < end, classes[runEnd] == classes[runStart] { runEnd += 1 }
      let x = (runStart - start) * cell
      out += "<rect x=\"\(x)\" y=\"\(row * cell)\" width=\"\((runEnd - runStart) * cell)\" height=\"\(cell)\" "
      out +=
        "fill=\"\(classes[runStart].color)\"><title>PFN \(runStart)-\(runEnd - 1): \(classes[runStart].name)</title></rect>\n"
      runStart = runEnd
    }
    return out
  }

  /// A swatch, name and page count per class present.
  private func legend(top: Int) -> String {
    var counts = [Int](repeating: 0, count: PageClass.allCases.count)
    for pageClass in classes { counts[pageClass.rawValue] += 1 }
    var out = ""
    var y = top
    for pageClass in PageClass.allCases where counts[pageClass.rawValue] > 0 {
      out += "<rect x=\"0\" y=\"\(y)\" width=\"12\" height=\"12\" fill=\"\(pageClass.color)\" stroke=\"#444\"/>"
      out += "<text x=\"18\" y=\"\(y + 10)\">\(pageClass.name): \(counts[pageClass.rawValue]) pages</text>\n"
      y += 16
    }
    return out
  }
}

func escapeXML(_ text: String) -> String {
  text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
