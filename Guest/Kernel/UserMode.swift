import GuestArch

/// User virtual address of a routine in the kernel image's `.user.text`.
func userAddress(ofUserCode kernelAddress: UInt64) -> UInt64 {
  UserLayout.codeBase + (kernelAddress - arch_user_text_start())
}

/// Maps the user-mode code pages into the current process, read and execute
/// (a debug window: they are kernel pages, not accounted per PTE). False when out of pages.
func mapUserCode(_ space: inout ProcessAddressSpace) -> Bool {
  var page = arch_user_text_start()
  while page < arch_user_text_end() {
    let entry = kernelPhysical(page) | PageTableEntry.present | PageTableEntry.user | PageTableEntry.accessed
    guard space.mapWindowPage(userAddress(ofUserCode: page), entry: entry) else { return false }
    page += 4096
  }
  return true
}

/// Runs the user routine at kernel address `routine` (in `.user.text`) as
/// `routine(a0, a1, a2)` at CPL 3 in the current process, on its stack.
/// Returns what the routine returned, or the status the kernel ended it with
/// (an access violation it would not resolve).
func runUserRoutine(_ routine: UInt64, _ a0: UInt64 = 0, _ a1: UInt64 = 0, _ a2: UInt64 = 0) -> UInt64 {
  arch_enter_user(
    userAddress(ofUserCode: routine), UserLayout.stackTop, userAddress(ofUserCode: arch_user_exit()), a0, a1, a2)
}

/// Ends the run at CPL 3 that `frame` interrupted: the kernel resumes in
/// `arch_enter_user`'s caller, which gets `value`.
func returnToKernel(_ frame: UnsafeMutablePointer<TrapFrame>, value: UInt64) {
  frame.pointee.rax = value
  frame.pointee.rip = arch_deprivileged_resume()
  frame.pointee.cs = UInt64(Selector.kernelCode)
  frame.pointee.ss = UInt64(Selector.kernelData)
  frame.pointee.rsp = arch_boot_stack_top() - 256  // deprivileged_resume reloads the real one
}

/// How the kernel ended the last user run it ended early: the status, the
/// faulting address (CR2; for a #GP the routine's %rdi), and the routine's
/// %rcx (its units done, by the convention of Guest/Boot/script.S). A caller
/// that needs it clears `status` before the run.
struct UserFault {
  var status: UInt32 = 0
  var address: UInt64 = 0
  var progress: UInt64 = 0
}

var lastUserFault = UserFault()

/// Ends the user run `frame` interrupted with `status` (a fault the kernel
/// will not resolve), recording it in `lastUserFault`.
func endUserRun(_ frame: UnsafeMutablePointer<TrapFrame>, _ status: Status, address: UInt64) {
  lastUserFault = UserFault(status: status.rawValue, address: address, progress: frame.pointee.rcx)
  returnToKernel(frame, value: UInt64(status.rawValue))
}
