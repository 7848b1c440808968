import GuestABI
import Inspect
import Machine

/// The host's side of the guest's script interpreter (`ScriptABI`): its two
/// buffers, one batch at a time, and the stops around steps.
final class ScriptGuest {
  /// The guest stopped around a step.
  struct Stop {
    var index: Int
    /// False: before the step ran; true: after (its result is written).
    var ran: Bool
    /// The step's status, once it ran.
    var status: UInt32?
    var checkpoint: Checkpoint
  }

  let session: Session
  let request: UnsafeMutableRawBufferPointer
  let results: UnsafeRawBufferPointer
  let requestAddress: UInt64

  /// Boots to the interpreter's first `script-ready` and finds its buffers.
  init(session: Session) throws(SessionError) {
    self.session = session
    _ = try session.run(toCheckpoint: String(describing: CheckpointCode.scriptReady.name))
    let machine = session.machine
    guard let requestRegion = machine.regions[GuestRegionKind.scriptRequest.rawValue],
      let resultsRegion = machine.regions[GuestRegionKind.scriptResults.rawValue],
      requestRegion.size >= UInt64(ScriptABI.requestBufferSize),
      resultsRegion.size >= UInt64(ScriptABI.resultsBufferSize),
      let request = machine.memory.mutableBytes(
        at: requestRegion.physicalAddress, count: ScriptABI.requestBufferSize),
      let results = machine.memory.bytes(at: resultsRegion.physicalAddress, count: ScriptABI.resultsBufferSize)
    else { throw .inspection("the guest did not announce the script interpreter's request and results buffers") }
    self.request = request
    self.results = results
    requestAddress = requestRegion.physicalAddress
  }

  /// Sends `batch` and runs the guest to its next `script-ready`, calling
  /// `onStop` at every stop the steps ask for; false from it leaves the guest
  /// stopped there (and `send` returns false).
  @discardableResult
  func send(
    _ batch: [ScriptStep], policy: ValidationPolicy, onStop: (Stop) throws(SessionError) -> Bool
  ) throws(SessionError) -> Bool {
    let base = request.baseAddress!
    var stringsUsed = 0
    for (n, step) in batch.enumerated() {
      step.encode(
        into: base + ScriptABI.requestHeaderSize + n * ScriptStepRecord.size, policy: policy,
        strings: base + ScriptABI.stringsOffset, stringsUsed: &stringsUsed)
    }
    base.storeBytes(of: UInt64(batch.count), toByteOffset: ScriptABI.requestStepCount, as: UInt64.self)
    do {
      try session.machine.commit(
        requestAddress, count: ScriptABI.requestHeaderSize + batch.count * ScriptStepRecord.size)
      if stringsUsed > 0 {
        try session.machine.commit(requestAddress + UInt64(ScriptABI.stringsOffset), count: stringsUsed)
      }
    } catch { throw .machine(error) }
    let first = batch.first?.index ?? 0
    while true {
      let checkpoint = try session.run(toCheckpoint: nil)
      if checkpoint.code == CheckpointCode.scriptReady.rawValue { return true }
      guard checkpoint.code == CheckpointCode.scriptStep.rawValue else {
        throw .inspection("the guest stopped at \"\(checkpoint.name)\" in the middle of a script batch")
      }
      guard try onStop(stop(at: checkpoint, batchStart: first, count: batch.count)) else { return false }
    }
  }

  /// The stop the request header describes.
  func stop(at checkpoint: Checkpoint, batchStart: Int, count: Int) -> Stop {
    let base = request.baseAddress!
    let index = Int(truncatingIfNeeded: base.load(fromByteOffset: ScriptABI.requestStopStep, as: UInt64.self))
    let ran = base.load(fromByteOffset: ScriptABI.requestStopPhase, as: UInt64.self) != 0
    let slot = index - batchStart
    var status: UInt32?
    if ran, (0..<count).contains(slot) {
      status = results.load(fromByteOffset: slot * ScriptResultRecord.size + ScriptResultRecord.status, as: UInt32.self)
    }
    return Stop(index: index, ran: ran, status: status, checkpoint: checkpoint)
  }

  /// The results of the last batch's `count` steps.
  func results(count: Int) -> [StepResult] {
    (0..<count).map {
      StepResult(record: results.baseAddress! + $0 * ScriptResultRecord.size, outputCount: ScriptABI.outputCount)
    }
  }

  /// Sends the empty batch and runs the guest to its exit; its status.
  func finish() throws(SessionError) -> UInt8 {
    request.baseAddress!.storeBytes(of: 0, toByteOffset: ScriptABI.requestStepCount, as: UInt64.self)
    do { try session.machine.commit(requestAddress, count: 8) } catch { throw .machine(error) }
    return try session.runToExit().status
  }
}
