import GuestArch

/// Demand-zero faults against the platform's bare #PF round trip, both taken
/// from user mode on 64-page batches: the first through the memory manager
/// (VAD lookup, a page off the zeroed list, the PTE and its accounting), the second through
/// the assembly fast path that only stores a prepared PTE. Reports the median
/// ticks per fault of each (`MeasurementKind.demandZeroFault`, `.bareUserFault`).
func measureFaultCosts() {
  // The bench's own setup: a failure here is a kernel bug, not a measurement.
  func expect(_ condition: Bool, _ function: StaticString, _ what: StaticString) {
    if !condition { kernelPanic(function, what) }
  }
  let mm = MemoryManager.booted("measureFaultCosts")
  let index = mm.startProcess()
  let pages: UInt64 = 64
  // The zero-page thread's work, done ahead as it would have been while idle:
  // a demand-zero fault takes a page from the zeroed list and zeroes nothing.
  for _ in 0..<(5 * pages) { _ = mm.database.zeroOneFreePage() }
  var demandZero: [UInt64] = []
  for _ in 0..<5 {
    let region = mm.processes[index].memory.reserve(
      base: 0, size: pages * 4096, protection: PageProtection.readWrite, commit: true)
    expect(region.status == .success, "measureFaultCosts", "reserve")
    demandZero.append(runUserRoutine(arch_user_time_touches(), region.base, pages) / pages)
    _ = mm.processes[index].memory.release(base: region.base, size: 0)
  }
  let region = mm.processes[index].memory.reserve(
    base: 0, size: pages * 4096, protection: PageProtection.readWrite, commit: true)
  expect(userTouch(region.base, pages: pages, write: true) == .success, "measureFaultCosts", "fault in")
  var bare: [UInt64] = []
  for _ in 0..<5 { bare.append(bareFaultBatch(region.base, pages: pages)) }
  _ = mm.processes[index].memory.release(base: region.base, size: 0)
  Hypercall.call(.measurement, MeasurementKind.demandZeroFault.rawValue, median(demandZero), 5 * pages, 0)
  Hypercall.call(.measurement, MeasurementKind.bareUserFault.rawValue, median(bare), 5 * pages, 0)
}

/// Clears P in `pages` valid PTEs from `base`, arms the fast path with their
/// old values, and times user-mode touches that fault each back in. The
/// PTEs end as they began. Returns ticks per fault.
private func bareFaultBatch(_ base: UInt64, pages: UInt64) -> UInt64 {
  for page in 0..<pages {
    let slot = KernelLayout.selfMapEntryAddress(of: base + page * 4096, level: 1)
    let entry = arch_load64(slot)
    arch_set_prepared_pte(page, slot, entry)
    arch_store64(slot, entry & ~HardwarePTE.present)
    arch_invlpg(base + page * 4096)
  }
  arch_prepare_faults(base, pages)
  let ticks = runUserRoutine(arch_user_time_touches(), base, pages)
  arch_prepare_faults(0, 0)
  return ticks / pages
}

private func median(_ samples: [UInt64]) -> UInt64 {
  samples.sorted()[samples.count / 2]
}

/// Runs `user_touch_pages` over `pages` pages from `base`; the status that ended it, or success.
private func userTouch(_ base: UInt64, pages: UInt64, write: Bool) -> Status {
  let result = runUserRoutine(arch_user_touch_pages(), base, pages, write ? 1 : 0)
  return Status(rawValue: UInt32(truncatingIfNeeded: result)) ?? .invalidParameter
}
