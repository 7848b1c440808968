import GuestABI

/// How one step ended, as the host judged it.
public enum StepVerdict: String, Sendable, Codable {
  /// Its status is one the script accepts, and nothing it did broke a rule.
  case passed
  /// A status the script does not accept, or a violation.
  case failed
  /// No "expect": its status is reported, not judged (a violation still fails it).
  case reported
  /// The guest never ran it (it stopped before).
  case notRun = "not-run"
}

/// One step of a run: what the guest returned and what the host found.
public struct StepReport: Sendable {
  public var index: Int
  public var call: String
  public var status: UInt32?
  public var expect: [UInt32]?
  /// Out-parameters by name, with how each reads (protection, state, ...).
  public var outputs: [(name: String, value: UInt64, kind: OutputKind)]
  /// Microseconds the guest spent on the step (nil without a TSC rate).
  public var guestMicroseconds: Double?
  /// Rules the step broke: a failed call that changed state, an invariant
  /// broken after it.
  public var violations: [String]
  public var checkpointName: String?

  public var verdict: StepVerdict {
    guard let status else { return .notRun }
    if !violations.isEmpty { return .failed }
    // A Checkpoint is judged by the validator: clean is a pass.
    guard let expect else { return checkpointName != nil ? .passed : .reported }
    return expect.contains(status) ? .passed : .failed
  }
}

/// A whole run of a script.
public struct ScriptReport: Sendable {
  /// The platform that answered.
  public var platform: String
  public var steps: [StepReport]
  /// The guest's exit status (0 after the last batch), nil when it never got there.
  public var exitStatus: UInt8?
  /// What went wrong outside any step (the guest died, stopped where it should not).
  public var problems: [String]
  public var seconds: Double
  /// The first step after which an invariant broke (`--validate every-step`).
  public var firstBrokenStep: Int?

  public var passed: Int { steps.count { $0.verdict == .passed } }
  public var failed: Int { steps.count { $0.verdict == .failed } }
  public var reported: Int { steps.count { $0.verdict == .reported } }
  public var notRun: Int { steps.count { $0.verdict == .notRun } }
  /// True when every step got an acceptable status, nothing broke and the
  /// guest ran to a clean exit: the exit status is 0 exactly then.
  public var succeeded: Bool {
    failed == 0 && notRun == 0 && problems.isEmpty && exitStatus == GuestExitStatus.success.rawValue
  }
}
