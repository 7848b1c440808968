import GuestArch

/// The script interpreter's frames (boot allocator, accounted as boot pages):
/// the request and results buffers the host reads and writes, and the alias
/// slots, which only the guest sees. Physical addresses.
struct ScriptFrames {
  let request: UInt64
  let results: UInt64
  let slots: UInt64
}

/// Takes the interpreter's frames; deprivileged boot pass; nil when frames run out.
func allocateScriptFrames(frames: inout BootFrameAllocator) -> ScriptFrames? {
  let requestPages = (ScriptABI.requestBufferSize + 4095) / 4096
  let resultPages = (ScriptABI.resultsBufferSize + 4095) / 4096
  let slotPages = (ScriptABI.aliasSlots * 8 + 64 + 4095) / 4096  // and runScriptRoutine's word at the top
  guard let request = frames.allocateContiguous(requestPages), let results = frames.allocateContiguous(resultPages),
    let slots = frames.allocateContiguous(slotPages)
  else { return nil }
  return ScriptFrames(request: request, results: results, slots: slots)
}

/// What one step sees: its record, its result record and the alias slots.
/// Operands are read and resolved where a call uses them, never all at once.
struct ScriptStepView {
  let record: UnsafeMutableRawPointer
  let result: UnsafeMutableRawPointer
  let slots: UnsafeMutablePointer<UInt64>

  /// Operand `n` (0..<ScriptABI.operandCount): the immediate, or alias slot's value plus the offset.
  func operand(_ n: Int) -> UInt64 {
    let value = record.load(fromByteOffset: ScriptStepRecord.operands + 8 * n, as: UInt64.self)
    let slot = record.load(fromByteOffset: ScriptStepRecord.operandSlots + n, as: UInt8.self)
    return slot == 0 ? value : slots[Int(slot)] &+ value
  }

  /// Writes out-parameter `n` (0..<ScriptABI.outputCount).
  func output(_ n: Int, _ value: UInt64) {
    result.storeBytes(of: value, toByteOffset: ScriptResultRecord.outputs + 8 * n, as: UInt64.self)
  }
}

/// Whether the command line enabled the test-only calls (`GuestCommandLine.scriptTestHooks`).
var scriptTestHooks = false

/// Serves the host's script batches until an empty one: announces the
/// buffers, then per batch runs its steps in order (each one's stops, call,
/// result and saved aliases) and stops at `scriptReady` again. The alias slots
/// live for the whole run.
func serveScript(_ frames: ScriptFrames, testHooks: Bool) {
  Hypercall.call(
    .region, GuestRegionKind.scriptRequest.rawValue, frames.request, UInt64(ScriptABI.requestBufferSize))
  Hypercall.call(
    .region, GuestRegionKind.scriptResults.rawValue, frames.results, UInt64(ScriptABI.resultsBufferSize))
  scriptTestHooks = testHooks
  scriptRoutineStack = PhysicalWindow.virtualAddress(frames.slots) + 4096
  let header = PhysicalWindow.words(frames.request)
  let steps = UnsafeMutableRawPointer(header) + ScriptABI.requestHeaderSize
  let results = UnsafeMutableRawPointer(PhysicalWindow.words(frames.results))
  let slots = PhysicalWindow.words(frames.slots)
  while true {
    header[ScriptABI.requestStepCount / 8] = 0
    Hypercall.checkpoint(.scriptReady)
    let requested = header[ScriptABI.requestStepCount / 8]
    let count = Int(truncatingIfNeeded: min(requested, UInt64(ScriptABI.batchCapacity)))
    if count == 0 { break }
    for n in 0..<count {
      let step = ScriptStepView(
        record: steps + n * ScriptStepRecord.size, result: results + n * ScriptResultRecord.size, slots: slots)
      runScriptStep(step, header: header)
    }
  }
}

/// One step: stops before it if asked, runs the call timing it, writes the
/// result record, saves the out-parameters of a successful call into their
/// alias slots, and stops after it if asked.
func runScriptStep(_ step: ScriptStepView, header: UnsafeMutablePointer<UInt64>) {
  let flags = ScriptStepFlags(rawValue: step.record.load(fromByteOffset: ScriptStepRecord.flags, as: UInt32.self))
  let index = step.record.load(fromByteOffset: ScriptStepRecord.index, as: UInt32.self)
  if flags.contains(.stopBefore) { stopAtScriptStep(index, phase: 0, header: header) }
  let start = arch_rdtsc()
  let status = performScriptCall(step)
  step.result.storeBytes(of: status, toByteOffset: ScriptResultRecord.status, as: UInt32.self)
  step.result.storeBytes(of: index, toByteOffset: ScriptResultRecord.index, as: UInt32.self)
  let saves = step.record.load(fromByteOffset: ScriptStepRecord.saveSlots, as: UInt64.self)
  if saves != 0 && status & 0x8000_0000 == 0 { saveOutputs(step, saves) }
  step.result.storeBytes(of: arch_rdtsc() &- start, toByteOffset: ScriptResultRecord.ticks, as: UInt64.self)
  if flags.contains(.stopAfter) { stopAtScriptStep(index, phase: 1, header: header) }
}

/// Stores out-parameter n into alias slot `saves` byte n wherever that byte is nonzero.
private func saveOutputs(_ step: ScriptStepView, _ saves: UInt64) {
  var rest = saves
  var n = 0
  while rest != 0 {
    let slot = Int(rest & 0xFF)
    if slot != 0 {
      step.slots[slot] = step.result.load(fromByteOffset: ScriptResultRecord.outputs + 8 * n, as: UInt64.self)
    }
    rest >>= 8
    n += 1
  }
}

/// Tells the host which step and phase (0 before it ran, 1 after) and stops at `scriptStep`.
private func stopAtScriptStep(_ index: UInt32, phase: UInt64, header: UnsafeMutablePointer<UInt64>) {
  header[ScriptABI.requestStopStep / 8] = UInt64(index)
  header[ScriptABI.requestStopPhase / 8] = phase
  Hypercall.checkpoint(.scriptStep)
}
