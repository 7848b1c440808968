import GuestArch

/// The frame Guest/Boot/support.S builds on the IST stack, lowest address first.
struct TrapFrame {
  var r15, r14, r13, r12, r11, r10, r9, r8: UInt64
  var rbp, rdi, rsi, rdx, rcx, rbx, rax: UInt64
  var vector, errorCode: UInt64
  var rip, cs, rflags, rsp, ss: UInt64
}

/// The last fault an exception-table fixup absorbed (probes read it).
struct RecoveredFault {
  var vector: UInt64 = 0xFF
  var errorCode: UInt64 = 0
  var faultingAddress: UInt64 = 0
}
var lastRecoveredFault = RecoveredFault()

/// Every interrupt and exception lands here. A fault at an instruction listed
/// in the exception table resumes at its fixup with the vector in RCX; anything
/// else is reported to the host and ends the VM.
@_cdecl("trap_dispatch")
func trapDispatch(_ rawFrame: UnsafeMutableRawPointer) {
  let frame = rawFrame.assumingMemoryBound(to: TrapFrame.self)
  let cr2 = arch_read_cr2()
  if let fixup = exceptionFixup(for: frame.pointee.rip) {
    lastRecoveredFault = RecoveredFault(
      vector: frame.pointee.vector, errorCode: frame.pointee.errorCode, faultingAddress: cr2)
    frame.pointee.rcx = frame.pointee.vector
    frame.pointee.rip = fixup
    return
  }
  reportUnexpectedTrap(frame.pointee, cr2: cr2)
}

/// The fixup address for a faulting RIP, from the `.ex_table` section of (fault, fixup) pairs.
func exceptionFixup(for rip: UInt64) -> UInt64? {
  var entry = arch_ex_table_start()
  while entry + 16 <= arch_ex_table_end() {
    let pair = UnsafePointer<UInt64>(bitPattern: UInt(entry))!
    if pair[0] == rip { return pair[1] }
    entry += 16
  }
  return nil
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
