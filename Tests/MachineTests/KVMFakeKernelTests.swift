#if os(Linux)
  import CKVM
  import Foundation
  import Glibc
  import GuestABI
  import Testing
  @testable import Machine

  /// KVMMachine against `KVMFakeKernel`: errors, leaks and exit dispatch without /dev/kvm.
  @Suite("KVM without /dev/kvm (fake system calls)")
  struct KVMFakeKernelTests {
    /// A one-segment image: a few bytes at 1 MiB, entry at its start.
    static let image = BootImage(
      segments: [
        .init(
          physicalAddress: KernelLayout.physicalBase, virtualAddress: KernelLayout.physicalBase,
          fileBytes: [0xF4], memorySize: 0x1000, flags: 5)
      ],
      pvhEntry: UInt32(KernelLayout.physicalBase))

    static func machine(_ kernel: KVMFakeKernel, memoryMiB: Int = 4, commandLine: String = "", dirty: Bool = false)
      throws(MachineError) -> KVMMachine
    {
      try KVMMachine(
        image: image, memoryMiB: memoryMiB, commandLine: commandLine, logDirtyPages: dirty,
        systemCalls: kernel.systemCalls, devicePath: "/dev/kvm", sysfsRoot: "/nonexistent-sys",
        procRoot: "/nonexistent-proc")
    }

    static func expectKVMUnavailable(_ kernel: KVMFakeKernel, containing words: [String]) {
      do {
        _ = try machine(kernel)
        Issue.record("expected kvmUnavailable")
      } catch {
        guard case .kvmUnavailable(let message) = error else {
          Issue.record("expected kvmUnavailable, got \(error)")
          return
        }
        for word in words {
          #expect(message.contains(word), "\(message) should mention \(word)")
        }
      }
    }

    // MARK: Opening /dev/kvm

    @Test func missingDeviceSaysHowToGetKVM() {
      let kernel = KVMFakeKernel()
      kernel.openErrno = ENOENT
      Self.expectKVMUnavailable(kernel, containing: ["no /dev/kvm", "load the kvm module", "KVM host"])
    }

    @Test func permissionDeniedSaysHowToFixPermissions() {
      let kernel = KVMFakeKernel()
      kernel.openErrno = EACCES
      Self.expectKVMUnavailable(
        kernel, containing: ["Permission denied", "usermod -aG kvm", "MODE=\"0666\"", "udevadm trigger"])
    }

    @Test func apiVersionMismatchIsRefused() {
      let kernel = KVMFakeKernel()
      kernel.apiVersion = 11
      Self.expectKVMUnavailable(kernel, containing: ["version 11", "version 12"])
      #expect(kernel.openDescriptors.isEmpty)
    }

    // MARK: Failures mid-setup leak nothing

    @Test(
      arguments: [
        ("KVM_CREATE_VM", ckvm_ioctl_create_vm()),
        ("KVM_GET_VCPU_MMAP_SIZE", ckvm_ioctl_get_vcpu_mmap_size()),
        ("KVM_SET_TSS_ADDR", ckvm_ioctl_set_tss_addr()),
        ("KVM_GET_SUPPORTED_CPUID", ckvm_ioctl_get_supported_cpuid()),
        ("KVM_SET_USER_MEMORY_REGION", ckvm_ioctl_set_user_memory_region()),
        ("KVM_CREATE_VCPU", ckvm_ioctl_create_vcpu()),
        ("KVM_SET_CPUID2", ckvm_ioctl_set_cpuid2()),
        ("KVM_GET_SREGS", ckvm_ioctl_get_sregs()),
        ("KVM_SET_SREGS", ckvm_ioctl_set_sregs()),
        ("KVM_SET_REGS", ckvm_ioctl_set_regs()),
      ])
    func failingIoctlIsTypedAndLeaksNothing(name: String, request: UInt) {
      let kernel = KVMFakeKernel()
      kernel.failingRequest = request
      kernel.failingErrno = ENOMEM
      #expect(throws: MachineError.systemCall(name: name, errno: ENOMEM)) { _ = try Self.machine(kernel) }
      #expect(kernel.openDescriptors.isEmpty, "descriptors left open: \(kernel.openDescriptors)")
      #expect(kernel.liveMappings.isEmpty, "mappings left: \(kernel.liveMappings)")
      #expect(Set(kernel.closedDescriptors).count == kernel.closedDescriptors.count, "a descriptor closed twice")
    }

    @Test func failingMmapOfGuestRAMLeaksNothing() {
      let kernel = KVMFakeKernel()
      kernel.failAnonymousMmap = true
      #expect(throws: MachineError.systemCall(name: "mmap guest RAM", errno: ENOMEM)) { _ = try Self.machine(kernel) }
      #expect(kernel.openDescriptors.isEmpty)
      #expect(kernel.liveMappings.isEmpty)
    }

    @Test func deinitClosesEverything() throws {
      let kernel = KVMFakeKernel()
      do {
        let machine = try Self.machine(kernel)
        #expect(kernel.openDescriptors.count == 3)  // /dev/kvm, VM, vCPU
        #expect(kernel.liveMappings.count == 2)  // RAM, kvm_run
        _ = machine
      }
      #expect(kernel.openDescriptors.isEmpty)
      #expect(kernel.liveMappings.isEmpty)
      #expect(kernel.closedDescriptors.count == 3)
    }

    // MARK: Configuration and image checks

    @Test func rejectsSegmentsOutsideRAMOrOverBootInformation() {
      let kernel = KVMFakeKernel()
      func image(at address: UInt64, size: UInt64) -> BootImage {
        BootImage(
          segments: [
            .init(physicalAddress: address, virtualAddress: address, fileBytes: [1], memorySize: size, flags: 5)
          ],
          pvhEntry: UInt32(truncatingIfNeeded: address))
      }
      for bad in [image(at: 4 << 20, size: 16), image(at: (4 << 20) - 8, size: 16), image(at: 0x1800, size: 16)] {
        #expect {
          _ = try KVMMachine(
            image: bad, memoryMiB: 4, commandLine: "", logDirtyPages: false, systemCalls: kernel.systemCalls,
            devicePath: "/dev/kvm", sysfsRoot: "/", procRoot: "/")
        } throws: { error in
          if case .badImage = error as? MachineError { return true }
          return false
        }
      }
      #expect(kernel.openDescriptors.isEmpty)
    }

    @Test func rejectsEntryOutsideSegmentsAndBadMemorySizes() {
      let kernel = KVMFakeKernel()
      var image = Self.image
      image.pvhEntry = 0x5000
      #expect(throws: MachineError.badImage("the PVH entry 0x5000 is outside every segment")) {
        _ = try KVMMachine(
          image: image, memoryMiB: 4, commandLine: "", logDirtyPages: false, systemCalls: kernel.systemCalls,
          devicePath: "/dev/kvm", sysfsRoot: "/", procRoot: "/")
      }
      for size in [0, 1, BootLayout.maximumMemoryMiB + 1] {
        #expect {
          _ = try Self.machine(kernel, memoryMiB: size)
        } throws: { error in
          if case .invalidConfiguration = error as? MachineError { return true }
          return false
        }
      }
    }

    // MARK: The state at the PVH entry

    @Test func setsUpThePVHEntryState() throws {
      let kernel = KVMFakeKernel()
      let machine = try Self.machine(kernel, commandLine: "console=hypercall", dirty: true)
      let registers = try machine.registers()
      #expect(registers.rip == KernelLayout.physicalBase)
      #expect(registers.rbx == BootLayout.startInfoAddress)
      #expect(registers.rflags == 0x2)
      #expect(registers.cr0 == 0x11)
      #expect(registers.cr4 == 0 && registers.efer == 0 && registers.cr3 == 0)
      #expect(registers.cs == BootLayout.codeSelector)
      #expect(registers.cpl == 0)
      let sregs = kernel.withLock { $0.savedSregs }
      #expect(sregs.cs.db == 1 && sregs.cs.g == 1 && sregs.cs.type == 0xB && sregs.cs.limit == 0xFFFF_FFFF)
      #expect(sregs.ss.selector == BootLayout.dataSelector && sregs.ss.type == 0x3)
      #expect(sregs.gdt.base == BootLayout.gdtAddress && sregs.gdt.limit == 31)
      #expect(kernel.withLock { $0.memorySlotFlags } == KVMMemoryRegionFlags.logDirtyPages.rawValue)
      // The boot information is in guest memory.
      #expect(machine.memory.load(UInt32.self, at: BootLayout.startInfoAddress) == PVHStartInfo.magicValue)
      #expect(machine.memory.load(UInt8.self, at: KernelLayout.physicalBase) == 0xF4)
      // The guest's CPUID has no APIC, x2APIC or TSC-deadline (no interrupt controller here).
      let leaf1 = try #require(kernel.withLock { $0.savedCPUID }.first { $0.function == 1 })
      #expect(leaf1.ecx & (1 << 21) == 0 && leaf1.ecx & (1 << 24) == 0 && leaf1.edx & (1 << 9) == 0)
      #expect(leaf1.ecx & 1 == 1)
      #expect(machine.platform.guestMaxPhysicalAddressBits == 40)
      #expect(machine.platform.guestLinearAddressBits == 48)
      #expect(machine.platform.kvmAPIVersion == 12)
    }

    // MARK: Exit dispatch

    @Test func consoleExitAndLineBuffering() throws {
      let kernel = KVMFakeKernel()
      kernel.runScript =
        "hi\nthere".utf8.map { KVMFakeKernel.portOut(GuestPort.debugConsole, value: UInt32($0)) }
        + [
          KVMFakeKernel.portOut(GuestPort.com1, value: UInt32(UInt8(ascii: "!"))),
          KVMFakeKernel.portOut(GuestPort.debugExit, value: 42),
        ]
      let machine = try Self.machine(kernel)
      let lines = KVMLines()
      machine.console = { lines.append($0) }
      #expect(try machine.run(timeoutSeconds: 5) == .exited(status: 42, exception: nil))
      #expect(lines.all == ["hi\n", "there!"])
      #expect(machine.consoleTranscript == "hi\nthere!")
      // The guest is gone: run keeps answering the same.
      #expect(try machine.run(timeoutSeconds: 5) == .exited(status: 42, exception: nil))
    }

    @Test func uartRegistersAnswerReady() throws {
      let kernel = KVMFakeKernel()
      let seen = KVMValues()
      kernel.runScript = [
        KVMFakeKernel.portIn(GuestPort.com1LineStatus), KVMFakeKernel.answeredValue { seen.append($0) },
      ]
      let machine = try Self.machine(kernel)
      _ = try machine.run(timeoutSeconds: 5)
      #expect(seen.all.first.map { $0 & 0xFF } == 0x60)
    }

    @Test func hypercallsPrintCheckpointExceptionMeasurementDebugBlockAndExit() throws {
      let kernel = KVMFakeKernel()
      let base: UInt64 = 0x20_0000
      kernel.runScript = (0..<6).map {
        KVMFakeKernel.portOut(GuestPort.hypercall, size: 4, value: UInt32(base) + UInt32($0) * 0x40)
      }
      let machine = try Self.machine(kernel)
      let memory = machine.memory
      memory.write(Array("hello\n".utf8), at: base + 0x1000)
      memory.write(Array("booted".utf8), at: base + 0x1100)
      KVMFakeKernel.writeHypercall(memory, at: base, kind: HypercallKind.print.rawValue, args: [base + 0x1000, 6])
      KVMFakeKernel.writeHypercall(
        memory, at: base + 0x40, kind: HypercallKind.checkpoint.rawValue,
        args: [CheckpointCode.booted.rawValue, base + 0x1100, 6])
      KVMFakeKernel.writeHypercall(
        memory, at: base + 0x80, kind: HypercallKind.measurement.rawValue,
        args: [MeasurementKind.invlpg.rawValue, 4680, 100_000, 2600])
      KVMFakeKernel.writeHypercall(memory, at: base + 0xC0, kind: HypercallKind.debugBlock.rawValue, args: [0x30_0000])
      KVMFakeKernel.writeHypercall(
        memory, at: base + 0x100, kind: HypercallKind.exception.rawValue,
        args: [14, 2, 0xdead_0000, 0xffff_ffff_8010_0000])
      KVMFakeKernel.writeHypercall(
        memory, at: base + 0x140, kind: HypercallKind.exit.rawValue,
        args: [UInt64(GuestExitStatus.unexpectedException.rawValue)])

      let lines = KVMLines()
      machine.console = { lines.append($0) }
      #expect(throws: MachineError.self) { try machine.setCheckpointResponse(1) }
      #expect(try machine.run(timeoutSeconds: 5) == .checkpoint(Checkpoint(code: 1, name: "booted")))
      #expect(lines.all == ["hello\n"])
      try machine.setCheckpointResponse(0x1234)
      #expect(memory.load(UInt64.self, at: base + 0x40 + UInt64(HypercallRequest.response)) == 0x1234)
      let stop = try machine.run(timeoutSeconds: 5)
      let exception = GuestException(vector: 14, errorCode: 2, cr2: 0xdead_0000, rip: 0xffff_ffff_8010_0000)
      #expect(stop == .exited(status: GuestExitStatus.unexpectedException.rawValue, exception: exception))
      #expect(machine.debugBlockAddress == 0x30_0000)
      #expect(
        machine.measurements[MeasurementKind.invlpg.rawValue]
          == GuestMeasurement(medianTicks: 4680, iterations: 100_000, ticksPerMicrosecond: 2600))
      #expect(throws: MachineError.self) { try machine.setCheckpointResponse(1) }
    }

    @Test func badHypercallsAreProtocolViolations() throws {
      let cases: [(String, (GuestPhysicalMemory) -> Void, UInt32)] = [
        ("bad magic", { KVMFakeKernel.writeHypercall($0, at: 0x20_0000, kind: 1, magic: 0x1234) }, 0x20_0000),
        ("unknown kind", { KVMFakeKernel.writeHypercall($0, at: 0x20_0000, kind: 99) }, 0x20_0000),
        ("outside RAM", { _ in }, 0xFFFF_0000),
        (
          "text outside RAM", { KVMFakeKernel.writeHypercall($0, at: 0x20_0000, kind: 1, args: [0x3FF_FFF0, 64]) },
          0x20_0000
        ),
        ("huge status", { KVMFakeKernel.writeHypercall($0, at: 0x20_0000, kind: 3, args: [256]) }, 0x20_0000),
      ]
      for (what, prepare, address) in cases {
        let kernel = KVMFakeKernel()
        kernel.runScript = [KVMFakeKernel.portOut(GuestPort.hypercall, size: 4, value: address)]
        let machine = try Self.machine(kernel)
        prepare(machine.memory)
        #expect(what.isEmpty == false)
        #expect {
          _ = try machine.run(timeoutSeconds: 5)
        } throws: { error in
          if case .protocolViolation = error as? MachineError { return true }
          return false
        }
      }
    }

    @Test func exitReasonsBecomeStops() throws {
      let expectations: [(Int32, String)] = [
        (KVM_EXIT_SHUTDOWN, "triple fault"),
        (KVM_EXIT_HLT, "guest halted"),
        (KVM_EXIT_INTERNAL_ERROR, "KVM_EXIT_INTERNAL_ERROR"),
        (KVM_EXIT_FAIL_ENTRY, "KVM_EXIT_FAIL_ENTRY"),
        (KVM_EXIT_MMIO, "MMIO"),
      ]
      for (reason, words) in expectations {
        let kernel = KVMFakeKernel()
        kernel.runScript = [KVMFakeKernel.exit(reason)]
        let machine = try Self.machine(kernel)
        let stop = try machine.run(timeoutSeconds: 5)
        guard case .shutdown(let why, let registers) = stop else {
          Issue.record("exit \(reason) gave \(stop)")
          continue
        }
        #expect(why.contains(words), "\(why)")
        #expect(registers?.rip == KernelLayout.physicalBase)
      }
      let kernel = KVMFakeKernel()
      kernel.runScript = [KVMFakeKernel.exit(KVM_EXIT_DEBUG)]
      let machine = try Self.machine(kernel)
      #expect(throws: MachineError.protocolViolation("unexpected KVM exit KVM_EXIT_DEBUG (4)")) {
        _ = try machine.run(timeoutSeconds: 5)
      }
    }

    @Test func watchdogInterruptsARunawayGuestAndCanRunAgain() throws {
      let kernel = KVMFakeKernel()
      kernel.runScript = [KVMFakeKernel.spinUntilKicked, KVMFakeKernel.spinUntilKicked]
      let machine = try Self.machine(kernel)
      let clock = ContinuousClock()
      let started = clock.now
      let stop = try machine.run(timeoutSeconds: 0.05)
      let elapsed = clock.now - started
      guard case .timedOut(let seconds, let registers) = stop else {
        Issue.record("expected a timeout, got \(stop)")
        return
      }
      #expect(seconds == 0.05)
      #expect(registers != nil)
      #expect(elapsed >= .milliseconds(50) && elapsed < .seconds(2))
      // immediate_exit is cleared again, and a second run times out on its own deadline.
      #expect(ckvm_run_immediate_exit(machine.virtualCPU.kvmRun) == 0)
      guard case .timedOut = try machine.run(timeoutSeconds: 0.02) else {
        Issue.record("second run did not time out")
        return
      }
    }

    @Test func invalidTimeoutsAreRejected() throws {
      let machine = try Self.machine(KVMFakeKernel())
      for timeout in [0, -1, Double.nan, Double.infinity] {
        #expect(throws: MachineError.self) { _ = try machine.run(timeoutSeconds: timeout) }
      }
    }

    @Test func dirtyPagesNeedsLogging() throws {
      let machine = try Self.machine(KVMFakeKernel())
      #expect(throws: MachineError.self) { _ = try machine.dirtyPages() }
      let logging = try Self.machine(KVMFakeKernel(), dirty: true)
      #expect(try logging.dirtyPages() == [])
    }
  }

  /// Collects strings from the console closure.
  final class KVMLines: @unchecked Sendable {
    // @unchecked Sendable: tests append from the thread that runs the machine only.
    private(set) var all: [String] = []
    func append(_ line: String) { all.append(line) }
  }

  /// Collects values a scripted step observed.
  final class KVMValues: @unchecked Sendable {
    // @unchecked Sendable: guarded by `lock`.
    private let lock = NSLock()
    private var values: [UInt32] = []
    func append(_ value: UInt32) { lock.withLock { values.append(value) } }
    var all: [UInt32] { lock.withLock { values } }
  }

#endif
