import GuestArch

/// The script's NT virtual-memory calls (NtAllocateVirtualMemory,
/// NtFreeVirtualMemory, NtProtectVirtualMemory, NtQueryVirtualMemory) on
/// process `index`, whose address space is loaded: operands and outputs in the
/// order Sources/Script/Calls.swift lists them. Not implemented until the
/// NT-semantics layer of GuestMm lands.
func scriptNtCall(_ call: ScriptCall, _ step: ScriptStepView, _ index: Int) -> UInt32 {
  clearScriptOutputs(step)
  return ScriptStatus.notImplemented
}
