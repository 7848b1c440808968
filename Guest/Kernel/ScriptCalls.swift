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

/// What the gate answers a call with (RAX): the NTSTATUS in the low 32
/// bits, and above them how many out-parameters the call wrote (from output
/// 0 on); the interpreter zeroes the others, at CPL 3 where that costs nothing.
func answer(_ status: UInt32, outputs: Int = 0) -> UInt64 {
  UInt64(status) | UInt64(outputs) << 32
}

/// Runs call `code` in its process (operand 0 the handle, except for
/// CreateProcess and Checkpoint) and writes the call's out-parameters. An
/// unknown call is not implemented, a handle that names no process invalid.
func performScriptCall(_ code: UInt32, _ step: ScriptStepView) -> UInt64 {
  guard let call = ScriptCall(rawValue: code), call != .testChangeThenFail || scriptTestHooks else {
    return answer(ScriptStatus.notImplemented)
  }
  let mm = MemoryManager.booted("performScriptCall")
  switch call {
  case .createProcess: return scriptCreateProcess(step, mm)
  case .checkpoint: return answer(ScriptStatus.success)
  default:
    if step.operand(0) == SectionHandles.systemProcess { return scriptSystemSpaceCall(call, step) }
    guard let index = scriptProcess(step.operand(0), mm) else { return answer(ScriptStatus.invalidHandle) }
    if mm.currentProcess != index { mm.switchTo(index) }
    switch call {
    case .touch: return prepareTouch(step)
    case .writePattern, .checkPattern: return preparePattern(step)
    case .testChangeThenFail: return scriptChangeThenFail(index, mm)
    case .createFile, .openFile, .readFile, .writeFile, .queryInformationFile, .setInformationFile, .flushBuffersFile,
      .close:
      if call == .close, SectionObjects.isSectionHandle(step.operand(1)) {
        guard let slot = SectionObjects.slot(step.operand(1), process: index) else {
          return answer(ScriptStatus.invalidHandle)
        }
        SectionObjects.close(slot: slot)
        return answer(ScriptStatus.success)
      }
      return scriptFileCall(call, step, index, mm)
    case .createSection, .openSection, .mapViewOfSection, .unmapViewOfSection, .flushVirtualMemory, .querySection,
      .extendSection:
      return scriptSectionCall(call, step, index, mm)
    case .ccFlushCache, .ccPurgeCacheSection: return scriptCacheCall(call, step, index)
    default: return scriptNtCall(call, step, index, mm)
    }
  }
}

/// The index of the process `handle` names (`ScriptHandles`), or nil.
@inline(__always)
func scriptProcess(_ handle: UInt64, _ mm: MemoryManager) -> Int? {
  let offset = handle &- ScriptHandles.first
  guard handle >= ScriptHandles.first, offset & 3 == 0, offset >> 2 < UInt64(mm.processes.count) else { return nil }
  return Int(offset >> 2)
}

/// Pages a new process takes at most: its PML4, its VAD table, and the PDPT,
/// PD and PT holding the user code window and the stack (one 2 MiB table
/// holds both; the stack is committed lazily), with room to spare.
private let scriptProcessPages: UInt64 = 8

/// CreateProcess: a process ready for user code (`MemoryManager.startProcess`), its handle
/// in output 0. Out of process slots or pages it returns a status having done
/// nothing: the pages are counted first, so once it starts it cannot fail.
func scriptCreateProcess(_ step: ScriptStepView, _ mm: MemoryManager) -> UInt64 {
  guard mm.processes.count < MetadataPage.processSlots else { return answer(ScriptStatus.insufficientResources) }
  guard mm.database.total(.zeroed) + mm.database.total(.free) >= scriptProcessPages else {
    return answer(ScriptStatus.noMemory)
  }
  step.output(0, ScriptHandles.handle(ofProcess: mm.startProcess()))
  return answer(ScriptStatus.success, outputs: 1)
}

/// Touch (ProcessHandle, Address, Pages, Access), prepared: the process is
/// loaded; returns 0 with the interpreter's `user_script_touch(Address,
/// Pages, Access)` arguments (0 read, 1 write, 2 execute: see
/// ExecuteProbe.swift), or STATUS_INVALID_PARAMETER for another access.
func prepareTouch(_ step: ScriptStepView) -> UInt64 {
  let access = step.operand(3)
  guard access <= 2 else { return answer(ScriptStatus.invalidParameter) }
  return routineArguments(step, step.operand(1), step.operand(2), access)
}

/// WritePattern / CheckPattern (ProcessHandle, Address, Size, Seed),
/// prepared: the routine's arguments are (Address, Size, Seed).
func preparePattern(_ step: ScriptStepView) -> UInt64 {
  routineArguments(step, step.operand(1), step.operand(2), step.operand(3))
}

/// Success, with the registers the interpreter passes to the routine it runs next (RDI, RSI, RDX).
private func routineArguments(_ step: ScriptStepView, _ a0: UInt64, _ a1: UInt64, _ a2: UInt64) -> UInt64 {
  step.output(0, a0)
  step.output(1, a1)
  step.output(2, a2)
  return answer(ScriptStatus.success, outputs: 3)
}

/// The test hook (`GuestCommandLine.scriptTestHooks`): reserves and commits
/// 64 KiB anywhere in process `index`, then fails with STATUS_UNSUCCESSFUL.
func scriptChangeThenFail(_ index: Int, _ mm: MemoryManager) -> UInt64 {
  _ = mm.processes[index].memory.reserve(
    base: 0, size: 64 << 10, protection: PageProtection.readWrite, commit: true)
  return answer(ScriptStatus.unsuccessful)
}
