/// Where the guest kernel lives. The linker script (Guest/Boot/kernel.ld) uses
/// the same numbers; a test checks the built image against them.
public enum KernelLayout {
  /// Physical address the kernel image is loaded at (1 MiB, above the legacy hole).
  public static let physicalBase: UInt64 = 0x10_0000
  /// Virtual address of `physicalBase` in the higher half (the top 2 GiB, as -mcmodel=kernel wants).
  public static let virtualBase: UInt64 = 0xFFFF_FFFF_8000_0000 + physicalBase
  /// Offset from a kernel physical address to its virtual address.
  public static let virtualOffset: UInt64 = virtualBase &- physicalBase
  /// PML4 slot that points at the PML4 itself (NT x64 uses 0x1ED).
  public static let selfMapSlot: UInt64 = 0x1ED
  /// Virtual base of the self-map: the 512 GiB window of slot `selfMapSlot`, sign-extended.
  public static let selfMapBase: UInt64 = 0xFFFF_0000_0000_0000 | (selfMapSlot << 39)
  /// The virtual address, through the self-map, of the entry at `level`
  /// (1 = PTE, 2 = PDE, 3 = PDPTE, 4 = PML4E) that maps `virtualAddress` in
  /// 4-level paging. Each step up is the PTE formula applied once more:
  /// base + ((address >> 9) & 0x7F_FFFF_FFF8), sign-extended.
  @inlinable
  public static func selfMapEntryAddress(of virtualAddress: UInt64, level: Int) -> UInt64 {
    selfMapEntryAddress(of: virtualAddress, level: level, base: selfMapBase)
  }

  /// The same for a self-map whose window starts at `base` (any slot's), the
  /// one place the formula is written.
  @inlinable
  public static func selfMapEntryAddress(of virtualAddress: UInt64, level: Int, base: UInt64) -> UInt64 {
    var address = virtualAddress
    for _ in 0..<max(level, 0) {
      address = base | ((address >> 9) & 0x7F_FFFF_FFF8)
    }
    return address
  }

  /// Virtual base of the direct map of all guest RAM (2 MiB pages, RW, NX).
  public static let directMapBase: UInt64 = 0xFFFF_8800_0000_0000
  /// Where device registers (PCI BARs) are mapped, uncached, in 4 KiB pages:
  /// one page table's worth, built by the boot pass when the guest has disks.
  public static let deviceWindowBase: UInt64 = 0xFFFF_FE00_0000_0000
  public static let deviceWindowSize: UInt64 = 2 << 20
}

/// Fixed places in every process's user half.
public enum UserLayout {
  /// The user-mode code pages (the kernel image's `.user.text`, read and
  /// execute) at the start of the top 64 KiB below 2^47, which no
  /// reservation reaches (`UserAddressSpace.end`). They are kernel pages seen
  /// from user mode: a `DebugWindow` (`userCode`). The script interpreter's
  /// buffers follow them (`ScriptWindow`).
  public static let codeBase: UInt64 = 0x7FFF_FFFF_0000
  public static let codeMaximumSize: UInt64 = 0x4000
  /// The user stack: a reserved and committed VAD of `stackPages` pages ending here.
  public static let stackTop: UInt64 = 0x7FFF_FFFE_0000
  public static let stackPages: UInt64 = 16
}

/// The region the guest maps in 4 KiB pages for the walk benchmark
/// (`CheckpointCode.largeRegionMapped`), when the command line asks for it.
public enum BenchLayout {
  /// Virtual base of the region.
  public static let regionBase: UInt64 = 0xFFFF_C000_0000_0000
  /// 256 MiB.
  public static let regionSize: UInt64 = 256 << 20
  /// Physical frames behind it: the region aliases this many bytes of RAM over and over.
  public static let backingSize: UInt64 = 1 << 20
}

/// Words the host may put on the guest's command line (PVH `cmdline`).
public enum GuestCommandLine {
  /// Print through `HypercallKind.print` (one VM exit per line) instead of a port write per byte.
  public static let hypercallConsole: StaticString = "console=hypercall"
  /// Hypercalls through COM1 and a word in memory instead of the hypercall
  /// port (`HypercallRequest.serialMarker`): what a QEMU guest uses.
  public static let hypercallSerial: StaticString = "hypercall=serial"
  /// Map `BenchLayout`'s region and stop at `CheckpointCode.largeRegionMapped`.
  public static let mapLargeRegion: StaticString = "bench.map"
  /// Measure platform costs and report them before `CheckpointCode.measured`.
  public static let measure: StaticString = "bench.measure"
  /// Measure demand-zero faults against bare #PF round trips, from user mode
  /// (reported with the other measurements, before `CheckpointCode.measured`).
  public static let measureFaults: StaticString = "bench.faults"
  /// Self-tests of the exception path and of the kernel's page permissions:
  /// each makes the guest fault on purpose, and the host checks what it reports.
  /// Write to kernel text (expect #PF, error code P|W).
  public static let faultWriteText: StaticString = "selftest.write-text"
  /// Execute from kernel data (expect #PF, error code P|I/D).
  public static let faultExecuteData: StaticString = "selftest.execute-data"
  /// Spin forever with interrupts off (the host's watchdog must fire).
  public static let hang: StaticString = "selftest.hang"
  /// Execute UD2 (expect #UD).
  public static let faultInvalidOpcode: StaticString = "selftest.ud2"
  /// Run the hardware conformance runner (`ConformanceABI`) until the host
  /// sends an empty request.
  public static let conformance: StaticString = "conformance"
  /// Run the script interpreter (`ScriptABI`) until the host sends an empty batch.
  public static let script: StaticString = "script"
  /// With `script`: also serve the test-only calls (`ScriptCall.testChangeThenFail`).
  public static let scriptTestHooks: StaticString = "script.test-hooks"
  /// "mm.zeroed=N": the boot pass zeroes N free pages (at most those in the first
  /// GiB, which its tables map) and puts them on the zeroed list: the zero-page
  /// thread's work done ahead, at CPL 3, where it runs natively on kvm-pvm instead of
  /// in KVM's emulator.
  public static let zeroedPagesPrefix: StaticString = "mm.zeroed="
  /// Print on QEMU's debug console port (0xE9) instead of COM1.
  public static let debugConsole: StaticString = "console=debugcon"
  /// "io.disks=N": the host attached N virtio-blk disks; the guest finds them on
  /// PCI bus 0 and starts its driver on each (absent: no disk, no PCI scan).
  public static let disksPrefix: StaticString = "io.disks="
  /// With a disk: the raw sequential read and write benchmark of the first
  /// disk (`DiskBenchLayout`), reported before `CheckpointCode.measured`. It
  /// writes the disk: the host runs it on a scratch image.
  public static let benchDisk: StaticString = "bench.disk"

  /// Every whole word the guest knows. The host refuses any other word, and so does the
  /// guest (a word it ignored would be a run that silently did less than asked).
  public static let words: [StaticString] = [
    hypercallConsole, hypercallSerial, debugConsole, mapLargeRegion, measure, measureFaults, faultWriteText,
    faultExecuteData, hang, faultInvalidOpcode, conformance, script, scriptTestHooks, benchDisk,
  ]
  /// Words that carry a decimal number after the prefix.
  public static let numberPrefixes: [StaticString] = [zeroedPagesPrefix, disksPrefix]
}
