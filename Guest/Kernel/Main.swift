import GuestArch

/// What the deprivileged boot pass works out for the kernel to put in place.
struct BootPlan {
  let startInfoPhysical: UInt64
  var boot: BootInformation? = nil
  var frames: BootFrameAllocator? = nil
  var space: KernelAddressSpace? = nil
  var database: KernelFrameDatabase? = nil
  var debugBlock: UInt64 = 0
  /// The bench region's tables, built but not yet linked.
  var benchRegion: BenchRegion? = nil
  /// The conformance runner's frames, when the command line asks for it.
  var conformance: ConformanceFrames? = nil
  /// The script interpreter's frames, when the command line asks for it.
  var script: ScriptFrames? = nil
  /// The disks' device window table and queue pages, when the host attached disks.
  var disks: DiskFrames? = nil
  /// The raw disk bench's buffer (`DiskBenchLayout.largeRequest` bytes, contiguous).
  var diskBenchBuffer: UInt64? = nil
  var failure: StaticString? = nil
}

/// The kernel's entry from Guest/Boot/entry.S: long mode on the boot tables,
/// GDT, TSS and the #UD gate in place. Works out the kernel's address space at
/// CPL 3, makes it live, then does what the command line asks and exits.
@_cdecl("kernel_main")
func kernelMain(_ startInfoPhysical: UInt64) {
  var plan = BootPlan(startInfoPhysical: startInfoPhysical)
  withUnsafeMutablePointer(to: &plan) { pointer in
    runDeprivileged({ context in prepareBoot(context!.assumingMemoryBound(to: BootPlan.self)) }, pointer)
  }
  if let failure = plan.failure { kernelPanic("kernelMain", failure) }
  guard let boot = plan.boot, let space = plan.space else { kernelPanic("kernelMain", "boot pass left no plan") }
  guard let database = plan.database else { kernelPanic("kernelMain", "boot pass built no PFN database") }
  space.activate()
  MemoryManager.install(database: database, space: space, debugBlockPhysical: plan.debugBlock)
  Console.write("\n")  // the boot pass formatted the banner; printing needs CPL 0
  Hypercall.call(.debugBlock, plan.debugBlock)
  if let disks = plan.disks {
    DiskSystem.start(disks, database: database)
    if plan.diskBenchBuffer == nil { FileSystem.mount() }
  }
  Hypercall.checkpoint(.booted)
  runSelfTests(boot)
  if let bench = plan.benchRegion {
    linkBenchRegion(bench, space: space, database: database)
    Hypercall.checkpoint(.largeRegionMapped)
  }
  if boot.hasWord(GuestCommandLine.measure) { measurePlatformCosts(space: space) }
  if boot.hasWord(GuestCommandLine.measureFaults) { measureFaultCosts() }
  if let buffer = plan.diskBenchBuffer { measureDiskCosts(buffer: buffer) }
  if boot.hasWord(GuestCommandLine.measure) || boot.hasWord(GuestCommandLine.measureFaults)
    || plan.diskBenchBuffer != nil
  {
    Hypercall.checkpoint(.measured)
  }
  if let frames = plan.conformance { serveConformance(frames) }
  if let frames = plan.script { serveScript(frames, testHooks: boot.hasWord(GuestCommandLine.scriptTestHooks)) }
  FileSystem.shutdown()
  Hypercall.exit(.success)
}

