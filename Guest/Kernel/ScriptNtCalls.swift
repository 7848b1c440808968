import GuestArch

/// The script's NT virtual-memory calls on process `index` of `mm` (its address space
/// loaded): NtAllocateVirtualMemory, NtFreeVirtualMemory,
/// NtProtectVirtualMemory and NtQueryVirtualMemory through GuestMm's NT layer,
/// with operands and outputs in the order Sources/Script/Calls.swift lists
/// them (operand 0, the handle, is resolved already). ULONG parameters take
/// an operand's low 32 bits, as a 64-bit register passes them to NT.
func scriptNtCall(_ call: ScriptCall, _ step: ScriptStepView, _ index: Int, _ mm: MemoryManager) -> UInt64 {
  switch call {
  case .allocateVirtualMemory:
    let r = mm.processes[index].memory.ntAllocateVirtualMemory(
      baseAddress: step.operand(1), zeroBits: step.operand(2), regionSize: step.operand(3),
      allocationType: UInt32(truncatingIfNeeded: step.operand(4)), protect: UInt32(truncatingIfNeeded: step.operand(5)))
    return scriptOutputs(step, r.status, r.baseAddress, r.regionSize)
  case .freeVirtualMemory:
    let r = mm.processes[index].memory.ntFreeVirtualMemory(
      baseAddress: step.operand(1), regionSize: step.operand(2), freeType: UInt32(truncatingIfNeeded: step.operand(3)))
    return scriptOutputs(step, r.status, r.baseAddress, r.regionSize)
  case .protectVirtualMemory:
    let r = mm.processes[index].memory.ntProtectVirtualMemory(
      baseAddress: step.operand(1), regionSize: step.operand(2),
      newProtect: UInt32(truncatingIfNeeded: step.operand(3)))
    step.output(0, r.baseAddress)
    step.output(1, r.regionSize)
    step.output(2, UInt64(r.oldProtect))
    return answer(r.status.rawValue, outputs: 3)
  case .queryVirtualMemory: return scriptQuery(step, index, mm)
  default: return answer(ScriptStatus.notImplemented)
  }
}

/// Writes outputs 0 and 1 (BaseAddress, RegionSize) and answers `status`.
private func scriptOutputs(_ step: ScriptStepView, _ status: Status, _ base: UInt64, _ size: UInt64) -> UInt64 {
  step.output(0, base)
  step.output(1, size)
  return answer(status.rawValue, outputs: 2)
}

/// NtQueryVirtualMemory (ProcessHandle, BaseAddress, MemoryInformationClass):
/// MEMORY_BASIC_INFORMATION's fields as outputs (BaseAddress, AllocationBase,
/// AllocationProtect, RegionSize, State, Protect, Type).
private func scriptQuery(_ step: ScriptStepView, _ index: Int, _ mm: MemoryManager) -> UInt64 {
  let r = mm.processes[index].memory.ntQueryVirtualMemory(
    baseAddress: step.operand(1), informationClass: UInt32(truncatingIfNeeded: step.operand(2)))
  step.output(0, r.info.baseAddress)
  step.output(1, r.info.allocationBase)
  step.output(2, UInt64(r.info.allocationProtect.rawValue))
  step.output(3, r.info.regionSize)
  step.output(4, UInt64(r.info.state.rawValue))
  step.output(5, UInt64(r.info.protect.rawValue))
  step.output(6, UInt64(r.info.type.rawValue))
  return answer(r.status.rawValue, outputs: 7)
}
