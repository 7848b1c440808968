import GuestArch

/// System-call numbers (RAX at `user_system_call`): the virtual-memory API.
/// Arguments in RDI, RSI, RDX, R10; the status comes back in RAX, a base in
/// RDI and a size (or old protection) in RSI.
enum SystemCall: UInt64 {
  /// reserve(base, size, protection, commit: R10 != 0)
  case allocate = 1
  case commit = 2
  case decommit = 3
  case release = 4
  /// protect(base, size, protection) -> old protection in RSI
  case protect = 5
}

/// On kvm-pvm SYSCALL from ring 3 does not reach CPL 0 (see the README), so
/// user code enters the kernel with a UD2 at the one address
/// `user_system_call`; this serves it and resumes after the UD2. False when
/// the trap is not a system call.
func serveSystemCall(_ frame: UnsafeMutablePointer<TrapFrame>) -> Bool {
  guard frame.pointee.vector == 6, frame.pointee.cs & 3 == 3,
    frame.pointee.rip == userAddress(ofUserCode: arch_user_system_call())
  else { return false }
  frame.pointee.rip += 2
  guard let index = currentProcess, let call = SystemCall(rawValue: frame.pointee.rax) else {
    frame.pointee.rax = UInt64(Status.invalidParameter.rawValue)
    return true
  }
  let (status, base, size) = perform(call, on: index, frame.pointee)
  frame.pointee.rax = UInt64(status.rawValue)
  frame.pointee.rdi = base
  frame.pointee.rsi = size
  return true
}

/// One system call against process `index`'s memory.
private func perform(_ call: SystemCall, on index: Int, _ f: TrapFrame) -> (Status, UInt64, UInt64) {
  let protection = UInt8(truncatingIfNeeded: f.rdx)
  switch call {
  case .allocate:
    let r = kernel!.processes[index].memory.reserve(
      base: f.rdi, size: f.rsi, protection: protection, commit: f.r10 != 0)
    return (r.status, r.base, r.size)
  case .commit:
    let r = kernel!.processes[index].memory.commit(base: f.rdi, size: f.rsi, protection: protection)
    return (r.status, r.base, r.size)
  case .decommit:
    let r = kernel!.processes[index].memory.decommit(base: f.rdi, size: f.rsi)
    return (r.status, r.base, r.size)
  case .release:
    let r = kernel!.processes[index].memory.release(base: f.rdi, size: f.rsi)
    return (r.status, r.base, r.size)
  case .protect:
    let r = kernel!.processes[index].memory.protect(base: f.rdi, size: f.rsi, protection: protection)
    return (r.status, f.rdi, UInt64(r.oldProtection))
  }
}
