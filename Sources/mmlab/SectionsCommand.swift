import ArgumentParser
import Inspect

/// `mmlab sections`: the guest's sections, their pages in memory and their views.
struct SectionsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sections",
    abstract: "List the guest's sections: control areas, their files, counts, resident pages and views.",
    discussion: """
      Boots the guest to a checkpoint (or reads a core file) and decodes the control-area table \
      the guest's debug block names. For each control area: its slot, kind (file or page file), \
      file (first cluster, and its path when a FAT volume is at hand: the guest's disk 0, or \
      --disk with --core), size, flags, the four counts (sections, views, user references, pages \
      in memory), segment pages, the pages in memory (valid prototype PTEs, transition ones on \
      standby and on modified), and each view: process (or system space: one of Cc's views, or \
      one NtMapViewOfSection with ProcessHandle "System" mapped), address range, section offset, \
      protection and pages mapped (valid PTEs). JSON: {"controlAreaSlots", "controlAreaTable", \
      "controlAreas": [{"slot", "address", "kind", "flags", "sizeBytes", "sections", \
      "mappedViews", "userReferences", "pfnReferences", "protection", "segmentPages", \
      "segmentDeleted", "resident": {"valid", "standby", "modified"}, "file": {"firstCluster", \
      "size", "path"?}, "views": [{"process", "system", "cache", "start", "end", "sectionOffset", \
      "protection", "pagesMapped"}]}], "strayViews", "unreadableVadTables"}.
      """
  )

  @OptionGroup var target: SnapshotArguments

  @Option(name: .long, help: "Output format: text or json.")
  var format: ReportFormat = .text

  func run() throws {
    let snapshot = try target.snapshot()
    let report = SectionReport(
      state: try ScenarioValidation.state(of: snapshot), volume: target.volume(for: snapshot))
    var json = report.json
    json["source"] = snapshot.source
    Terminal.writeReport(format == .json ? renderJSON(json) : "# \(snapshot.source)\n" + report.text)
  }
}
