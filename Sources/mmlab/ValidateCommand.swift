import ArgumentParser
import Inspect

/// `mmlab validate`: a scenario with every invariant checked at every checkpoint.
struct ValidateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "validate",
    abstract: "Run a guest scenario and check the memory manager's invariants at every checkpoint.",
    discussion: """
      At each checkpoint the host reads the guest's PFN database, page lists and every process's \
      page tables through the debug block and checks: list totals, links and cycles; no page on \
      two lists or lost; zeroed pages read as zeroes; every valid PTE maps an ActiveAndValid page \
      whose PTE address names it; share counts; page-table live entries; available pages. Each \
      violation is printed with its PFN, virtual address, process and rule. Exits 1 on any \
      violation or if the guest does not exit cleanly. Without --scenario the guest boots and \
      is checked at its first checkpoint only.
      """
  )

  @OptionGroup var boot: BootArguments

  @Option(
    name: .long,
    help: "The scenario to run: \(ScenarioValidation.knownScenarios.joined(separator: ", ")).")
  var scenario: String?

  @Option(name: .long, help: "Seed for scenarios that draw random operations.")
  var seed: UInt64?

  @Option(name: .long, help: "Output format: text or json.")
  var format: ReportFormat = .text

  func validate() throws {
    if let scenario, !ScenarioValidation.knownScenarios.contains(scenario) {
      throw ValidationError(
        "no scenario \"\(scenario)\"; the guest knows: \(ScenarioValidation.knownScenarios.joined(separator: ", "))")
    }
  }

  func run() throws {
    let result = try ScenarioValidation.run(boot.options(), scenario: scenario, seed: seed)
    switch format {
    case .text: Terminal.writeReport(result.text)
    case .json: Terminal.writeReport(renderJSON(result.json))
    }
    if !result.passed { throw ExitCode.failure }
  }
}
