import GuestABI
import Machine

/// One checkpoint's verdict.
public struct CheckpointValidation: Sendable {
  public var checkpoint: Checkpoint
  public var report: MmValidationReport
}

/// The guest booted without a script, the invariants checked at every
/// checkpoint it stops at, and run to its exit (scenarios are scripts:
/// `ScriptRunner` runs them). Also the decoding and validation of one snapshot.
public struct ScenarioValidation: Sendable {
  public var checkpoints: [CheckpointValidation]
  public var exitStatus: UInt8
  public var exception: GuestException?
  /// What answered (every report names it).
  public var platform: Platform

  /// True when the guest ran to a clean exit and no checkpoint had a violation.
  public var passed: Bool {
    exitStatus == GuestExitStatus.success.rawValue && checkpoints.allSatisfy { $0.report.isClean }
  }

  /// Boots the guest, validates the Mm state at each checkpoint, and runs it to its exit.
  public static func run(_ options: BootOptions, console: @escaping (String) -> Void = { _ in }) throws(SessionError)
    -> ScenarioValidation
  {
    let session = try Session(options: options, console: console)
    var results: [CheckpointValidation] = []
    do {
      while true {
        let checkpoint = try session.run(toCheckpoint: nil)
        let snapshot = try GuestSnapshot(session: session, checkpoint: checkpoint)
        results.append(CheckpointValidation(checkpoint: checkpoint, report: try validate(snapshot)))
      }
    } catch .guestExited(let status, let exception, _, _) {
      return ScenarioValidation(
        checkpoints: results, exitStatus: status, exception: exception, platform: session.machine.platform)
    }
  }

  /// The invariant check of one snapshot.
  public static func validate(_ snapshot: GuestSnapshot) throws(SessionError) -> MmValidationReport {
    MmValidator(
      state: try state(of: snapshot), maxPhysicalAddressBits: snapshot.maxPhysicalAddressBits,
      volume: snapshot.volume
    ).validate()
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
