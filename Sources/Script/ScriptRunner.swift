import Dispatch
import GuestABI
import GuestImage
import Inspect
import Machine

/// What `mmlab script` was asked to do with a script.
public struct ScriptOptions: Sendable {
  public var boot: BootOptions
  public var validation: ValidationPolicy
  /// Let the guest serve test-only calls (`script.test-hooks`).
  public var testHooks: Bool

  public init(boot: BootOptions = BootOptions(), validation: ValidationPolicy = .checkpoints, testHooks: Bool = false) {
    self.boot = boot
    self.validation = validation
    self.testHooks = testHooks
  }
}

/// Runs a checked script in a guest: streams its steps in batches, inspects
/// the Mm where the steps ask (state before a step that may fail, the state
/// after it, the validator at checkpoints), and judges every step.
public final class ScriptRunner {
  public let script: Script
  public let options: ScriptOptions
  var steps: [StepReport]
  var before: [Int: MmStateCapture] = [:]
  var problems: [String] = []
  var firstBrokenStep: Int?

  public init(script: Script, options: ScriptOptions) {
    self.script = script
    self.options = options
    steps = script.steps.map {
      StepReport(
        index: $0.index, call: $0.spec.name, status: nil, expect: $0.expect, outputs: [], guestMicroseconds: nil,
        violations: [], checkpointName: $0.checkpointName)
    }
  }

  /// The guest's options: the script's RAM, and the interpreter (with its
  /// test hooks when asked) on the command line.
  var bootOptions: BootOptions {
    get throws(SessionError) {
      var boot = options.boot
      if let memory = script.memoryMiB { boot.memoryMiB = memory }
      if boot.disks.isEmpty, !script.disks.isEmpty {
        // The script's own disks, each a private copy (the command line's --disk wins over them).
        let paths = try script.disks.map { (name) throws(SessionError) -> String in
          guard name == Script.defaultDisk else { return name }
          guard let path = GuestImage.defaultDiskPath else {
            throw .image("the script asks for the default disk, which the package build did not make")
          }
          return path
        }
        boot.disks = try DiskCopies.scratchCopies(of: paths)
      }
      return boot.withScript(testHooks: options.testHooks)
    }
  }
}

extension BootOptions {
  /// The interpreter (with its test hooks when asked) on the command line.
  func withScript(testHooks: Bool) -> BootOptions {
    var boot = self
    boot.commandLine.append(String(describing: GuestCommandLine.script))
    if testHooks { boot.commandLine.append(String(describing: GuestCommandLine.scriptTestHooks)) }
    return boot
  }
}

extension ScriptRunner {

  /// Refuses, before anything boots, a backend that cannot write guest RAM:
  /// the batches go through it.
  static func requireWritableRAM(_ boot: BootOptions) throws(SessionError) {
    guard case .libvirt = boot.backend, boot.libvirtMemoryAccess == .peek else { return }
    throw .inspection(
      "scripts need to write guest RAM, which peek mode cannot (virDomainMemoryPeek is read-only): "
        + "use --guest-memory file (a local daemon) or volume")
  }

  /// Boots the guest, runs every batch, and returns the judged report.
  public func run() throws(SessionError) -> ScriptReport {
    let start = DispatchTime.now()
    try Self.requireWritableRAM(options.boot)
    let session = try Session(options: bootOptions)
    var exitStatus: UInt8?
    do {
      let guest = try ScriptGuest(session: session)
      var first = 0
      while first < script.steps.count {
        let batch = script.batch(from: first)
        try guest.send(batch, policy: options.validation) { (stop) throws(SessionError) in
          try self.inspect(stop, session: session)
          return true
        }
        record(batch, guest.results(count: batch.count), tscKHz: session.machine.timeStampCounterKHz)
        first += batch.count
      }
      exitStatus = try guest.finish()
    } catch .guestExited(let status, let exception, _, _) {
      exitStatus = status
      problems.append(
        "the guest exited with status \(status) before the script's end" + (exception.map { ": \($0.summary)" } ?? ""))
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    return ScriptReport(
      platform: session.machine.platform.description, steps: steps, exitStatus: exitStatus, problems: problems,
      seconds: seconds, firstBrokenStep: firstBrokenStep)
  }

  /// Runs the script to the Checkpoint step named `name` and returns the
  /// guest's state there, the guest kept stopped (for the inspection commands'
  /// `--script`). The script must have such a step.
  public func snapshot(atCheckpoint name: String) throws(SessionError) -> GuestSnapshot {
    guard let target = script.steps.first(where: { $0.checkpointName == name })?.index else {
      throw .inspection("the script has no Checkpoint named \"\(name)\"")
    }
    try Self.requireWritableRAM(options.boot)
    let session = try Session(options: bootOptions)
    let guest = try ScriptGuest(session: session)
    var reached: GuestSnapshot?
    var first = 0
    while first <= target {
      let batch = script.batch(from: first)
      try guest.send(batch, policy: options.validation) { (stop) throws(SessionError) in
        guard stop.index == target, stop.ran else { return true }
        reached = try GuestSnapshot(session: session, checkpoint: Checkpoint(code: stop.checkpoint.code, name: name))
        return false
      }
      if let reached { return reached }
      first += batch.count
    }
    throw .inspection("the guest never stopped at the Checkpoint \"\(name)\"")
  }

  /// What the host does at a stop around step `stop.index`.
  func inspect(_ stop: ScriptGuest.Stop, session: Session) throws(SessionError) {
    guard script.steps.indices.contains(stop.index) else {
      problems.append("the guest stopped around step \(stop.index), which the script does not have")
      return
    }
    let step = script.steps[stop.index]
    let failed = stop.status.map { $0 & 0xC000_0000 == 0xC000_0000 } ?? false
    let validates = step.spec.call == .checkpoint || options.validation == .everyStep
    let earlier = before.removeValue(forKey: stop.index)
    // After a call that succeeded there is nothing to compare: no state to decode.
    guard !stop.ran || validates || (failed && earlier != nil) else { return }
    let snapshot = try GuestSnapshot(session: session, checkpoint: stop.checkpoint)
    let state = try ScenarioValidation.state(of: snapshot)
    guard stop.ran else {
      before[stop.index] = MmStateCapture(state)
      return
    }
    if failed, step.spec.failsAtomically, let earlier {
      for change in MmStateCapture(state).changes(since: earlier) {
        steps[stop.index].violations.append("the call failed but changed state: \(change)")
      }
    }
    if validates {
      let report = MmValidator(
        state: state, maxPhysicalAddressBits: snapshot.maxPhysicalAddressBits, volume: snapshot.volume
      ).validate()
      steps[stop.index].violations += report.violations.prefix(8).map(\.description)
      if !report.isClean && firstBrokenStep == nil && options.validation == .everyStep { firstBrokenStep = stop.index }
    }
  }

  /// Folds a batch's results into the step reports.
  func record(_ batch: [ScriptStep], _ results: [StepResult], tscKHz: UInt64?) {
    for (step, result) in zip(batch, results) {
      guard result.index == step.index else {
        problems.append("the guest's result for step \(step.index) names step \(result.index)")
        continue
      }
      steps[step.index].status = result.status
      steps[step.index].outputs = step.spec.outputs.enumerated().map { n, output in
        (output.name, n < result.outputs.count ? result.outputs[n] : 0, output.kind)
      }
      steps[step.index].guestMicroseconds = tscKHz.map { Double(result.ticks) * 1000 / Double($0) }
    }
  }
}
