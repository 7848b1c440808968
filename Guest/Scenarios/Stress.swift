import GuestArch

/// xorshift64*: the same seed gives the same run.
struct ScenarioRandom {
  var state: UInt64
  init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
  mutating func next() -> UInt64 {
    state ^= state >> 12
    state ^= state << 25
    state ^= state >> 27
    return state &* 0x2545_F491_4F6C_DD1D
  }
  mutating func below(_ bound: UInt64) -> UInt64 { next() % bound }
}

/// Seeded random operations across three processes: reserve, commit,
/// decommit, release, protect and user-mode touches, in a 2 MiB window per
/// process (small, so operations keep meeting earlier ones). Checkpoint
/// "stress-N" after every 1,000 operations; 4,000 in all. With
/// `residentPages`, each process first touches a heap of that many pages
/// (`GuestScenario.residentPagesPrefix`), which the random operations never reach.
func stressScenario(seed: UInt64, residentPages: UInt64) {
  var random = ScenarioRandom(seed: seed)
  let processes = [startProcess(), startProcess(), startProcess()]
  expect(residentPages <= GuestScenario.residentPageLimit, "stress", "resident heap too large")
  if residentPages > 0 {
    for index in processes { touchResidentHeap(index, pages: residentPages) }
  }
  for step in 1...4000 {
    switchToProcess(processes[Int(random.below(3))])
    stressStep(&random)
    if step % 1000 == 0 { Hypercall.checkpoint(.named, stressCheckpointName(step / 1000)) }
  }
}

/// Commits `pages` pages at `GuestScenario.residentHeapBase` in process `index`
/// and writes each from user mode (one demand-zero fault per page).
private func touchResidentHeap(_ index: Int, pages: UInt64) {
  switchToProcess(index)
  let heap = kernel!.processes[index].memory.reserve(
    base: GuestScenario.residentHeapBase, size: pages * 4096, protection: PageProtection.readWrite, commit: true)
  expect(heap.status == .success, "stress", "resident heap reserve")
  expect(userTouch(heap.base, pages: pages, write: true) == .success, "stress", "resident heap touch")
}

/// One random operation on the current process; every status is legal, a trap is not.
private func stressStep(_ random: inout ScenarioRandom) {
  guard let index = currentProcess else { return }
  let base = 0x4000_0000 + random.below(32) * 0x1_0000
  let size = (random.below(8) + 1) * 4096
  let protections: [UInt8] = [PageProtection.readOnly, PageProtection.readWrite, PageProtection.executeRead]
  let protection = protections[Int(random.below(3))]
  switch random.below(7) {
  case 0: _ = kernel!.processes[index].memory.reserve(base: base, size: size * 4, protection: protection)
  case 1: _ = kernel!.processes[index].memory.commit(base: base, size: size, protection: protection)
  case 2: _ = kernel!.processes[index].memory.decommit(base: base, size: size)
  case 3: _ = kernel!.processes[index].memory.release(base: base, size: 0)
  case 4: _ = kernel!.processes[index].memory.protect(base: base, size: size, protection: protection)
  default: _ = userTouch(base, pages: size / 4096, write: random.below(2) == 0)
  }
}

private func stressCheckpointName(_ quarter: Int) -> StaticString {
  switch quarter {
  case 1: return "stress-1000"
  case 2: return "stress-2000"
  case 3: return "stress-3000"
  default: return "stress-4000"
  }
}
