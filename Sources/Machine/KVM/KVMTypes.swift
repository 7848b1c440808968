#if os(Linux)
  import CKVM

  /// Why KVM_RUN returned (`kvm_run.exit_reason`, the KVM_EXIT_* values of <linux/kvm.h>).
  /// Only the x86 reasons; anything else arrives as `init(rawValue:)` == nil.
  public enum KVMExitReason: UInt32, Sendable, CustomStringConvertible {
    case unknown = 0  // KVM_EXIT_UNKNOWN
    case exception = 1  // KVM_EXIT_EXCEPTION
    case io = 2  // KVM_EXIT_IO
    case hypercall = 3  // KVM_EXIT_HYPERCALL
    case debug = 4  // KVM_EXIT_DEBUG
    case hlt = 5  // KVM_EXIT_HLT
    case mmio = 6  // KVM_EXIT_MMIO
    case irqWindowOpen = 7  // KVM_EXIT_IRQ_WINDOW_OPEN
    case shutdown = 8  // KVM_EXIT_SHUTDOWN
    case failEntry = 9  // KVM_EXIT_FAIL_ENTRY
    case intr = 10  // KVM_EXIT_INTR
    case setTPR = 11  // KVM_EXIT_SET_TPR
    case tprAccess = 12  // KVM_EXIT_TPR_ACCESS
    case nmi = 16  // KVM_EXIT_NMI
    case internalError = 17  // KVM_EXIT_INTERNAL_ERROR
    case systemEvent = 24  // KVM_EXIT_SYSTEM_EVENT
    case ioapicEOI = 26  // KVM_EXIT_IOAPIC_EOI
    case hyperv = 27  // KVM_EXIT_HYPERV
    case x86RDMSR = 29  // KVM_EXIT_X86_RDMSR
    case x86WRMSR = 30  // KVM_EXIT_X86_WRMSR
    case dirtyRingFull = 31  // KVM_EXIT_DIRTY_RING_FULL
    case x86BusLock = 33  // KVM_EXIT_X86_BUS_LOCK
    case xen = 34  // KVM_EXIT_XEN
    case notify = 37  // KVM_EXIT_NOTIFY

    /// The name as in <linux/kvm.h>.
    public var description: String {
      switch self {
      case .unknown: "KVM_EXIT_UNKNOWN"
      case .exception: "KVM_EXIT_EXCEPTION"
      case .io: "KVM_EXIT_IO"
      case .hypercall: "KVM_EXIT_HYPERCALL"
      case .debug: "KVM_EXIT_DEBUG"
      case .hlt: "KVM_EXIT_HLT"
      case .mmio: "KVM_EXIT_MMIO"
      case .irqWindowOpen: "KVM_EXIT_IRQ_WINDOW_OPEN"
      case .shutdown: "KVM_EXIT_SHUTDOWN"
      case .failEntry: "KVM_EXIT_FAIL_ENTRY"
      case .intr: "KVM_EXIT_INTR"
      case .setTPR: "KVM_EXIT_SET_TPR"
      case .tprAccess: "KVM_EXIT_TPR_ACCESS"
      case .nmi: "KVM_EXIT_NMI"
      case .internalError: "KVM_EXIT_INTERNAL_ERROR"
      case .systemEvent: "KVM_EXIT_SYSTEM_EVENT"
      case .ioapicEOI: "KVM_EXIT_IOAPIC_EOI"
      case .hyperv: "KVM_EXIT_HYPERV"
      case .x86RDMSR: "KVM_EXIT_X86_RDMSR"
      case .x86WRMSR: "KVM_EXIT_X86_WRMSR"
      case .dirtyRingFull: "KVM_EXIT_DIRTY_RING_FULL"
      case .x86BusLock: "KVM_EXIT_X86_BUS_LOCK"
      case .xen: "KVM_EXIT_XEN"
      case .notify: "KVM_EXIT_NOTIFY"
      }
    }
  }

  /// `kvm_run.internal.suberror` for KVM_EXIT_INTERNAL_ERROR (KVM_INTERNAL_ERROR_*).
  public enum KVMInternalError: UInt32, Sendable, CustomStringConvertible {
    case emulation = 1  // KVM_INTERNAL_ERROR_EMULATION
    case simultaneousExceptions = 2  // KVM_INTERNAL_ERROR_SIMUL_EX
    case deliveryEvent = 3  // KVM_INTERNAL_ERROR_DELIVERY_EV
    case unexpectedExitReason = 4  // KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON

    public var description: String {
      switch self {
      case .emulation: "emulation failure (KVM_INTERNAL_ERROR_EMULATION)"
      case .simultaneousExceptions: "unexpected simultaneous exceptions (KVM_INTERNAL_ERROR_SIMUL_EX)"
      case .deliveryEvent: "unexpected exit while delivering an event (KVM_INTERNAL_ERROR_DELIVERY_EV)"
      case .unexpectedExitReason: "unexpected hardware exit reason (KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON)"
      }
    }
  }

  /// Capabilities for KVM_CHECK_EXTENSION (the KVM_CAP_* values of <linux/kvm.h> that mmlab asks about).
  public struct KVMCapability: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let irqchip = KVMCapability(rawValue: KVM_CAP_IRQCHIP)
    public static let hlt = KVMCapability(rawValue: KVM_CAP_HLT)
    public static let userMemory = KVMCapability(rawValue: KVM_CAP_USER_MEMORY)
    public static let setTSSAddress = KVMCapability(rawValue: KVM_CAP_SET_TSS_ADDR)
    public static let extendedCPUID = KVMCapability(rawValue: KVM_CAP_EXT_CPUID)
    public static let numberOfMemorySlots = KVMCapability(rawValue: KVM_CAP_NR_MEMSLOTS)
    public static let syncMMU = KVMCapability(rawValue: KVM_CAP_SYNC_MMU)
    public static let setIdentityMapAddress = KVMCapability(rawValue: KVM_CAP_SET_IDENTITY_MAP_ADDR)
    public static let internalErrorData = KVMCapability(rawValue: KVM_CAP_INTERNAL_ERROR_DATA)
    public static let immediateExit = KVMCapability(rawValue: KVM_CAP_IMMEDIATE_EXIT)
  }

  /// `kvm_userspace_memory_region.flags`.
  public struct KVMMemoryRegionFlags: OptionSet, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// KVM_MEM_LOG_DIRTY_PAGES: track writes for KVM_GET_DIRTY_LOG.
    public static let logDirtyPages = KVMMemoryRegionFlags(rawValue: 1 << 0)
    /// KVM_MEM_READONLY: guest writes become KVM_EXIT_MMIO.
    public static let readOnly = KVMMemoryRegionFlags(rawValue: 1 << 1)
  }

  /// One CPUID leaf as KVM reports and accepts it (`struct kvm_cpuid_entry2`).
  public struct CPUIDEntry: Equatable, Hashable, Sendable {
    public var function: UInt32
    public var index: UInt32
    /// KVM_CPUID_FLAG_* (bit 0: `index` is significant).
    public var flags: UInt32
    public var eax: UInt32
    public var ebx: UInt32
    public var ecx: UInt32
    public var edx: UInt32

    public init(
      function: UInt32, index: UInt32 = 0, flags: UInt32 = 0, eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32
    ) {
      self.function = function
      self.index = index
      self.flags = flags
      self.eax = eax
      self.ebx = ebx
      self.ecx = ecx
      self.edx = edx
    }

    init(_ raw: kvm_cpuid_entry2) {
      self.init(
        function: raw.function, index: raw.index, flags: raw.flags, eax: raw.eax, ebx: raw.ebx, ecx: raw.ecx,
        edx: raw.edx)
    }

    var raw: kvm_cpuid_entry2 {
      var entry = kvm_cpuid_entry2()
      entry.function = function
      entry.index = index
      entry.flags = flags
      entry.eax = eax
      entry.ebx = ebx
      entry.ecx = ecx
      entry.edx = edx
      return entry
    }
  }

  /// Answer of KVM_TRANSLATE (`struct kvm_translation`).
  public struct KVMTranslation: Equatable, Sendable {
    public var linearAddress: UInt64
    public var physicalAddress: UInt64
    public var valid: Bool
    public var writeable: Bool
    public var userMode: Bool
  }
#endif
