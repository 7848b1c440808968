import GuestArch

// Touch with execute access makes a real instruction fetch at CPL 3, so the
// processor checks the page's rights (NX, U/S, present) and sets A as it
// does for any fetch. What the page holds must not run: a script's bytes
// could be anything (an INT n even ends the VM on kvm-pvm). So before the
// fetch reaches a valid page the kernel puts a one-byte invalid opcode there
// through the direct map, and puts the page's byte back when the #UD comes
// (or the fetch faults). A page that is not valid yet gets it once the fault
// that makes it valid is resolved. The frame's contents are the same after.

/// The byte planted: PUSH ES, invalid in 64-bit mode, one byte long, so the
/// fetch never reaches the next page.
private let invalidOpcode: UInt8 = 0x06

/// The fetch in progress: its address, and where a byte is planted (the
/// direct-map address and the byte it replaced), if one is.
struct ExecuteProbe {
  var target: UInt64
  var planted: (address: UInt64, original: UInt8)?
}

var executeProbe: ExecuteProbe? = nil

/// ScriptGate.armExecute: the next user fetch is at `target` in the current
/// process; plants the opcode now if its page is valid.
func armExecuteProbe(_ target: UInt64) {
  executeProbe = ExecuteProbe(target: target, planted: nil)
  plantExecuteProbe()
}

/// Plants the opcode at the probe's target if its PTE is valid (a 4 KiB user page).
func plantExecuteProbe() {
  let mm = MemoryManager.booted("plantExecuteProbe")
  guard var probe = executeProbe, probe.planted == nil, let index = mm.currentProcess else { return }
  let pte = mm.processes[index].space.readPTE(probe.target)
  guard pte & HardwarePTE.present != 0 else { return }
  let physical = (pte & HardwarePTE.frameMask) | (probe.target & 0xFFF)
  let byte = UnsafeMutablePointer<UInt8>(bitPattern: UInt(PhysicalWindow.virtualAddress(physical)))!
  probe.planted = (PhysicalWindow.virtualAddress(physical), byte.pointee)
  byte.pointee = invalidOpcode
  executeProbe = probe
}

/// Puts the planted byte back and ends the probe.
func endExecuteProbe() {
  if let planted = executeProbe?.planted {
    UnsafeMutablePointer<UInt8>(bitPattern: UInt(planted.address))!.pointee = planted.original
  }
  executeProbe = nil
}

/// A #UD from user mode at the probe's target: the fetch went through. The
/// byte goes back and the routine resumes at its continuation (R8). False
/// for any other trap.
func completeExecuteProbe(_ frame: UnsafeMutablePointer<TrapFrame>) -> Bool {
  guard frame.pointee.vector == 6, frame.pointee.cs & 3 == 3, let probe = executeProbe,
    probe.planted != nil, frame.pointee.rip == probe.target
  else { return false }
  endExecuteProbe()
  frame.pointee.rip = frame.pointee.r8
  return true
}
