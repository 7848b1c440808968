import GuestArch

/// Runs every scenario the command line names, in a fixed order.
func runScenarios(_ boot: BootInformation) {
  if boot.hasWord(GuestScenario.processSmoke) { processSmokeScenario() }
}

/// A process with its user code and a stack of valid pages; user-mode code
/// writes every stack page. Checkpoint "process-smoke" after the writes.
func processSmokeScenario() {
  guard var process = kernel?.createProcess() else { kernelPanic("processSmokeScenario", "no process") }
  switchTo(process)
  guard mapUserCode(&process.space) else { kernelPanic("processSmokeScenario", "out of pages for user code") }
  let stackBottom = UserLayout.stackTop - UserLayout.stackPages * 4096
  for page in 0..<UserLayout.stackPages {
    guard let pfn = process.space.allocateZeroedPage(for: stackBottom + page * 4096) else {
      kernelPanic("processSmokeScenario", "out of pages for the stack")
    }
    let entry =
      (pfn << 12) | PageTableEntry.present | PageTableEntry.writable | PageTableEntry.user
      | PageTableEntry.noExecute | PageTableEntry.accessed
    guard process.space.writePTE(stackBottom + page * 4096, entry) else {
      kernelPanic("processSmokeScenario", "out of pages for stack tables")
    }
  }
  let result = runUserRoutine(arch_user_touch_pages(), stackBottom, UserLayout.stackPages - 1, 1)
  if result != 0 { kernelPanic("processSmokeScenario", "user writes failed") }
  Hypercall.checkpoint(.named, "process-smoke")
}
