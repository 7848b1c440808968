import GuestABI
import X86Paging

/// A virtual machine that runs the mmlab guest and lets the host stop and read it.
/// Backends: `KVMMachine` (/dev/kvm directly); later a libvirt one.
public protocol Machine: AnyObject {
  /// Which hypervisor answers, and how it virtualizes paging.
  var platform: Platform { get }
  /// Guest physical memory, read in place (bounds-checked, no copy).
  var memory: GuestPhysicalMemory { get }
  /// Runs the guest until it stops: a checkpoint, an exit, a shutdown, or the watchdog.
  /// Console text goes to `console` as it arrives.
  func run(timeoutSeconds: Double) throws(MachineError) -> MachineStop
  /// The vCPU's registers as they are now (at a stop).
  func registers() throws(MachineError) -> RegisterState
  /// Answers the pending checkpoint: the guest sees `value` as the hypercall's response.
  func setCheckpointResponse(_ value: UInt64) throws(MachineError)
  /// Where console text goes.
  var console: (String) -> Void { get set }
  /// Figures the guest reported (`HypercallKind.measurement`), keyed by `MeasurementKind` raw value.
  var measurements: [UInt64: GuestMeasurement] { get }
  /// Physical address of the guest's debug block (GuestABI `DebugBlock`), once the guest reported it.
  var debugBlockAddress: UInt64? { get }
  /// Buffers the guest announced (`HypercallKind.region`), by `GuestRegionKind` raw value.
  var regions: [UInt64: GuestRegion] { get }
  /// Makes what the host wrote into `memory` at `address` (`count` bytes)
  /// reach the guest. A no-op where `memory` is the guest's RAM itself.
  func commit(_ address: UInt64, count: Int) throws(MachineError)
  /// The guest's TSC frequency in kHz, if the backend knows it (turns measured ticks into time).
  var timeStampCounterKHz: UInt64? { get }
}

/// A figure the guest measured with rdtsc (`HypercallKind.measurement`).
public struct GuestMeasurement: Equatable, Sendable {
  public var medianTicks: UInt64
  public var iterations: UInt64
  /// TSC ticks per microsecond as the guest sees them (0 if unknown).
  public var ticksPerMicrosecond: UInt64
  public init(medianTicks: UInt64, iterations: UInt64, ticksPerMicrosecond: UInt64) {
    self.medianTicks = medianTicks
    self.iterations = iterations
    self.ticksPerMicrosecond = ticksPerMicrosecond
  }
}

/// Why `Machine.run` returned.
extension Machine {
  public func commit(_ address: UInt64, count: Int) throws(MachineError) {}
}

/// A guest buffer the host reads or writes in bulk (`HypercallKind.region`).
public struct GuestRegion: Equatable, Sendable {
  public var physicalAddress: UInt64
  public var size: UInt64
  public init(physicalAddress: UInt64, size: UInt64) {
    self.physicalAddress = physicalAddress
    self.size = size
  }
}

public enum MachineStop: Equatable, Sendable {
  /// The guest reached a checkpoint and waits for `run` to be called again.
  case checkpoint(Checkpoint)
  /// The guest ended with a status (0 = success).
  case exited(status: UInt8, exception: GuestException?)
  /// The VM shut down (triple fault) or failed; the last registers are attached.
  case shutdown(reason: String, registers: RegisterState?)
  /// The watchdog fired before the guest stopped.
  case timedOut(seconds: Double, registers: RegisterState?)
}

public struct Checkpoint: Equatable, Sendable {
  public var code: UInt64
  public var name: String
  public init(code: UInt64, name: String) {
    self.code = code
    self.name = name
  }
}

/// An exception the guest kernel reported before giving up.
public struct GuestException: Equatable, Sendable {
  public var vector: UInt64
  public var errorCode: UInt64
  public var cr2: UInt64
  public var rip: UInt64
  public init(vector: UInt64, errorCode: UInt64, cr2: UInt64, rip: UInt64) {
    self.vector = vector
    self.errorCode = errorCode
    self.cr2 = cr2
    self.rip = rip
  }
}

/// A vCPU's architectural state as far as mmlab reads it.
public struct RegisterState: Equatable, Sendable {
  public var rax: UInt64 = 0, rbx: UInt64 = 0, rcx: UInt64 = 0, rdx: UInt64 = 0
  public var rsi: UInt64 = 0, rdi: UInt64 = 0, rsp: UInt64 = 0, rbp: UInt64 = 0
  public var r8: UInt64 = 0, r9: UInt64 = 0, r10: UInt64 = 0, r11: UInt64 = 0
  public var r12: UInt64 = 0, r13: UInt64 = 0, r14: UInt64 = 0, r15: UInt64 = 0
  public var rip: UInt64 = 0, rflags: UInt64 = 0
  public var cr0: UInt64 = 0, cr2: UInt64 = 0, cr3: UInt64 = 0, cr4: UInt64 = 0
  public var efer: UInt64 = 0
  /// CS selector and current privilege level (CS.DPL in long mode).
  public var cs: UInt16 = 0
  public var cpl: UInt8 = 0
  public init() {}
}

/// Errors of a machine backend, each with a message fit for a user.
public enum MachineError: Error, Equatable, CustomStringConvertible {
  /// /dev/kvm is missing or cannot be opened.
  case kvmUnavailable(String)
  /// An ioctl or system call failed.
  case systemCall(name: String, errno: Int32)
  /// The guest image cannot be loaded.
  case badImage(String)
  /// The guest did something the host cannot make sense of.
  case protocolViolation(String)
  /// The requested configuration is invalid.
  case invalidConfiguration(String)
  /// The backend lacks a capability the request needs.
  case unsupported(String)
  /// A libvirt call failed: the call and libvirt's (or QEMU's) own words.
  case libvirt(String)

  public var description: String {
    switch self {
    case .kvmUnavailable(let why): return why
    case .systemCall(let name, let errno): return "\(name) failed: \(errnoDescription(errno)) (errno \(errno))"
    case .badImage(let why): return "bad guest image: \(why)"
    case .protocolViolation(let why): return "guest protocol violation: \(why)"
    case .invalidConfiguration(let why): return "invalid configuration: \(why)"
    case .unsupported(let why): return "unsupported: \(why)"
    case .libvirt(let why): return "libvirt: \(why)"
    }
  }
}
