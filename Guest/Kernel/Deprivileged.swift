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
  arch_run_deprivileged(work, context, arch_deprivileged_stack_top())
}

/// If `frame` is the UD2 at `deprivileged_exit`, turns it into a return to
/// CPL 0 at `deprivileged_resume` and says so.
func resumeFromDeprivileged(_ frame: UnsafeMutablePointer<TrapFrame>) -> Bool {
  guard frame.pointee.vector == 6, frame.pointee.rip == arch_deprivileged_exit() else { return false }
  frame.pointee.rip = arch_deprivileged_resume()
  frame.pointee.cs = UInt64(Selector.kernelCode)
  frame.pointee.ss = UInt64(Selector.kernelData)
  frame.pointee.rsp = arch_boot_stack_top() - 256  // deprivileged_resume reloads the real one
  return true
}
