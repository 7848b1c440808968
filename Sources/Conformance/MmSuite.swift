import GuestABI
import Inspect
import Script

/// The `mm` suite: every scenario mmlab knows (the shipped scripts and the
/// generated stress), run with the host's invariant validator at each
/// Checkpoint step. A scenario is a family; each step is a case that passes
/// when its status is accepted and it broke no rule, and the run's exit is
/// one more case (status 0).
public enum MmSuite {
  /// The seed the stress scenario runs with (a fixed one: the suite is a regression check).
  public static let stressSeed: UInt64 = 1

  /// Runs the scenarios this shard and filter select, in order.
  public static func run(boot: BootOptions, shard: (index: Int, count: Int)?, filter: String?) throws -> [FamilyResult]
  {
    var families: [FamilyResult] = []
    for (index, scenario) in ScriptLibrary.names.enumerated() {
      if let shard, index % shard.count != shard.index - 1 { continue }
      let name = "mm/\(scenario)"
      if let filter, !name.lowercased().contains(filter.lowercased()) { continue }
      guard let text = ScriptLibrary.text(scenario, seed: stressSeed) else { continue }
      let began = ContinuousClock.now
      let report = try ScriptRunner(script: try Script.parse(text), options: ScriptOptions(boot: boot)).run()
      var family = judge(report, name: name)
      family.seconds = (ContinuousClock.now - began) / .seconds(1)
      families.append(family)
    }
    return families
  }

  /// One scenario's family from its run: a case per step, one for the guest's exit.
  static func judge(_ report: ScriptReport, name: String) -> FamilyResult {
    var family = FamilyResult(suite: .mm, name: name)
    for step in report.steps {
      guard step.verdict == .failed || step.verdict == .notRun else {
        family.record(.passed)
        continue
      }
      let observed =
        (step.status.map(NtNames.describeStatus) ?? "not run")
        + (step.violations.isEmpty ? "" : ": " + step.violations.prefix(3).joined(separator: "; "))
      family.record(
        .failed,
        mismatch: Mismatch(
          caseDescription: "\(name) step #\(step.index) \(step.call)",
          expected: step.expectText ?? "no invariant broken", observed: observed))
    }
    if report.exitStatus == GuestExitStatus.success.rawValue && report.problems.isEmpty {
      family.record(.passed)
    } else {
      family.record(
        .failed,
        mismatch: Mismatch(
          caseDescription: "\(name) exit", expected: "exit status 0",
          observed: report.problems.first ?? "exit status \(report.exitStatus.map(String.init) ?? "none")"))
    }
    return family
  }
}
