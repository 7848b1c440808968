import GuestArch

/// The script interpreter's frames (boot allocator, accounted as boot pages):
/// the request, results and alias-slot pages `ScriptWindow` maps, and the page
/// table of the system-space views its NtMapViewOfSection("System") maps
/// (`SystemViewLayout`, in the kernel's tables). Physical addresses.
struct ScriptFrames {
  let request: UInt64
  let results: UInt64
  let slots: UInt64
  let systemViewTable: UInt64

  /// The window's pages in order, as (user address, physical address, writable by user mode).
  func page(_ n: UInt64) -> (UInt64, UInt64, Bool) {
    let address = ScriptWindow.base + n * ScriptWindow.pageSize
    if n < ScriptWindow.requestPages { return (address, request + n * ScriptWindow.pageSize, false) }
    let afterRequest = n - ScriptWindow.requestPages
    if afterRequest < ScriptWindow.resultsPages {
      return (address, results + afterRequest * ScriptWindow.pageSize, true)
    }
    return (address, slots + (afterRequest - ScriptWindow.resultsPages) * ScriptWindow.pageSize, true)
  }

  static let pageCount = ScriptWindow.requestPages + ScriptWindow.resultsPages + ScriptWindow.slotPages

  /// The leaf PTE of window page `n`: user, no execute, written only where user mode writes.
  func entry(_ n: UInt64) -> (UInt64, UInt64) {
    let (address, physical, writable) = page(n)
    var flags = HardwarePTE.present | HardwarePTE.user | HardwarePTE.accessed | HardwarePTE.noExecute
    if writable { flags |= HardwarePTE.writable | HardwarePTE.dirty }
    return (address, physical | flags)
  }
}

/// Takes the interpreter's frames and maps them and the user code into the
/// kernel's own address space (where the interpreter runs until a process
/// exists); deprivileged boot pass; nil when frames run out.
func allocateScriptFrames(frames: inout BootFrameAllocator, space: KernelAddressSpace) -> ScriptFrames? {
  guard let request = frames.allocateContiguous(Int(ScriptWindow.requestPages)),
    let results = frames.allocateContiguous(Int(ScriptWindow.resultsPages)),
    let slots = frames.allocateContiguous(Int(ScriptWindow.slotPages)),
    let systemViews = space.tableFor(SystemViewLayout.base, level: 1, frames: &frames)
  else { return nil }
  let script = ScriptFrames(request: request, results: results, slots: slots, systemViewTable: systemViews)
  for n in 0..<ScriptFrames.pageCount {
    let (address, entry) = script.entry(n)
    guard space.mapUser(address, entry: entry, frames: &frames) else { return nil }
  }
  var page = arch_user_text_start()
  while page < arch_user_text_end() {
    let entry = kernelPhysical(page) | HardwarePTE.present | HardwarePTE.user | HardwarePTE.accessed
    guard space.mapUser(userAddress(ofUserCode: page), entry: entry, frames: &frames) else { return nil }
    page += 4096
  }
  return script
}

/// Maps the script window into the current process (window pages, not accounted per PTE).
func mapScriptWindow(_ frames: ScriptFrames, into space: inout ProcessAddressSpace) -> Bool {
  for n in 0..<ScriptFrames.pageCount {
    let (address, entry) = frames.entry(n)
    guard space.mapWindowPage(address, entry: entry) else { return false }
  }
  return true
}

/// The running script's frames (nil when no script runs): new processes map
/// them, and the gate and the fault path know a script runs.
var scriptSession: ScriptFrames? = nil

/// Whether the command line enabled the test-only calls (`GuestCommandLine.scriptTestHooks`).
var scriptTestHooks = false

