import ArgumentParser
import Conformance
import Foundation
import Synchronization

extension Conformance.ReportFormat: ExpressibleByArgument {}
extension ConformanceSuite: ExpressibleByArgument {}

/// `mmlab conformance`: the hardware conformance suite.
struct ConformanceCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "conformance",
    abstract: "Run the x86 paging conformance suite: the CPU (through KVM) against the X86Paging model.",
    discussion: """
      The guest performs memory accesses under combinations of paging-structure flags at every \
      level, page sizes and CPU controls (CR0.WP, EFER.NXE, CR4.SMEP/SMAP, RFLAGS.AC, CPL), records \
      what happened (fault, vector, error code, CR2, the A and D bits of every level) and the host \
      checks each case against the model. Suites: paging (the combination space, about 1.9 million \
      cases), tlb (a changed leaf after INVLPG, CR3 loads with and without PCID, global pages), \
      canonical (non-canonical addresses raise #GP), controls (CR0/CR4/EFER writes: taken or #GP), \
      mm (the memory manager's scenarios under the invariant validator), all. Cases needing a \
      feature the CPU lacks are skipped with the reason; mismatches that an erratum in the bundled \
      errata file explains for this platform are expected failures; cases a skip erratum keeps \
      from running are skipped with its id. Exits 0 only when some case was tested and none \
      failed unexpectedly: a run that selects no case, or skips every one, exits 1.
      """
  )

  @OptionGroup var boot: BootArguments

  @Option(name: .long, help: "paging, tlb, canonical, controls, mm or all.")
  var suite: String = "all"

  @Option(name: .long, help: "Only cases whose family or description contains TEXT (case-insensitive).")
  var filter: String?

  @Option(name: .long, help: "Report format: text, json, junit or tap.")
  var format: Conformance.ReportFormat = .text

  @Option(name: .long, help: "Write the report to FILE instead of standard output.")
  var output: String?

  @Option(name: .long, help: "Run shard I of N (1-based): every Nth case, for spreading a run over machines.")
  var shard: String?

  @Option(
    name: .long, help: "Guests to run in parallel (default: the number of CPUs).", transform: StrictArgument.count)
  var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

  @Option(name: .long, help: "An errata file to use instead of the bundled one.")
  var errata: String?

  @Option(
    name: .long,
    help:
      "With --backend libvirt: libvirt URIs to spread the run over, comma-separated (--jobs guests on each); their results merge into one report."
  )
  var hosts: String?

  func validate() throws {
    _ = try suites()
    _ = try parsedShard()
    guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 64 (got \(jobs))") }
    if let filter, filter.isEmpty { throw ValidationError("--filter needs some text") }
    if let hosts, hostURIs(hosts).isEmpty { throw ValidationError("--hosts needs at least one libvirt URI") }
    if hosts != nil, boot.backend != .libvirt {
      throw ValidationError("--hosts spreads the run over libvirt hosts: add --backend libvirt")
    }
  }

  /// The suites `--suite` names.
  func suites() throws -> [ConformanceSuite] {
    if suite == "all" { return ConformanceSuite.allCases }
    guard let one = ConformanceSuite(rawValue: suite) else {
      let names = ConformanceSuite.allCases.map(\.rawValue).joined(separator: ", ")
      throw ValidationError("no suite \"\(suite)\"; choose one of \(names) or all")
    }
    return [one]
  }

  /// `--shard I/N` as numbers.
  func parsedShard() throws -> (index: Int, count: Int)? {
    guard let shard else { return nil }
    let parts = shard.split(separator: "/")
    guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1,
      (1...count).contains(index)
    else { throw ValidationError("--shard must be I/N with 1 <= I <= N, e.g. 2/4 (got \"\(shard)\")") }
    return (index, count)
  }

  /// `--hosts` split at commas, blanks dropped.
  func hostURIs(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
  }

  func run() throws {
    var options = ConformanceOptions(
      suites: try suites(), filter: filter, shard: try parsedShard(), jobs: jobs, boot: try boot.options(),
      errata: try errata.map { try Errata.load(from: URL(fileURLWithPath: $0)) } ?? Errata.bundled)
    // A request is thousands of cases: give each at least a minute, however
    // busy the machine (the guests share it with the host's judging).
    options.boot.timeoutSeconds = max(options.boot.timeoutSeconds, 60)
    if let hosts {
      options.hosts = hostURIs(hosts).map { .libvirt(uri: $0, accelerator: boot.accel ?? .kvm) }
      options.boot.backend = options.hosts[0]
    }
    let report = try ConformanceCommand.execute(options)
    try Terminal.writeReport(render(report, as: format), to: output)
    if let nothing = report.nothingTested { Terminal.note("conformance: nothing tested: \(nothing)") }
    if !report.succeeded { throw ExitCode.failure }
  }

  /// Runs the suites with a progress bar on a terminal.
  static func execute(_ options: ConformanceOptions) throws -> ConformanceReport {
    let bar = Mutex<ProgressBar?>(nil)
    let runner = ConformanceRunner(options: options) { done, total in
      bar.withLock { bar in
        if bar == nil { bar = ProgressBar(total: total) }
        bar?.update(done: done)
      }
    }
    defer { bar.withLock { $0?.finish() } }
    return try runner.run()
  }
}
