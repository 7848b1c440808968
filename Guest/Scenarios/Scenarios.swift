import GuestArch

/// Runs every scenario the command line names, in a fixed order.
func runScenarios(_ boot: BootInformation) {
  if boot.hasWord(GuestScenario.processSmoke) { processSmokeScenario() }
  if boot.hasWord(GuestScenario.virtualMemory) { virtualMemoryScenario() }
  if boot.hasWord(GuestScenario.guardPages) { guardPageScenario() }
  if boot.hasWord(GuestScenario.badInputs) { badInputScenario() }
}

/// A scenario's expectation: traps with the scenario's name and what broke.
func expect(_ condition: Bool, _ scenario: StaticString, _ what: StaticString) {
  if !condition { kernelPanic(scenario, what) }
}

/// Runs `user_touch_pages` over `pages` pages from `base`; the status that ended it, or success.
func userTouch(_ base: UInt64, pages: UInt64, write: Bool) -> Status {
  let result = runUserRoutine(arch_user_touch_pages(), base, pages, write ? 1 : 0)
  return Status(rawValue: UInt32(truncatingIfNeeded: result)) ?? .invalidParameter
}

/// One process, its stack touched from user mode (demand-zero faults).
/// Checkpoint "process-smoke".
func processSmokeScenario() {
  _ = startProcess()
  let stackBottom = UserLayout.stackTop - UserLayout.stackPages * UserAddressSpace.pageSize
  expect(userTouch(stackBottom, pages: UserLayout.stackPages - 1, write: true) == .success, "process-smoke", "touch")
  // The idle zeroing step, run here by hand: the next demand-zero faults take these.
  for _ in 0..<64 { _ = kernel!.database.zeroOneFreePage() }
  Hypercall.checkpoint(.named, "process-smoke")
}

/// Two processes through the whole API (128 pages committed, 64 touched,
/// 16 made read-only, 32 decommitted); the second allocates with a system
/// call from user mode. Checkpoints "vm-touched", "vm-decommitted", "vm-released".
func virtualMemoryScenario() {
  let first = startProcess()
  let region = kernel!.processes[first].memory.reserve(base: 0, size: 1 << 20, protection: PageProtection.readWrite)
  expect(region.status == .success, "vm-basics", "reserve")
  // 128 pages committed, 64 touched: the other 64 stay demand-zero PTEs.
  let committed = kernel!.processes[first].memory.commit(
    base: region.base, size: 512 << 10, protection: PageProtection.readWrite)
  expect(committed.status == .success, "vm-basics", "commit")
  expect(userTouch(region.base, pages: 64, write: true) == .success, "vm-basics", "touch")
  Hypercall.checkpoint(.named, "vm-touched")
  let protected = kernel!.processes[first].memory.protect(
    base: region.base, size: 16 << 12, protection: PageProtection.readOnly)
  expect(protected.status == .success, "vm-basics", "protect")
  expect(userTouch(region.base, pages: 1, write: true) == .accessViolation, "vm-basics", "write to read-only")
  expect(userTouch(region.base, pages: 16, write: false) == .success, "vm-basics", "read of read-only")
  let decommitted = kernel!.processes[first].memory.decommit(base: region.base + (32 << 12), size: 32 << 12)
  expect(decommitted.status == .success, "vm-basics", "decommit")
  expect(userTouch(region.base + (32 << 12), pages: 1, write: false) == .accessViolation, "vm-basics", "decommitted")
  let second = startProcess()
  let base = runUserRoutine(arch_user_allocate_and_touch(), 128 << 10, UInt64(PageProtection.readWrite), 8)
  expect(base & 0xFFFF == 0 && base != 0, "vm-basics", "system-call allocation")
  Hypercall.checkpoint(.named, "vm-decommitted")
  switchToProcess(first)
  expect(kernel!.processes[first].memory.release(base: region.base, size: 0).status == .success, "vm-basics", "release")
  _ = second
  Hypercall.checkpoint(.named, "vm-released")
}

/// A committed guard page: the first touch fails with a guard-page violation,
/// the second goes through. Checkpoint "guard-pages".
func guardPageScenario() {
  let index = startProcess()
  let protection = PageProtection.readWrite | PageProtection.guardPage
  let region = kernel!.processes[index].memory.reserve(base: 0, size: 4 << 12, protection: protection, commit: true)
  expect(region.status == .success, "guard-pages", "reserve")
  expect(userTouch(region.base, pages: 1, write: true) == .guardPageViolation, "guard-pages", "first touch")
  expect(userTouch(region.base, pages: 1, write: true) == .success, "guard-pages", "second touch")
  Hypercall.checkpoint(.named, "guard-pages")
}
