import GuestArch

/// The NTSTATUS values the interpreter returns: the Mm's (`Status`), and
/// STATUS_UNSUCCESSFUL and STATUS_INVALID_HANDLE, which only it returns.
enum ScriptStatus {
  static let success = Status.success.rawValue
  static let unsuccessful: UInt32 = 0xC000_0001
  static let notImplemented = Status.notImplemented.rawValue
  static let invalidHandle: UInt32 = 0xC000_0008
  static let invalidParameter = Status.invalidParameter.rawValue
  static let noMemory = Status.noMemory.rawValue
  static let insufficientResources = Status.insufficientResources.rawValue
}

/// Runs the step's call in its process and writes the call's out-parameters
/// (every one it has; 0 where a failure leaves none). Returns its status: an
/// unknown call is not implemented, a handle that names no process invalid.
func performScriptCall(_ step: ScriptStepView) -> UInt32 {
  let code = step.record.load(fromByteOffset: ScriptStepRecord.call, as: UInt32.self)
  guard let call = ScriptCall(rawValue: code), call != .testChangeThenFail || scriptTestHooks else {
    clearScriptOutputs(step)
    return ScriptStatus.notImplemented
  }
  switch call {
  case .createProcess: return scriptCreateProcess(step)
  case .checkpoint: return ScriptStatus.success
  default:
    guard let index = scriptProcess(step.operand(0)) else {
      clearScriptOutputs(step)
      return ScriptStatus.invalidHandle
    }
    if currentProcess != index { switchToProcess(index) }
    switch call {
    case .touch: return scriptTouch(step)
    case .writePattern: return scriptPattern(step, check: false)
    case .checkPattern: return scriptPattern(step, check: true)
    case .testChangeThenFail: return scriptChangeThenFail(index)
    default: return scriptNtCall(call, step, index)
    }
  }
}

/// The index of the process `handle` names (`ScriptHandles`), or nil.
func scriptProcess(_ handle: UInt64) -> Int? {
  let offset = handle &- ScriptHandles.first
  guard handle >= ScriptHandles.first, offset & 3 == 0, let count = kernel?.processes.count,
    offset >> 2 < UInt64(count)
  else { return nil }
  return Int(offset >> 2)
}

/// Zeroes every out-parameter slot of the step's result (a call that never ran).
func clearScriptOutputs(_ step: ScriptStepView) {
  for n in 0..<ScriptABI.outputCount { step.output(n, 0) }
}

/// Pages a new process takes at most: its PML4, its VAD table, and the PDPT,
/// PD and PT holding the user code window and the stack (one 2 MiB table
/// holds both; the stack is committed lazily), with room to spare.
private let scriptProcessPages: UInt64 = 8

/// CreateProcess: a process ready for user code (`startProcess`), its handle
/// in output 0. Out of process slots or pages it returns a status having done
/// nothing: the pages are counted first, so once it starts it cannot fail.
func scriptCreateProcess(_ step: ScriptStepView) -> UInt32 {
  step.output(0, 0)
  guard let database = kernel?.database, let count = kernel?.processes.count else {
    kernelPanic("scriptCreateProcess", "no kernel")
  }
  guard count < MetadataPage.processSlots else { return ScriptStatus.insufficientResources }
  guard database.total(.zeroed) + database.total(.free) >= scriptProcessPages else { return ScriptStatus.noMemory }
  step.output(0, ScriptHandles.handle(ofProcess: startProcess()))
  return ScriptStatus.success
}

/// Runs user routine `routine(a0, a1, a2)` at CPL 3 in the current process
/// without its stack: the script's routines use none (Guest/Boot/script.S),
/// and a script may have freed or protected it. The return address
/// arch_enter_user stores goes to a kernel word; the user RSP points there, a
/// supervisor page. Clears `lastUserFault` first; returns the routine's RAX.
func runScriptRoutine(_ routine: UInt64, _ a0: UInt64, _ a1: UInt64, _ a2: UInt64) -> UInt64 {
  lastUserFault.status = 0
  return arch_enter_user(
    userAddress(ofUserCode: routine), scriptRoutineStack, userAddress(ofUserCode: arch_user_exit()), a0, a1, a2)
}

/// The top of the kernel page runScriptRoutine's return address goes to (the
/// alias slots' frame, whose upper half the slots leave free); set by `serveScript`.
var scriptRoutineStack: UInt64 = 0

/// Touch (ProcessHandle, Address, Pages, Access): one user access per page
/// at Address + 4096 n, stopping at the first fault that does not resolve;
/// outputs FaultAddress (0 when none) and PagesDone. Execute is not
/// implemented: a user fetch would run whatever the page holds.
func scriptTouch(_ step: ScriptStepView) -> UInt32 {
  step.output(0, 0)
  step.output(1, 0)
  let access = step.operand(3)
  guard access < 2 else { return access == 2 ? ScriptStatus.notImplemented : ScriptStatus.invalidParameter }
  let pages = step.operand(2)
  _ = runScriptRoutine(arch_user_script_touch(), step.operand(1), pages, access)
  if lastUserFault.status != 0 {
    step.output(0, lastUserFault.address)
    step.output(1, lastUserFault.progress)
    return lastUserFault.status
  }
  step.output(1, pages)
  return ScriptStatus.success
}

/// WritePattern / CheckPattern (ProcessHandle, Address, Size, Seed): user
/// mode writes or checks `ScriptPattern`'s bytes over [Address, Address +
/// Size). A fault stops it with its status; CheckPattern's output 0 is the
/// first differing address (0 when all match, or when a fault stopped it).
func scriptPattern(_ step: ScriptStepView, check: Bool) -> UInt32 {
  if check { step.output(0, 0) }
  let routine = check ? arch_user_check_pattern() : arch_user_write_pattern()
  let mismatch = runScriptRoutine(routine, step.operand(1), step.operand(2), step.operand(3))
  if lastUserFault.status != 0 { return lastUserFault.status }
  if check { step.output(0, mismatch) }
  return ScriptStatus.success
}

/// The test hook (`GuestCommandLine.scriptTestHooks`): reserves and commits
/// 64 KiB anywhere in process `index`, then fails with STATUS_UNSUCCESSFUL.
func scriptChangeThenFail(_ index: Int) -> UInt32 {
  _ = kernel!.processes[index].memory.reserve(
    base: 0, size: 64 << 10, protection: PageProtection.readWrite, commit: true)
  return ScriptStatus.unsuccessful
}
