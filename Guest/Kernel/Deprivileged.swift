import GuestArch

// On kvm-pvm every instruction the guest runs in supervisor mode goes through
// KVM's instruction emulator (about 0.5 µs each), while user mode runs on the
// CPU. So the kernel does its bulk work (parsing the boot information,
// building page tables) at CPL 3 while the boot tables still map everything
// user-accessible, and keeps only the privileged steps for CPL 0. On
// hardware-virtualized KVM and under QEMU the same code costs two mode switches.

/// Runs `work(context)` at CPL 3 and returns when it does. Only while the
/// boot page tables (all user-accessible) are live. `work` must not execute
/// privileged instructions (port I/O included): they fault at CPL 3.
func runDeprivileged(
  _ work: @convention(c) (UnsafeMutableRawPointer?) -> Void, _ context: UnsafeMutableRawPointer
) {
  let entry = UInt64(UInt(bitPattern: unsafeBitCast(work, to: UnsafeRawPointer.self)))
  let argument = UInt64(UInt(bitPattern: context))
  _ = arch_enter_user(entry, arch_deprivileged_stack_top(), arch_deprivileged_exit(), argument, 0, 0)
}

/// If `frame` is a UD2 at an exit trampoline (the boot pass's, or a user
/// run's), returns to the kernel with the user's RAX and says so.
func resumeFromUserExit(_ frame: UnsafeMutablePointer<TrapFrame>) -> Bool {
  guard frame.pointee.vector == 6, frame.pointee.cs & 3 == 3 else { return false }
  let rip = frame.pointee.rip
  guard rip == arch_deprivileged_exit() || rip == userAddress(ofUserCode: arch_user_exit()) else { return false }
  returnToKernel(frame, value: frame.pointee.rax)
  return true
}
