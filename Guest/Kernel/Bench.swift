import GuestArch

/// The bench region's tables, built but not linked into the kernel's PML4.
struct BenchRegion {
  /// The PDPT the PML4 entry will point at.
  var pointerTable: UInt64
  /// PML4 slot and the entry to store there.
  var slot: Int
  var entry: UInt64
  /// The frames every leaf maps, over and over.
  var backingStart: UInt64
  var backingPages: Int
}

/// Builds the tables that map `BenchLayout.regionSize` bytes at
/// `BenchLayout.regionBase` in 4 KiB pages over a small backing set of frames
/// (read-only, no execute), for the host's walk benchmark. The kernel links
/// them at the checkpoint, so the subtree is built while no page of it is a
/// live page table. nil when frames run out.
func buildBenchRegion(frames: inout BootFrameAllocator) -> BenchRegion? {
  let backingPages = Int(BenchLayout.backingSize / 4096)
  guard let backing = frames.allocateContiguous(backingPages), let directory = frames.allocateZeroed(),
    let pointerTable = frames.allocateZeroed()
  else { return nil }
  let pageTables = Int(BenchLayout.regionSize / bytesMapped(level: 2))
  let leafFlags = HardwarePTE.present | HardwarePTE.noExecute
  for tableNumber in 0..<pageTables {
    guard let table = frames.allocateZeroed() else { return nil }
    let entries = PhysicalWindow.words(table)
    for index in 0..<512 {
      entries[index] = (backing + UInt64((tableNumber * 512 + index) % backingPages) * 4096) | leafFlags
    }
    PhysicalWindow.words(directory)[tableNumber] = PageTableEntry.table(directory: table).raw
  }
  let base = BenchLayout.regionBase
  PhysicalWindow.words(pointerTable)[tableIndex(base, level: 3)] = PageTableEntry.table(directory: directory).raw
  return BenchRegion(
    pointerTable: pointerTable, slot: tableIndex(base, level: 4),
    entry: PageTableEntry.table(directory: pointerTable).raw, backingStart: backing, backingPages: backingPages)
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
  report(.conformanceSupervisorAccess) {
    var vector: UInt8 = 0
    _ = arch_probe_load(mapped, &vector)
  }
  report(.invlpg) { arch_invlpg(mapped) }
  report(.livePageTableWrite) { arch_store64(UInt64(UInt(bitPattern: emptySlot)), 0) }
  report(.portExit) { arch_outb(GuestPort.com1 + 7, 0) }  // COM1 scratch register
}

/// Runs `operation` in 15 batches of 32 and reports the median ticks per
/// operation, less what an empty iteration of the same loop costs (which on
/// kvm-pvm, where kernel code is emulated, is not small).
private func report(_ kind: MeasurementKind, _ operation: () -> Void) {
  let overhead = medianTicksPerIteration {}
  let cost = medianTicksPerIteration(operation)
  Hypercall.call(.measurement, kind.rawValue, cost > overhead ? cost - overhead : 0, 15 * 32, 0)
}

/// Median over 15 batches of 32 of the ticks one call of `operation` takes.
private func medianTicksPerIteration(_ operation: () -> Void) -> UInt64 {
  var samples: [UInt64] = []
  for _ in 0..<15 {
    let start = arch_rdtsc()
    for _ in 0..<32 { operation() }
    samples.append((arch_rdtsc() &- start) / 32)
  }
  samples.sort()
  return samples[7]
}
