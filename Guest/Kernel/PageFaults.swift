import GuestArch

/// A #PF on a user address in the current process goes to the memory
/// manager: resolved (the access is retried), or, from user mode, the user run
/// ends with the status (an access violation reaches the scenario, never a
/// kernel crash). False when it is not the memory manager's to resolve: a
/// kernel-mode fault on a bad address, which the caller reports as a bugcheck.
func handlePageFault(_ frame: UnsafeMutablePointer<TrapFrame>, address: UInt64, _ mm: MemoryManager) -> Bool {
  let userMode = frame.pointee.cs & 3 == 3
  // Cc's views in system space: the kernel's copies touch their pages first,
  // but a fault there is resolved the same way (a failure is a bugcheck).
  if !userMode, SystemCacheLayout.slot(of: address) != nil {
    let access = faultAccess(errorCode: frame.pointee.errorCode)
    if case .resolved = SystemCache.resolve(address, access: access) { return true }
    return false
  }
  if !userMode, SystemViewLayout.contains(address) {
    if case .resolved = SystemViews.resolve(address, access: faultAccess(errorCode: frame.pointee.errorCode)) {
      return true
    }
    return false
  }
  guard let index = mm.currentProcess, address < UserAddressSpace.end else {
    if userMode {
      endUserRun(frame, .accessViolation, address: address)
      return true
    }
    return false
  }
  let resolution = mm.processes[index].memory.resolveFault(
    address, access: faultAccess(errorCode: frame.pointee.errorCode), userMode: userMode)
  if case .resolved = resolution {
    if executeProbe?.target == address { plantExecuteProbe() }
    return true
  }
  guard userMode else { return false }
  endUserRun(frame, resolution.status, address: address)
  return true
}

/// What the faulting access was, from the #PF error code (I/D, then W/R).
func faultAccess(errorCode: UInt64) -> MemoryAccess {
  if errorCode & 0x10 != 0 { return .execute }
  return errorCode & 0x2 != 0 ? .write : .read
}
