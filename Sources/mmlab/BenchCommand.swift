import ArgumentParser
import Inspect

/// `mmlab bench`: the figures later work is measured against.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure boot time, page-table walk throughput and the platform's floor costs.",
    discussion: """
      Prints the platform, the boot time (VM creation to the first checkpoint, median of \
      --boot-runs boots), the walk throughput (leaf PTEs per second over the guest's tables with \
      256 MiB mapped in 4 KiB pages, median of --walk-runs walks), and what the platform's \
      unavoidable events cost as the guest measures them with rdtsc (a #PF round trip, an \
      INVLPG, a write to a live page-table page, a port exit). Build with -c release for \
      figures worth quoting: a debug build says so in its output.
      """
  )

  @OptionGroup var boot: BootArguments

  @Option(name: .long, help: "Boots to time.")
  var bootRuns = 21

  @Option(name: .long, help: "Walks to time.")
  var walkRuns = 21

  @Option(name: .long, help: "Output format: text or json.")
  var format: ReportFormat = .text

  func validate() throws {
    guard (1...10_000).contains(bootRuns), (1...10_000).contains(walkRuns) else {
      throw ValidationError("--boot-runs and --walk-runs must be between 1 and 10000")
    }
  }

  func run() throws {
    let report = try BenchmarkReport.measure(
      BenchmarkOptions(boot: boot.options(), bootRuns: bootRuns, walkRuns: walkRuns))
    switch format {
    case .text: Terminal.writeReport(report.text(optimized: BuildConfiguration.optimized))
    case .json: Terminal.writeReport(renderJSON(report.json(optimized: BuildConfiguration.optimized)))
    }
  }
}

enum BuildConfiguration {
  #if DEBUG
    static let optimized = false
  #else
    static let optimized = true
  #endif
}
