import GuestABI
import Machine

/// One checkpoint's verdict.
public struct CheckpointValidation: Sendable {
  public var checkpoint: Checkpoint
  public var report: MmValidationReport
}

/// A scenario run with the invariants checked at every checkpoint.
public struct ScenarioValidation: Sendable {
  public var scenario: String?
  public var seed: UInt64?
  public var checkpoints: [CheckpointValidation]
  public var exitStatus: UInt8
  public var exception: GuestException?
  /// What answered (every report names it).
  public var platform: Platform

  /// True when the guest ran to a clean exit and no checkpoint had a violation.
  public var passed: Bool {
    exitStatus == GuestExitStatus.success.rawValue && checkpoints.allSatisfy { $0.report.isClean }
  }

  /// The scenario names the guest knows.
  public static var knownScenarios: [String] {
    let prefix = String(describing: GuestCommandLine.scenarioPrefix)
    return GuestScenario.all.map { String(String(describing: $0).dropFirst(prefix.count)) }
  }

  /// The guest's command-line words for `scenario` and `seed`.
  public static func commandLine(scenario: String?, seed: UInt64?) -> [String] {
    var words: [String] = []
    if let scenario { words.append(String(describing: GuestCommandLine.scenarioPrefix) + scenario) }
    if let seed { words.append("seed=\(seed)") }
    return words
  }

  /// Boots the guest with `scenario`, validates the Mm state at each
  /// checkpoint, and runs it to its exit.
  public static func run(
    _ options: BootOptions, scenario: String?, seed: UInt64?, console: @escaping (String) -> Void = { _ in }
  ) throws(SessionError) -> ScenarioValidation {
    var boot = options
    boot.commandLine += commandLine(scenario: scenario, seed: seed)
    let session = try Session(options: boot, console: console)
    var results: [CheckpointValidation] = []
    do {
      while true {
        let checkpoint = try session.run(toCheckpoint: nil)
        let snapshot = try GuestSnapshot(session: session, checkpoint: checkpoint)
        results.append(CheckpointValidation(checkpoint: checkpoint, report: try validate(snapshot)))
      }
    } catch .guestExited(let status, let exception, _, _) {
      return ScenarioValidation(
        scenario: scenario, seed: seed, checkpoints: results, exitStatus: status, exception: exception,
        platform: session.machine.platform)
    }
  }

  /// The invariant check of one snapshot.
  public static func validate(_ snapshot: GuestSnapshot) throws(SessionError) -> MmValidationReport {
    MmValidator(state: try state(of: snapshot), maxPhysicalAddressBits: snapshot.maxPhysicalAddressBits).validate()
  }

  /// The guest's Mm state, decoded through its debug block.
  public static func state(of snapshot: GuestSnapshot) throws(SessionError) -> MmState {
    guard let block = snapshot.debugBlockAddress else {
      throw .inspection("the guest reported no debug block: it is not an mmlab guest with a memory manager")
    }
    do {
      return try MmState(memory: snapshot.memory, debugBlockAddress: block)
    } catch {
      throw .inspection("the guest's debug block cannot be decoded: \(error)")
    }
  }
}
