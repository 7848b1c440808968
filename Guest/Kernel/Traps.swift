import GuestArch

/// The frame Guest/Boot/support.S builds on the IST stack, lowest address first.
struct TrapFrame {
  var r15, r14, r13, r12, r11, r10, r9, r8: UInt64
  var rbp, rdi, rsi, rdx, rcx, rbx, rax: UInt64
  var vector, errorCode: UInt64
  var rip, cs, rflags, rsp, ss: UInt64
}

/// Every interrupt and exception the assembly fast path (exception-table
/// fixups) does not absorb lands here: the return from a deprivileged pass,
/// or something unexpected, which is reported to the host and ends the VM.
@_cdecl("trap_dispatch")
func trapDispatch(_ rawFrame: UnsafeMutableRawPointer) {
  let frame = rawFrame.assumingMemoryBound(to: TrapFrame.self)
  // A trap the conformance runner's fast path did not take as one of its
  // accesses' is a runner bug, never something to resolve.
  if conformance_active != 0 { reportUnexpectedTrap(frame.pointee, cr2: arch_read_cr2()) }
  if resumeFromUserExit(frame) { return }
  if completeExecuteProbe(frame) { return }
  let cr2 = arch_read_cr2()
  // Before boot built the Mm (the deprivileged boot pass), every trap is a bug to report.
  guard MemoryManager.isBooted else { reportUnexpectedTrap(frame.pointee, cr2: cr2) }
  let mm = MemoryManager.booted("trapDispatch")
  if frame.pointee.vector == 14, handlePageFault(frame, address: cr2, mm) { return }
  // A non-canonical user access ends the user run as NT ends it: an access
  // violation, at the address the routine held in %rdi. (A script's own
  // accesses stop at UserAddressSpace.end before they get here.)
  if frame.pointee.vector == 13, frame.pointee.cs & 3 == 3, mm.currentProcess != nil {
    endUserRun(frame, .accessViolation, address: frame.pointee.rdi)
    return
  }
  reportUnexpectedTrap(frame.pointee, cr2: cr2)
}

/// Prints the trap, tells the host (vector, error code, CR2, RIP) and exits.
func reportUnexpectedTrap(_ frame: TrapFrame, cr2: UInt64) -> Never {
  Console.write("unexpected exception: vector ")
  Console.write(decimal: frame.vector)
  Console.write(" error ")
  Console.write(hex: frame.errorCode)
  Console.write(" cr2 ")
  Console.write(hex: cr2)
  Console.write(" rip ")
  Console.write(hex: frame.rip)
  Console.write("\n")
  Hypercall.call(.exception, frame.vector, frame.errorCode, cr2, frame.rip)
  Hypercall.exit(.unexpectedException)
}
