import ArgumentParser
import Inspect
import Script

/// `mmlab validate`: a scenario with every invariant checked at every checkpoint.
struct ValidateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "validate",
    abstract: "Run a scenario and check the memory manager's invariants at every checkpoint.",
    discussion: """
      A scenario is a script of NT calls (`mmlab script --help`): the shipped ones \
      (Images/scripts) or the generated stress (--seed). At each Checkpoint step the host reads \
      the guest's PFN database, page lists and every process's page tables through the debug \
      block and checks: list totals, links and cycles; no page on two lists or lost; zeroed pages \
      read as zeroes; every valid PTE maps an ActiveAndValid page whose PTE address names it; \
      share counts; page-table live entries; available pages; sections (control areas and their \
      segments, prototype PTEs and the pages they name, every view's PTEs against them, the \
      control areas' counts, clean file pages against the FAT volume of disk 0); and every step's \
      status and that a failed call changed nothing. Each violation is printed with its PFN, virtual address, \
      process and rule. Exits 1 on any violation or if the guest does not exit cleanly. Without \
      --scenario the guest boots and is checked at its first checkpoint only.
      """
  )

  @OptionGroup var boot: BootArguments

  @Option(name: .long, help: "The scenario to run: \(ScriptLibrary.names.joined(separator: ", ")).")
  var scenario: String?

  @Option(name: .long, help: "Seed of the stress scenario.", transform: StrictArgument.number)
  var seed: UInt64?

  @Option(name: .long, help: "Output format: text or json.")
  var format: ReportFormat = .text

  func validate() throws {
    if let scenario, !ScriptLibrary.names.contains(scenario) {
      throw ValidationError("no scenario \"\(scenario)\"; known: \(ScriptLibrary.names.joined(separator: ", "))")
    }
    if seed != nil, scenario != "stress" { throw ValidationError("--seed goes with --scenario stress") }
  }

  func run() throws {
    guard let scenario, let text = ScriptLibrary.text(scenario, seed: seed ?? 1) else {
      let result = try ScenarioValidation.run(boot.options())
      Terminal.writeReport(format == .json ? renderJSON(result.json) : result.text)
      if !result.passed { throw ExitCode.failure }
      return
    }
    let report = try ScriptRunner(script: try Script.parse(text), options: ScriptOptions(boot: boot.options())).run()
    Terminal.writeReport(format == .json ? report.json : report.text)
    if !report.succeeded { throw ExitCode.failure }
  }
}
