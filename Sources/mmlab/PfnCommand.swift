import ArgumentParser
import Foundation
import Inspect
import Machine

/// `mmlab pfn`: the PFN database, as totals, one page, or a picture.
struct PfnCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pfn",
    abstract: "Show the guest's PFN database: list totals, one page in detail, or a map of physical memory.",
    discussion: """
      Boots the guest to a checkpoint (or reads a core file) and decodes the PFN database the \
      guest's debug block names. Without --pfn: pages per list and per class. With --pfn N: the \
      record, the PTE that maps the page (and the address it maps), the owning process. \
      --format svg draws physical memory as a map of pages coloured by list, with a legend; \
      write it with --output map.svg and open it in a browser.

      Numbers the guest cannot hold (a list total above its pages, a list end past the \
      database, a VAD committing more pages than it spans) are flagged as corrupt: in text \
      beside the number and as "!" lines, in JSON as "corrupt": [{"field", "value", "bound"}]; \
      the report is still written, and the command exits 1.
      """
  )

  @OptionGroup var target: SnapshotArguments

  @Option(name: .long, help: "One page frame number to show in detail.", transform: StrictArgument.number)
  var pfn: UInt64?

  @Option(name: .long, help: "Output format: text, json or svg.")
  var format: PfnFormat = .text

  @Option(name: .long, help: "Write the report to this file instead of standard output.")
  var output: String?

  func validate() throws {
    if pfn != nil, format == .svg { throw ValidationError("--format svg draws all of memory; it takes no --pfn") }
  }

  func run() throws {
    let snapshot = try target.snapshot()
    let report = PfnReport(state: try ScenarioValidation.state(of: snapshot), volume: target.volume(for: snapshot))
    try emit(render(report, source: snapshot.source, platform: snapshot.platform))
    let corrupt = report.corruptions
    if !corrupt.isEmpty {
      throw CommandFailure(
        "the PFN database is corrupt: \(corrupt.count) number\(corrupt.count == 1 ? "" : "s") beyond what this guest "
          + "allows, first \(corrupt[0])")
    }
  }

  func render(_ report: PfnReport, source: String, platform: Platform?) throws -> String {
    let origin = source + (platform.map { ", on \($0)" } ?? "")
    if let pfn {
      guard let detail = report.detail(pfn: pfn) else {
        throw CommandFailure("PFN \(pfn) is outside the database (\(report.state.pfnCount) pages)")
      }
      return format == .json ? renderJSON(detail.json) : "# \(origin)\n" + detail.text
    }
    switch format {
    case .text: return "# \(origin)\n" + report.summaryText()
    case .json:
      var object = report.summaryJSON()
      object["source"] = source
      if let platform { object["platform"] = platform.jsonObject }
      return renderJSON(object)
    case .svg: return PhysicalMemoryMap(classes: report.pageClasses).svg(caption: "mmlab physical memory, \(origin)")
    }
  }

  func emit(_ text: String) throws {
    guard let output else { return Terminal.writeReport(text) }
    guard FileManager.default.createFile(atPath: output, contents: Data(text.utf8)) else {
      throw CommandFailure("cannot write \(output)")
    }
    Terminal.note("wrote \(output)")
  }
}

enum PfnFormat: String, ExpressibleByArgument, CaseIterable {
  case text, json, svg
}
