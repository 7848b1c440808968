/// What a hypercall asks of the host. The guest writes a request record
/// (layout: `HypercallRequest`) into its own memory and writes the record's
/// physical address, as 32 bits, to `GuestPort.hypercall`.
public enum HypercallKind: UInt32, Sendable {
  /// Text for the console: arg0 = physical address, arg1 = length in bytes.
  case print = 1
  /// Stop here for the host to inspect: arg0 = `CheckpointCode`, arg1 = physical
  /// address of the name (ASCII), arg2 = its length, arg3 = CR3 as the guest
  /// reads it (the host checks the registers it reads against it). The host
  /// may answer in `response`.
  case checkpoint = 2
  /// The guest is done: arg0 = exit status (0 = success).
  case exit = 3
  /// An exception the kernel did not expect: arg0 = vector, arg1 = error code,
  /// arg2 = CR2, arg3 = RIP. An `exit` with `GuestExitStatus.unexpectedException` follows.
  case exception = 4
  /// The debug block: arg0 = its physical address (layout: `DebugBlock`).
  case debugBlock = 5
  /// A measured figure: arg0 = `MeasurementKind`, arg1 = median TSC ticks,
  /// arg2 = iterations, arg3 = TSC ticks per microsecond as the guest sees them (0 if unknown).
  case measurement = 6
  /// A buffer the host reads or writes in bulk: arg0 `GuestRegionKind`, arg1 physical address, arg2 bytes.
  case region = 7
}

/// Layout of the hypercall request record (little-endian, 8-byte aligned,
/// `HypercallRequest.size` bytes). Offsets, not a Swift struct, so host and guest
/// agree on bytes rather than on a compiler's layout.
public enum HypercallRequest {
  /// UInt32: `HypercallRequest.magicValue`, to catch stray writes to the port.
  public static let magic = 0
  /// UInt32: a `HypercallKind`.
  public static let kind = 4
  /// UInt64 arguments, meaning per kind.
  public static let arg0 = 8
  public static let arg1 = 16
  public static let arg2 = 24
  public static let arg3 = 32
  /// UInt64 written by the host before it resumes the guest (0 unless a kind says otherwise).
  public static let response = 40
  /// UInt32, serial transport only: 0 while the host has not served the
  /// call, then 1 (the guest spins on it).
  public static let served = 48
  public static let size = 56
  /// The serial transport (`GuestCommandLine.hypercallSerial`): the guest
  /// writes this prefix, the record's physical address in hexadecimal and a
  /// newline on COM1, then waits on `served`. Under QEMU, whose port I/O mmlab
  /// cannot see, this is how calls reach the host (LibvirtMachine).
  public static let serialMarker: StaticString = "\u{1}mmlab-hypercall 0x"
  /// A host that cannot write the record (a remote libvirt) answers on COM1
  /// instead: this byte ('!'), 16 lowercase hex digits of the response, "\n".
  public static let serialAnswer: UInt8 = 0x21
  /// "MMHC" little-endian.
  public static let magicValue: UInt32 = 0x4348_4D4D
}

/// Well-known checkpoints. The name travels with the code, so a scenario may
/// add checkpoints without a new code; the host matches either.
public enum CheckpointCode: UInt64, Sendable {
  /// Kernel page tables are live, console and IDT set up.
  case booted = 1
  /// A large region (`BenchLayout`) is mapped in 4 KiB pages for walk benchmarks.
  case largeRegionMapped = 2
  /// Platform cost measurements are done (reported with `measurement` hypercalls).
  case measured = 3
  /// The conformance runner waits for a request (`ConformanceABI`).
  case conformanceReady = 4
  /// The script interpreter waits for a batch of steps (`ScriptABI`).
  case scriptReady = 5
  /// The script interpreter stopped around a step: the request header says
  /// which step and whether before or after it ran (`ScriptABI.requestStopStep`).
  case scriptStep = 6

  /// The name the guest gives the checkpoint.
  public var name: StaticString {
    switch self {
    case .booted: return "booted"
    case .largeRegionMapped: return "large-region-mapped"
    case .measured: return "measured"
    case .conformanceReady: return "conformance-ready"
    case .scriptReady: return "script-ready"
    case .scriptStep: return "script-step"
    }
  }
}

/// Exit statuses the guest reports on `GuestPort.debugExit` and with `HypercallKind.exit`.
public enum GuestExitStatus: UInt8, Sendable {
  case success = 0
  case failure = 1
  case unexpectedException = 0x7E
  case badBootInformation = 0x7D
  case kernelPanic = 0x7F
}

/// Figures the guest measures with rdtsc (`HypercallKind.measurement`).
public enum MeasurementKind: UInt64, Sendable {
  /// A #PF raised, handled and returned from with IRETQ.
  case pageFaultRoundTrip = 1
  /// One INVLPG.
  case invlpg = 2
  /// One 8-byte store to a page-table page in use.
  case livePageTableWrite = 3
  /// One port write that exits to the VMM.
  case portExit = 4
  /// A user-mode first touch of a committed page: the memory manager's demand-zero fault.
  case demandZeroFault = 5
  /// A user-mode #PF whose handler only stores a prepared PTE and returns (the bare round trip).
  case bareUserFault = 6
  /// A supervisor load through a valid mapping (`arch_probe_load`): on kvm-pvm
  /// an emulated instruction, the floor of a supervisor access the
  /// conformance suite makes.
  case conformanceSupervisorAccess = 7
  /// One raw virtio-blk request of `DiskBenchLayout.smallRequest` bytes, read sequentially from the disk.
  case diskRead64K = 8
  /// The same with `DiskBenchLayout.largeRequest` bytes.
  case diskRead1M = 9
  /// One raw write request of `DiskBenchLayout.smallRequest` bytes, written sequentially.
  case diskWrite64K = 10
  /// The same with `DiskBenchLayout.largeRequest` bytes.
  case diskWrite1M = 11
}

/// The raw disk benchmark (`GuestCommandLine.benchDisk`): the guest's driver
/// reads and then writes the first disk sequentially from sector 0, in requests of
/// each size, up to `span` bytes (or the disk's size), and reports the median
/// ticks per request.
public enum DiskBenchLayout {
  public static let smallRequest: UInt64 = 64 << 10
  public static let largeRequest: UInt64 = 1 << 20
  /// Bytes each pass covers at most.
  public static let span: UInt64 = 32 << 20
}

/// What a `HypercallKind.region` announces.
public enum GuestRegionKind: UInt64, Sendable {
  /// The conformance request buffer (`ConformanceABI.requestBufferSize` bytes).
  case conformanceRequest = 1
  /// The conformance results buffer (`ConformanceABI.resultsBufferSize` bytes).
  case conformanceResults = 2
  /// The page every conformance case's leaf maps (a `RET` at offset 0).
  case conformanceTarget = 3
  /// The script interpreter's request buffer (`ScriptABI.requestBufferSize` bytes).
  case scriptRequest = 4
  /// The script interpreter's results buffer (`ScriptABI.resultsBufferSize` bytes).
  case scriptResults = 5
}
