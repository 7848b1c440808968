import GuestABI
import Inspect

/// The `mm` suite: every memory-manager scenario the guest knows, with the
/// host's invariant validator run at each of its checkpoints. A scenario is
/// a family; each checkpoint is a case that passes when the Mm state there
/// breaks no rule, and the run's exit is one more case (status 0).
public enum MmSuite {
  /// The seed the stress scenario runs with (a fixed one: the suite is a regression check).
  public static let stressSeed: UInt64 = 1

  /// Runs the scenarios this shard and filter select, in order.
  public static func run(boot: BootOptions, shard: (index: Int, count: Int)?, filter: String?) throws -> [FamilyResult]
  {
    var families: [FamilyResult] = []
    for (index, scenario) in ScenarioValidation.knownScenarios.enumerated() {
      if let shard, index % shard.count != shard.index - 1 { continue }
      let name = "mm/\(scenario)"
      if let filter, !name.lowercased().contains(filter.lowercased()) { continue }
      let seed = scenario == "stress" ? stressSeed : nil
      let began = ContinuousClock.now
      let validation = try ScenarioValidation.run(boot, scenario: scenario, seed: seed)
      var family = judge(validation, name: name)
      family.seconds = (ContinuousClock.now - began) / .seconds(1)
      families.append(family)
    }
    return families
  }

  /// One scenario's family from its validation: a case per checkpoint, one for the exit.
  static func judge(_ validation: ScenarioValidation, name: String) -> FamilyResult {
    var family = FamilyResult(suite: .mm, name: name)
    for checkpoint in validation.checkpoints {
      let report = checkpoint.report
      guard !report.isClean else {
        family.record(.passed)
        continue
      }
      let first = report.violations.prefix(3).map(\.description).joined(separator: "; ")
      family.record(
        .failed,
        mismatch: Mismatch(
          caseDescription: "\(name) at checkpoint \(checkpoint.checkpoint.name)",
          expected: "no invariant broken", observed: "\(report.violationCount) violations: \(first)"))
    }
    if validation.exitStatus == GuestExitStatus.success.rawValue {
      family.record(.passed)
    } else {
      family.record(
        .failed,
        mismatch: Mismatch(
          caseDescription: "\(name) exit", expected: "exit status 0",
          observed: "exit status \(validation.exitStatus)" + (validation.exception.map { ", \($0.summary)" } ?? "")))
    }
    return family
  }
}
