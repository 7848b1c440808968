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
    let entry = kernelPhysical(page) | HardwarePTE.present | HardwarePTE.user | HardwarePTE.accessed
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

/// An interrupt frame the kernel can send somewhere else: the general trap
/// frame, or the script gate's smaller one.
protocol InterruptReturnFrame {
  var rax: UInt64 { get set }
  var rip: UInt64 { get set }
  var cs: UInt64 { get set }
  var ss: UInt64 { get set }
  var rsp: UInt64 { get set }
}

extension TrapFrame: InterruptReturnFrame {}
extension ScriptGateFrame: InterruptReturnFrame {}

/// Ends the run at CPL 3 that `frame` interrupted: the kernel resumes in
/// `arch_enter_user`'s caller, which gets `value`.
func returnToKernel<Frame: InterruptReturnFrame>(_ frame: UnsafeMutablePointer<Frame>, value: UInt64) {
  frame.pointee.rax = value
  frame.pointee.rip = arch_deprivileged_resume()
  frame.pointee.cs = UInt64(Selector.kernelCode)
  frame.pointee.ss = UInt64(Selector.kernelData)
  frame.pointee.rsp = arch_boot_stack_top() - 256  // deprivileged_resume reloads the real one
}

/// Ends the user access `frame` interrupted with `status` (a fault the
/// kernel will not resolve). A script routine (Guest/Boot/script.S), or an
/// execute touch's fetch, returns to the interpreter with the status, the
/// address in RDI and RSI 0; any other user run returns to the kernel with
/// the status. A fault in the interpreter itself is a bug, reported as an
/// unexpected trap.
func endUserRun(_ frame: UnsafeMutablePointer<TrapFrame>, _ status: Status, address: UInt64) {
  let fetchTarget = executeProbe?.target
  endExecuteProbe()
  guard scriptSession != nil else {
    returnToKernel(frame, value: UInt64(status.rawValue))
    return
  }
  // The routine's own instructions, or the fetch of an execute touch (a jump to the target).
  let rip = frame.pointee.rip
  guard
    (rip >= userAddress(ofUserCode: arch_user_script_routines_start())
      && rip < userAddress(ofUserCode: arch_user_script_routines_end())) || rip == fetchTarget
  else { reportUnexpectedTrap(frame.pointee, cr2: arch_read_cr2()) }
  frame.pointee.rax = UInt64(status.rawValue)
  frame.pointee.rdi = address
  frame.pointee.rsi = 0
  frame.pointee.rip = userAddress(ofUserCode: arch_user_script_routine_return())
}
