import GuestArch

/// The kernel's entry from Guest/Boot/entry.S, in long mode on the boot
/// stack, still on the boot identity map. Builds the kernel's own address
/// space, then does what the command line asks and exits.
@_cdecl("kernel_main")
func kernelMain(_ startInfoPhysical: UInt64) {
  guard let boot = BootInformation(startInfoPhysical: startInfoPhysical) else {
    Console.write("mmlab guest: no valid PVH start_info\n")
    Hypercall.exit(.badBootInformation)
  }
  if boot.hasWord(GuestCommandLine.hypercallConsole) { Console.sink = .hypercall }
  if boot.hasWord("console=debugcon") { Console.sink = .debugPort }
  installDescriptorTables()
  var frames = BootFrameAllocator(ram: boot.ram, floor: kernelPhysical(arch_kernel_end()))
  guard let space = KernelAddressSpace.build(ramEnd: boot.ramEnd, frames: &frames) else {
    kernelPanic("kernelMain", "out of frames building the kernel page tables")
  }
  space.activate()
  Console.write("mmlab guest: up, ")
  Console.write(decimal: boot.ramEnd >> 20)
  Console.write(" MiB, kernel tables at ")
  Console.write(hex: space.rootPhysical)
  Console.write("\n")
  Hypercall.checkpoint(.booted)
  runSelfTests(boot)
  if boot.hasWord(GuestCommandLine.mapLargeRegion) {
    guard mapBenchRegion(space: space, frames: &frames) else {
      kernelPanic("kernelMain", "out of frames mapping the bench region")
    }
    Hypercall.checkpoint(.largeRegionMapped)
  }
  if boot.hasWord(GuestCommandLine.measure) {
    measurePlatformCosts(space: space)
    Hypercall.checkpoint(.measured)
  }
  Hypercall.exit(.success)
}

/// Faults on purpose when the command line asks (GuestCommandLine.fault*);
/// the trap handler reports the exception and the guest never comes back.
func runSelfTests(_ boot: BootInformation) {
  if boot.hasWord(GuestCommandLine.faultWriteText) { selftest_write_text() }
  if boot.hasWord(GuestCommandLine.faultExecuteData) { selftest_execute_data() }
  if boot.hasWord(GuestCommandLine.faultInvalidOpcode) { selftest_invalid_opcode() }
  if boot.hasWord(GuestCommandLine.hang) { arch_spin_forever() }
}