/// Serves the host's script batches until an empty one: announces the
/// buffers, arms the gate, and runs the interpreter at CPL 3 in the kernel's
/// address space; it returns here when the host sends a batch of zero steps.
func serveScript(_ frames: ScriptFrames, testHooks: Bool) {
  Hypercall.call(
    .region, GuestRegionKind.scriptRequest.rawValue, frames.request, UInt64(ScriptABI.requestBufferSize))
  Hypercall.call(
    .region, GuestRegionKind.scriptResults.rawValue, frames.results, UInt64(ScriptABI.resultsBufferSize))
  scriptTestHooks = testHooks
  scriptSession = frames
  SystemViews.table = frames.systemViewTable
  arch_set_script_gate(userAddress(ofUserCode: arch_user_script_gate()))
  _ = arch_enter_user(
    userAddress(ofUserCode: arch_user_script_interpreter()), ScriptWindow.stackTop,
    userAddress(ofUserCode: arch_user_exit()), ScriptWindow.request, ScriptWindow.results, ScriptWindow.slots)
  arch_set_script_gate(~0)
  scriptSession = nil
}

/// The gate's calls (Guest/Boot/support.S `ud_entry`): operands 0-5 are
/// the first six arguments as the interpreter left them in RDI..R9, 6 and 7
/// and the call come on the stack. Returns the answer; the out-parameters
/// are in `script_outputs`.
@_cdecl("script_call")
func scriptCall(
  _ a0: UInt64, _ a1: UInt64, _ a2: UInt64, _ a3: UInt64, _ a4: UInt64, _ a5: UInt64, _ a6: UInt64, _ a7: UInt64,
  _ code: UInt64
) -> UInt64 {
  performScriptCall(UInt32(truncatingIfNeeded: code), ScriptStepView(operands: (a0, a1, a2, a3, a4, a5, a6, a7)))
}

/// The frame Guest/Boot/support.S `script_gate_entry` builds for the gate's
/// requests: the operand registers, RBX and RAX, then what the CPU and the
/// entry stub pushed (RIP already past the UD2).
struct ScriptGateFrame {
  var r11, r10, r9, r8, rdi, rsi, rdx, rcx, rbx, rax: UInt64
  var vector, errorCode: UInt64
  var rip, cs, rflags, rsp, ss: UInt64
}

/// The gate's requests (GuestABI `ScriptGate`): the next batch (or, at a
/// batch of zero steps, the end of the run: back to `serveScript` at CPL 0),
/// a stop, and arming an execute touch's fetch.
@_cdecl("script_gate")
func scriptGate(_ rawFrame: UnsafeMutableRawPointer) {
  let frame = rawFrame.assumingMemoryBound(to: ScriptGateFrame.self)
  guard let frames = scriptSession, frame.pointee.cs & 3 == 3 else { kernelPanic("scriptGate", "no script runs") }
  let header = PhysicalWindow.words(frames.request)
  switch frame.pointee.rax {
  case ScriptGate.nextBatch:
    header[ScriptABI.requestStepCount / 8] = 0
    Hypercall.checkpoint(.scriptReady)
    let count = min(header[ScriptABI.requestStepCount / 8], UInt64(ScriptABI.batchCapacity))
    if count != 0 {
      frame.pointee.rax = count
      return
    }
    returnToKernel(frame, value: 0)
  case ScriptGate.stop:
    header[ScriptABI.requestStopStep / 8] = frame.pointee.rdi & 0xFFFF_FFFF
    header[ScriptABI.requestStopPhase / 8] = frame.pointee.rsi
    Hypercall.checkpoint(.scriptStep)
  case ScriptGate.armExecute:
    armExecuteProbe(frame.pointee.rdi)
  default:
    frame.pointee.rax = answer(ScriptStatus.notImplemented)
  }
}

/// One gate call's operands, and where its out-parameters go (the gate
/// loads as many as the answer counts into the registers).
struct ScriptStepView {
  let operands: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

  /// Operand `n` (0..<ScriptABI.operandCount), resolved by the interpreter.
  func operand(_ n: Int) -> UInt64 {
    switch n {
    case 0: operands.0
    case 1: operands.1
    case 2: operands.2
    case 3: operands.3
    case 4: operands.4
    case 5: operands.5
    case 6: operands.6
    default: operands.7
    }
  }

  /// Writes out-parameter `n` (0..<ScriptABI.outputCount).
  func output(_ n: Int, _ value: UInt64) {
    arch_script_outputs()[n & 7] = value
  }
}
