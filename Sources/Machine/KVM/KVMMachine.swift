#if os(Linux)
  import CKVM
  import Glibc
  import GuestABI
  import Logging
  import Synchronization

  /// The mmlab guest on /dev/kvm directly: one VM, one vCPU, one memory slot of
  /// anonymous memory mapped into this process, and the guest's ports
  /// (`GuestPort`) handled here, and a PCI bus with a virtio-blk function per
  /// disk (`PCIBus`). No interrupt controller: the guest polls its devices and
  /// talks to the host through port I/O, MMIO and hypercalls.
  ///
  /// Not thread-safe: use one machine from one thread at a time. `memory` is
  /// valid only while the machine lives.
  public final class KVMMachine: Machine {
    // MARK: Public state

    public let platform: Platform
    public let memory: GuestPhysicalMemory
    public var console: (String) -> Void = { _ in }
    /// Bytes of guest RAM (at physical 0).
    public let memorySize: UInt64
    /// True if the memory slot logs dirty pages (`dirtyPages()`).
    public let logsDirtyPages: Bool
    /// Time from opening /dev/kvm to a vCPU ready at the PVH entry (VM, memory slot, vCPU, image, boot information).
    public let setupDuration: Duration
    /// Physical address of the guest's debug block (`HypercallKind.debugBlock`), once reported.
    public var debugBlockAddress: UInt64? { reports.debugBlockAddress }
    /// Figures the guest measured, keyed by `MeasurementKind` raw value.
    public var measurements: [UInt64: GuestMeasurement] { reports.measurements }
    /// Buffers the guest announced, bounds-checked against guest RAM when announced.
    public var regions: [UInt64: GuestRegion] { reports.regions }
    /// The last exception the guest reported (`HypercallKind.exception`).
    public var lastException: GuestException? { reports.lastException }
    var reports = GuestReports()
    /// Everything the guest printed so far (at most `transcriptLimit` bytes kept, the latest).
    public var consoleTranscript: String { ports.console.transcript }
    /// The virtio-blk functions, one per disk, in PCI device order (devices 1, 2...).
    public var disks: [VirtioBlockDevice] { ports.pci.disks }
    /// Ports the guest used that no handler knows, with how often (reads answered 0xFF, writes ignored).
    public var unhandledPortAccesses: [UInt16: Int] { ports.unhandled }
    /// The KVM objects, for callers that need an ioctl this class does not wrap.
    public let system: KVMSystem
    public let virtualMachine: KVMVirtualMachine
    public let virtualCPU: KVMVirtualCPU

    public static let transcriptLimit = ConsoleBuffer.transcriptLimit
    /// The single memory slot holding all RAM.
    static let memorySlot: UInt32 = 0

    // MARK: Private state

    private let ram: OwnedMapping
    private let watchdog: KVMWatchdog
    /// The pending checkpoint's request record, until the next `run`.
    var pendingCheckpointRequest: UInt64?
    /// Set once the guest exited or the VM shut down; `run` keeps returning it.
    private var finalStop: MachineStop?
    /// The port devices, the console's line buffer among them.
    var ports = PortDevices()

    // MARK: Creation

    /// Creates the VM and loads `image` with the PVH boot information; the vCPU
    /// waits at `image.pvhEntry` until the first `run`.
    public convenience init(
      image: BootImage, memoryMiB: Int = BootLayout.defaultMemoryMiB, commandLine: String = "",
      logDirtyPages: Bool = false, disks: [DiskFile] = []
    ) throws(MachineError) {
      try self.init(
        image: image, memoryMiB: memoryMiB, commandLine: commandLine, logDirtyPages: logDirtyPages, disks: disks,
        systemCalls: .live, devicePath: "/dev/kvm", sysfsRoot: "/sys", procRoot: "/proc", cacheHostFacts: true)
    }

    /// The same, with the system-call choke point and the paths injectable (tests).
    /// `cacheHostFacts` re-uses, within this process, what does not change while
    /// it runs: KVM_GET_SUPPORTED_CPUID (a quarter of a millisecond on kvm-pvm,
    /// where every CPUID the kernel executes exits to the outer hypervisor) and
    /// the sysfs and /proc/cpuinfo part of `platform`.
    public init(
      image: BootImage, memoryMiB: Int, commandLine: String, logDirtyPages: Bool, disks: [DiskFile] = [],
      systemCalls: SystemCalls,
      devicePath: String, sysfsRoot: String, procRoot: String, cacheHostFacts: Bool = false
    ) throws(MachineError) {
      guard (BootLayout.minimumMemoryMiB...BootLayout.maximumMemoryMiB).contains(memoryMiB) else {
        throw .invalidConfiguration(
          "memory of \(memoryMiB) MiB is outside \(BootLayout.minimumMemoryMiB)...\(BootLayout.maximumMemoryMiB) MiB")
      }
      let ramSize = UInt64(memoryMiB) << 20
      try Self.validate(image, ramSize: ramSize)
      guard disks.count <= PCIBus.maximumDisks else {
        throw .invalidConfiguration("at most \(PCIBus.maximumDisks) disks (got \(disks.count))")
      }
      guard commandLine.utf8.count < BootLayout.commandLineCapacity, !commandLine.utf8.contains(0) else {
        throw .invalidConfiguration(
          "the command line must be shorter than \(BootLayout.commandLineCapacity) bytes and contain no NUL")
      }

      let start = ContinuousClock.now
      let system: KVMSystem
      do {
        system = try KVMSystem(path: devicePath, systemCalls: systemCalls)
      } catch {
        throw Self.explainOpenFailure(error, path: devicePath)
      }
      let version: Int32
      do throws(KVMError) { version = try system.getAPIVersion() } catch { throw error.machineError }
      guard version == KVMSystem.expectedAPIVersion else {
        throw .kvmUnavailable(
          "\(devicePath) speaks KVM API version \(version); mmlab needs version \(KVMSystem.expectedAPIVersion)")
      }
      let parts: (vm: KVMVirtualMachine, vcpu: KVMVirtualCPU, ram: OwnedMapping, cpuid: [CPUIDEntry])
      do throws(KVMError) {
        parts = try Self.createParts(
          system: system, systemCalls: systemCalls, ramSize: ramSize, logDirtyPages: logDirtyPages,
          cacheHostFacts: cacheHostFacts)
      } catch {
        throw error.machineError
      }
      let memory = GuestPhysicalMemory(regions: [.init(base: BootLayout.ramBase, bytes: parts.ram.bytes)])
      // The mapping is fresh anonymous memory, all zero: only the file bytes need copying
      // (`validate` checked that every segment fits).
      for segment in image.segments {
        memory.write(segment.fileBytes, at: segment.physicalAddress)
      }
      try BootLayout.writeBootInformation(ramSize: ramSize, commandLine: commandLine, into: memory)
      do throws(KVMError) {
        try Self.setPVHEntryState(parts.vcpu, entry: image.pvhEntry)
      } catch {
        throw error.machineError
      }

      self.system = system
      self.virtualMachine = parts.vm
      self.virtualCPU = parts.vcpu
      self.ram = parts.ram
      self.memory = memory
      self.memorySize = ramSize
      self.logsDirtyPages = logDirtyPages
      self.watchdog = KVMWatchdog(run: parts.vcpu.kvmRun)
      self.ports.pci = PCIBus(disks: disks)
      self.setupDuration = ContinuousClock.now - start
      self.platform = Self.platform(
        sysfsRoot: sysfsRoot, procRoot: procRoot, apiVersion: version, cpuid: parts.cpuid,
        cacheHostFacts: cacheHostFacts)
      Self.logger.debug(
        "VM ready",
        metadata: [
          "ramMiB": "\(memoryMiB)", "setup": "\(setupDuration)", "platform": "\(platform)",
          "commandLine": "\(commandLine)",
        ])
    }

    /// Debug: VM creation and every stop; trace: every hypercall.
    static let logger = Logger(label: "mmlab.machine.kvm")

    /// The VM with its TSS pages and its memory slot, and one vCPU with its CPUID
    /// set. Everything made is owned by a value that releases it, so a failure
    /// half-way leaks nothing.
    private static func createParts(
      system: KVMSystem, systemCalls: SystemCalls, ramSize: UInt64, logDirtyPages: Bool, cacheHostFacts: Bool
    ) throws(KVMError) -> (vm: KVMVirtualMachine, vcpu: KVMVirtualCPU, ram: OwnedMapping, cpuid: [CPUIDEntry]) {
      let vm = try system.createVM()
      // Intel hosts need three pages for the real-mode TSS (4.36); ask only where KVM offers it.
      if try vm.checkExtension(.setTSSAddress) > 0 {
        try vm.setTSSAddress(BootLayout.tssAddress)
      }
      let cpuid: [CPUIDEntry]
      if cacheHostFacts, let cached = hostFacts.withLock({ $0.supportedCPUID }) {
        cpuid = cached
      } else {
        cpuid = try system.getSupportedCPUID()
        if cacheHostFacts { hostFacts.withLock { $0.supportedCPUID = cpuid } }
      }
      // Guest RAM: anonymous, private, not charged against swap until touched.
      let address = try systemCalls.check(
        systemCalls.mmap(Int(ramSize), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
        "mmap guest RAM")
      let ram = OwnedMapping(address: address, length: Int(ramSize), systemCalls: systemCalls)
      // Huge pages behind guest RAM let KVM's shadow MMU map the guest's 2 MiB
      // pages whole: on kvm-pvm each first touch of a 4 KiB page otherwise
      // costs ~10 µs, which made boot time grow with the PFN database.
      _ = systemCalls.madvise(address, Int(ramSize), MADV_HUGEPAGE)
      try vm.setUserMemoryRegion(
        slot: memorySlot, flags: logDirtyPages ? .logDirtyPages : [], guestPhysicalAddress: BootLayout.ramBase,
        memorySize: ramSize, userspaceAddress: address)
      let vcpu = try vm.createVCPU(id: 0)
      try vcpu.setCPUID2(guestCPUID(from: cpuid))
      return (vm, vcpu, ram, cpuid)
    }

    /// `Platform.detect` plus what KVM told us (API version, the guest's address sizes).
    private static func platform(
      sysfsRoot: String, procRoot: String, apiVersion: Int32, cpuid: [CPUIDEntry], cacheHostFacts: Bool
    ) -> Platform {
      var platform: Platform
      if cacheHostFacts, let cached = hostFacts.withLock({ $0.hostPlatform }) {
        platform = cached
      } else {
        platform = Platform.detect(sysfsRoot: sysfsRoot, procRoot: procRoot, kvmAPIVersion: nil, guestAddressSizes: nil)
        if cacheHostFacts { hostFacts.withLock { [platform] in $0.hostPlatform = platform } }
      }
      platform.kvmAPIVersion = Int(apiVersion)
      if let sizes = Platform.addressSizes(from: cpuid) {
        platform.guestMaxPhysicalAddressBits = sizes.physical
        platform.guestLinearAddressBits = sizes.linear
      }
      return platform
    }

    /// Facts about this host that stay put while the process runs (see `cacheHostFacts`).
    private struct HostFacts {
      var supportedCPUID: [CPUIDEntry]?
      var hostPlatform: Platform?
    }
    private static let hostFacts = Mutex(HostFacts())

    /// Turns a failed open of /dev/kvm into advice.
    static func explainOpenFailure(_ error: KVMError, path: String) -> MachineError {
      let why = errnoDescription(error.errno)
      switch error.errno {
      case ENOENT, ENODEV, ENXIO:
        return .kvmUnavailable(
          "no \(path): \(why). This host offers no KVM: load the kvm module (modprobe kvm_intel, kvm_amd or "
            + "kvm_pvm), enable virtualization in the firmware or nested virtualization in the outer VM, "
            + "or run on a KVM host.")
      case EACCES, EPERM:
        return .kvmUnavailable(
          "cannot open \(path): \(why). Give this user access: add it to the group that owns \(path) "
            + "(usually kvm: `sudo usermod -aG kvm $USER`, then log in again), or install a udev rule such as "
            + "`KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0666\", OPTIONS+=\"static_node=kvm\"` in "
            + "/etc/udev/rules.d/99-kvm.rules and run `udevadm control --reload-rules && "
            + "udevadm trigger --name-match=kvm`.")
      default:
        return .kvmUnavailable("cannot open \(path): \(why) (errno \(error.errno))")
      }
    }

    /// Checks that every segment lies in RAM, clear of the boot information, and
    /// that the entry point is inside one of them.
    static func validate(_ image: BootImage, ramSize: UInt64) throws(MachineError) {
      guard !image.segments.isEmpty else { throw .badImage("no loadable segments") }
      for (index, segment) in image.segments.enumerated() {
        let hex = "0x" + String(segment.physicalAddress, radix: 16)
        guard UInt64(segment.fileBytes.count) <= segment.memorySize else {
          throw .badImage("segment \(index) at \(hex) has more file bytes than its memory size")
        }
        let (end, overflow) = segment.physicalAddress.addingReportingOverflow(segment.memorySize)
        guard !overflow, segment.physicalAddress >= BootLayout.ramBase, end <= BootLayout.ramBase + ramSize else {
          throw .badImage(
            "segment \(index) at \(hex) (0x\(String(segment.memorySize, radix: 16)) bytes) lies outside the "
              + "\(ramSize >> 20) MiB of guest RAM")
        }
        guard !BootLayout.overlapsBootInformation(address: segment.physicalAddress, size: segment.memorySize) else {
          throw .badImage(
            "segment \(index) at \(hex) overlaps the boot information at "
              + "0x\(String(BootLayout.bootInformationStart, radix: 16))..<"
              + "0x\(String(BootLayout.bootInformationEnd, radix: 16))")
        }
      }
      let entry = UInt64(image.pvhEntry)
      guard
        image.segments.contains(where: { entry >= $0.physicalAddress && entry < $0.physicalAddress + $0.memorySize })
      else { throw .badImage("the PVH entry 0x\(String(entry, radix: 16)) is outside every segment") }
    }

    /// KVM_GET_SUPPORTED_CPUID, less what this machine cannot back: there is no
    /// in-kernel interrupt controller, so no local APIC, no x2APIC and no
    /// TSC-deadline timer (the KVM API documentation: x2APIC needs KVM_CREATE_IRQCHIP).
    static func guestCPUID(from supported: [CPUIDEntry]) -> [CPUIDEntry] {
      supported.map { entry in
        guard entry.function == 1 else { return entry }
        var entry = entry
        entry.ecx &= ~((1 << 21) | (1 << 24))  // x2APIC, TSC-deadline
        entry.edx &= ~(1 << 9)  // APIC
        return entry
      }
    }

    /// The vCPU state the PVH boot ABI promises: 32-bit protected mode, paging
    /// off, flat 4 GiB code and data segments, EBX = start_info, EIP = entry.
    static func setPVHEntryState(_ vcpu: KVMVirtualCPU, entry: UInt32) throws(KVMError) {
      var sregs = try vcpu.getSregs()
      func flat(_ selector: UInt16, type: UInt8) -> kvm_segment {
        var segment = kvm_segment()
        segment.base = 0
        segment.limit = 0xFFFF_FFFF
        segment.selector = selector
        segment.type = type
        segment.present = 1
        segment.dpl = 0
        segment.db = 1
        segment.s = 1
        segment.l = 0
        segment.g = 1
        segment.avl = 0
        segment.unusable = 0
        return segment
      }
      sregs.cs = flat(BootLayout.codeSelector, type: 0xB)  // execute/read, accessed
      let data = flat(BootLayout.dataSelector, type: 0x3)  // read/write, accessed
      sregs.ds = data
      sregs.es = data
      sregs.fs = data
      sregs.gs = data
      sregs.ss = data
      sregs.gdt.base = BootLayout.gdtAddress
      sregs.gdt.limit = BootLayout.gdtLimit
      // No IDT: an exception before the guest loads its own is a triple fault, reported as a shutdown.
      sregs.idt.base = 0
      sregs.idt.limit = 0
      sregs.cr0 = BootLayout.initialCR0
      sregs.cr3 = 0
      sregs.cr4 = 0
      sregs.efer = 0
      try vcpu.setSregs(sregs)

      var regs = kvm_regs()
      regs.rip = UInt64(entry)
      regs.rflags = BootLayout.initialRFLAGS
      regs.rbx = BootLayout.startInfoAddress
      try vcpu.setRegs(regs)
    }

    // MARK: Machine

    public func run(timeoutSeconds: Double) throws(MachineError) -> MachineStop {
      if let finalStop { return finalStop }
      guard timeoutSeconds.isFinite, timeoutSeconds > 0 else {
        throw .invalidConfiguration("timeout of \(timeoutSeconds) s: give a positive number of seconds")
      }
      pendingCheckpointRequest = nil
      let nanoseconds = timeoutSeconds >= 1e9 ? Int64.max : Int64(timeoutSeconds * 1e9)
      do {
        try watchdog.arm(nanoseconds: nanoseconds)
      } catch {
        throw error.machineError
      }
      defer {
        watchdog.disarm()
        // SAFETY: the watchdog is disarmed and its signal handled, so nothing else writes the flag now.
        ckvm_run_set_immediate_exit(virtualCPU.kvmRun, 0)
        flushConsole()
      }
      while true {
        do {
          try virtualCPU.run()
        } catch {
          guard error.errno == EINTR else { throw error.machineError }
          if watchdog.fired {
            return .timedOut(seconds: timeoutSeconds, registers: try? registers())
          }
          continue  // some other signal: run on
        }
        if let stop = try handleExit() {
          Self.logger.debug("stop", metadata: ["stop": "\(stop)"])
          switch stop {
          case .exited, .shutdown: finalStop = stop
          case .checkpoint, .timedOut: break
          }
          return stop
        }
      }
    }

    public func registers() throws(MachineError) -> RegisterState {
      do {
        let regs = try virtualCPU.getRegs()
        let sregs = try virtualCPU.getSregs()
        var state = RegisterState()
        state.rax = regs.rax
        state.rbx = regs.rbx
        state.rcx = regs.rcx
        state.rdx = regs.rdx
        state.rsi = regs.rsi
        state.rdi = regs.rdi
        state.rsp = regs.rsp
        state.rbp = regs.rbp
        state.r8 = regs.r8
        state.r9 = regs.r9
        state.r10 = regs.r10
        state.r11 = regs.r11
        state.r12 = regs.r12
        state.r13 = regs.r13
        state.r14 = regs.r14
        state.r15 = regs.r15
        state.rip = regs.rip
        state.rflags = regs.rflags
        state.cr0 = sregs.cr0
        state.cr2 = sregs.cr2
        state.cr3 = sregs.cr3
        state.cr4 = sregs.cr4
        state.efer = sregs.efer
        state.cs = sregs.cs.selector
        // CPL: 0 in real mode, 3 in virtual-8086 mode, else SS.DPL (which VMX and SVM both keep equal to CPL).
        if sregs.cr0 & 1 == 0 {
          state.cpl = 0
        } else if regs.rflags & (1 << 17) != 0 {
          state.cpl = 3
        } else {
          state.cpl = sregs.ss.dpl
        }
        return state
      } catch {
        throw error.machineError
      }
    }

    public func setCheckpointResponse(_ value: UInt64) throws(MachineError) {
      guard let request = pendingCheckpointRequest else {
        throw .invalidConfiguration(
          "no checkpoint is pending: setCheckpointResponse belongs between a checkpoint and the next run")
      }
      guard memory.store(value, at: request + UInt64(HypercallRequest.response)) else {
        throw .protocolViolation("the checkpoint's request record at 0x\(String(request, radix: 16)) left guest RAM")
      }
    }

    // MARK: Cross-checks

    /// KVM_TRANSLATE of `virtualAddress` with the vCPU's paging mode and tables as they are now.
    public func translate(_ virtualAddress: UInt64) throws(MachineError) -> (valid: Bool, physicalAddress: UInt64) {
      do {
        let answer = try virtualCPU.translate(virtualAddress)
        return (answer.valid, answer.physicalAddress)
      } catch {
        throw error.machineError
      }
    }

    /// The guest's TSC frequency in kHz (KVM_GET_TSC_KHZ), to turn the ticks of
    /// `measurements` into time.
    public func tscKHz() throws(MachineError) -> UInt64 {
      do {
        return try virtualCPU.getTSCKHz()
      } catch {
        throw error.machineError
      }
    }

    /// `tscKHz()`, or nil if KVM cannot say (KVM_GET_TSC_KHZ fails with EIO on an unstable host TSC).
    public var timeStampCounterKHz: UInt64? { try? tscKHz() }

    /// Page frame numbers the guest wrote since the previous call (or since boot),
    /// from KVM_GET_DIRTY_LOG. Needs `logDirtyPages: true` at creation.
    public func dirtyPages() throws(MachineError) -> [UInt64] {
      guard logsDirtyPages else {
        throw .unsupported("dirty-page logging is off: create the KVMMachine with logDirtyPages: true")
      }
      let pageCount = Int(memorySize / BootLayout.pageSize)
      let bitmap: [UInt64]
      do {
        bitmap = try virtualMachine.getDirtyLog(slot: Self.memorySlot, pageCount: pageCount)
      } catch {
        throw error.machineError
      }
      let firstFrame = BootLayout.ramBase / BootLayout.pageSize
      var frames: [UInt64] = []
      for (wordIndex, word) in bitmap.enumerated() where word != 0 {
        var bits = word
        while bits != 0 {
          let bit = UInt64(bits.trailingZeroBitCount)
          frames.append(firstFrame + UInt64(wordIndex) * 64 + bit)
          bits &= bits - 1
        }
      }
      return frames
    }

  }
#endif
