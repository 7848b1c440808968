import GuestArch

/// Maps `BenchLayout.regionSize` bytes at `BenchLayout.regionBase` in 4 KiB
/// pages over a small backing set of frames (read-only, no execute), for the
/// host's walk benchmark. The subtree is built detached and linked by one
/// store: writes to live page-table pages trap to the host on kvm-pvm.
func mapBenchRegion(space: KernelAddressSpace, frames: inout BootFrameAllocator) -> Bool {
  let backingFrames = Int(BenchLayout.backingSize / 4096)
  var backing: [UInt64] = []
  for _ in 0..<backingFrames {
    guard let frame = frames.allocateZeroed() else { return false }
    backing.append(frame)
  }
  guard let directory = frames.allocateZeroed(), let pointerTable = frames.allocateZeroed() else { return false }
  let pageTables = Int(BenchLayout.regionSize / bytesMapped(level: 2))
  let leafFlags = PageTableEntry.present | PageTableEntry.noExecute
  for tableNumber in 0..<pageTables {
    guard let table = frames.allocateZeroed() else { return false }
    let entries = PhysicalWindow.words(table)
    for index in 0..<512 {
      entries[index] = backing[(tableNumber * 512 + index) % backingFrames] | leafFlags
    }
    PhysicalWindow.words(directory)[tableNumber] = PageTableEntry.table(table).raw
  }
  let base = BenchLayout.regionBase
  PhysicalWindow.words(pointerTable)[tableIndex(base, level: 3)] = PageTableEntry.table(directory).raw
  PhysicalWindow.words(space.rootPhysical)[tableIndex(base, level: 4)] = PageTableEntry.table(pointerTable).raw
  return true
}

/// Measures the platform's floor costs with rdtsc and reports each as a
/// median over batches (`HypercallKind.measurement`).
func measurePlatformCosts(space: KernelAddressSpace) {
  // An address in an empty PML4 slot: every probe of it takes a #PF.
  let unmapped: UInt64 = 0xFFFF_A000_0000_0000
  let emptySlot = PhysicalWindow.words(space.rootPhysical) + tableIndex(unmapped, level: 4)
  let mapped = arch_text_start()
  report(.pageFaultRoundTrip) {
    var vector: UInt8 = 0
    _ = arch_probe_load(unmapped, &vector)
    if vector != 14 { kernelPanic("measurePlatformCosts", "probe of an unmapped page did not fault") }
  }
  report(.invlpg) { arch_invlpg(mapped) }
  report(.livePageTableWrite) { arch_store64(UInt64(UInt(bitPattern: emptySlot)), 0) }
  report(.portExit) { arch_outb(GuestPort.com1 + 7, 0) }  // COM1 scratch register
}

/// Runs `operation` in 15 batches of 32 and reports the median ticks per operation.
private func report(_ kind: MeasurementKind, _ operation: () -> Void) {
  let batches = 15
  let perBatch: UInt64 = 32
  var samples: [UInt64] = []
  for _ in 0..<batches {
    let start = arch_rdtsc()
    for _ in 0..<perBatch { operation() }
    samples.append((arch_rdtsc() &- start) / perBatch)
  }
  samples.sort()
  Hypercall.call(.measurement, kind.rawValue, samples[batches / 2], UInt64(batches) * perBatch, 0)
}