/// The deprivileged boot pass (CPL 3, boot tables): IDT gates, boot
/// information, the kernel's page tables and, if asked, the bench region.
/// Records a failure in the plan instead of printing: port I/O faults here.
func prepareBoot(_ plan: UnsafeMutablePointer<BootPlan>) {
  fillInterruptGates()
  guard let boot = BootInformation(startInfoPhysical: plan.pointee.startInfoPhysical) else {
    plan.pointee.failure = "no valid PVH start_info"
    return
  }
  if boot.hasWord(GuestCommandLine.hypercallConsole) { Console.sink = .hypercall }
  if boot.hasWord(GuestCommandLine.hypercallSerial) { Hypercall.overSerial = true }
  if boot.hasWord(GuestCommandLine.debugConsole) { Console.sink = .debugPort }
  guard boot.allWordsKnown() else {
    plan.pointee.failure = "the command line has a word the guest does not know"
    return
  }
  var frames = BootFrameAllocator(ram: boot.ram, floor: kernelPhysical(arch_kernel_end()))
  guard let space = KernelAddressSpace.build(ramEnd: boot.ramEnd, frames: &frames) else {
    plan.pointee.failure = "out of frames building the kernel page tables"
    return
  }
  if boot.hasWord(GuestCommandLine.mapLargeRegion) {
    guard let bench = buildBenchRegion(frames: &frames) else {
      plan.pointee.failure = "out of frames mapping the bench region"
      return
    }
    plan.pointee.benchRegion = bench
  }
  if boot.hasWord(GuestCommandLine.conformance) {
    guard let runner = allocateConformanceFrames(frames: &frames) else {
      plan.pointee.failure = "out of frames for the conformance runner"
      return
    }
    plan.pointee.conformance = runner
  }
  if boot.hasWord(GuestCommandLine.script) {
    guard let script = allocateScriptFrames(frames: &frames, space: space) else {
      plan.pointee.failure = "out of frames for the script interpreter"
      return
    }
    plan.pointee.script = script
  }
  guard prepareDisks(boot, plan: plan, frames: &frames, space: space) else { return }
  guard
    let (database, debugBlock) = buildPageFrameDatabase(
      boot: boot, frames: &frames, space: space, bench: plan.pointee.benchRegion,
      zeroedPages: boot.number(after: GuestCommandLine.zeroedPagesPrefix) ?? 0)
  else {
    plan.pointee.failure = "out of frames for the PFN database"
    return
  }
  plan.pointee.database = database
  plan.pointee.debugBlock = debugBlock
  Console.write("mmlab guest: up, ")
  Console.write(decimal: boot.ramEnd >> 20)
  Console.write(" MiB, kernel tables at ")
  Console.write(hex: space.rootPhysical)
  plan.pointee.boot = boot
  plan.pointee.frames = frames
  plan.pointee.space = space
}

/// Sets aside the disks' frames and the disk bench's buffer when the command
/// line asks; false (with the failure recorded) when frames run out.
func prepareDisks(
  _ boot: BootInformation, plan: UnsafeMutablePointer<BootPlan>, frames: inout BootFrameAllocator,
  space: KernelAddressSpace
) -> Bool {
  let count = boot.number(after: GuestCommandLine.disksPrefix) ?? 0
  if count > 0 {
    guard count <= UInt64(DiskFrames.maximumDisks),
      let disks = allocateDiskFrames(count: Int(count), frames: &frames, space: space)
    else {
      plan.pointee.failure = "no frames for io.disks (or more than 8 disks)"
      return false
    }
    plan.pointee.disks = disks
  }
  if boot.hasWord(GuestCommandLine.benchDisk) {
    guard count > 0, let buffer = frames.allocateContiguous(Int(DiskBenchLayout.largeRequest / 4096)) else {
      plan.pointee.failure = "bench.disk needs io.disks and frames for its buffer"
      return false
    }
    plan.pointee.diskBenchBuffer = buffer
  }
  return true
}

/// Links the bench region's PDPT into the live PML4: one store, and the PML4
/// has one more live entry.
func linkBenchRegion(_ bench: BenchRegion, space: KernelAddressSpace, database: KernelFrameDatabase) {
  PhysicalWindow.words(space.rootPhysical)[bench.slot] = bench.entry
  database.adjustLiveEntries(space.rootPhysical >> 12, by: 1)
}

/// Faults on purpose when the command line asks (GuestCommandLine.fault*);
/// the trap handler reports the exception and the guest never comes back.
func runSelfTests(_ boot: BootInformation) {
  if boot.hasWord(GuestCommandLine.faultWriteText) { selftest_write_text() }
  if boot.hasWord(GuestCommandLine.faultExecuteData) { selftest_execute_data() }
  if boot.hasWord(GuestCommandLine.faultInvalidOpcode) { selftest_invalid_opcode() }
  if boot.hasWord(GuestCommandLine.hang) { arch_spin_forever() }
}
