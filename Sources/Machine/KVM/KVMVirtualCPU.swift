#if os(Linux)
  import CKVM
  import Glibc

  /// One virtual CPU: a descriptor from KVM_CREATE_VCPU and its mapped
  /// `struct kvm_run`. vCPU ioctls live here (Documentation/virt/kvm/api.rst,
  /// "4. API description", type "vcpu ioctl").
  public final class KVMVirtualCPU: @unchecked Sendable {
    // @unchecked Sendable: the descriptor and mapping are immutable; the kernel
    // serialises vCPU ioctls (a second KVM_RUN waits for the first). The run
    // structure is shared with the kernel and read only between KVM_RUN calls.

    let descriptor: OwnedFileDescriptor
    let runMapping: OwnedMapping
    let systemCalls: SystemCalls

    /// The vCPU descriptor.
    public var fd: Int32 { descriptor.raw }

    /// The shared `struct kvm_run` (section 5 of the KVM API documentation).
    public var kvmRun: UnsafeMutablePointer<kvm_run> {
      // SAFETY: the mapping is at least sizeof(struct kvm_run) (KVM_GET_VCPU_MMAP_SIZE) and page-aligned.
      runMapping.address.assumingMemoryBound(to: kvm_run.self)
    }

    /// The whole run mapping (I/O exit data lives inside it, at `io.data_offset`).
    public var runBytes: UnsafeMutableRawBufferPointer { runMapping.bytes }

    init(descriptor: OwnedFileDescriptor, runMapping: OwnedMapping, systemCalls: SystemCalls) {
      self.descriptor = descriptor
      self.runMapping = runMapping
      self.systemCalls = systemCalls
    }

    /// 4.10 KVM_RUN: runs the guest until it needs the host; the reason is in
    /// `kvmRun.pointee.exit_reason`. Fails with EINTR when a signal (or
    /// `kvm_run.immediate_exit`) interrupts it.
    public func run() throws(KVMError) {
      _ = try systemCalls.ioctl(fd, ckvm_ioctl_run(), integer: 0, name: "KVM_RUN")
    }

    /// The exit reason of the last KVM_RUN (`kvm_run.exit_reason`), typed when known.
    public var exitReason: (raw: UInt32, known: KVMExitReason?) {
      // SAFETY: `run` is the live mapping, which outlives this object's use.
      let raw = ckvm_run_exit_reason(kvmRun)
      return (raw, KVMExitReason(rawValue: raw))
    }

    /// 4.11 KVM_GET_REGS: the general-purpose registers.
    public func getRegs() throws(KVMError) -> kvm_regs {
      var regs = kvm_regs()
      _ = try systemCalls.ioctl(fd, ckvm_ioctl_get_regs(), &regs, name: "KVM_GET_REGS")
      return regs
    }

    /// 4.12 KVM_SET_REGS: sets the general-purpose registers.
    public func setRegs(_ regs: kvm_regs) throws(KVMError) {
      var regs = regs
      _ = try systemCalls.ioctl(fd, ckvm_ioctl_set_regs(), &regs, name: "KVM_SET_REGS")
    }

    /// 4.13 KVM_GET_SREGS: segment, descriptor-table and control registers, EFER, APIC base.
    public func getSregs() throws(KVMError) -> kvm_sregs {
      var sregs = kvm_sregs()
      _ = try systemCalls.ioctl(fd, ckvm_ioctl_get_sregs(), &sregs, name: "KVM_GET_SREGS")
      return sregs
    }

    /// 4.14 KVM_SET_SREGS: sets what KVM_GET_SREGS reads.
    public func setSregs(_ sregs: kvm_sregs) throws(KVMError) {
      var sregs = sregs
      _ = try systemCalls.ioctl(fd, ckvm_ioctl_set_sregs(), &sregs, name: "KVM_SET_SREGS")
    }

    /// 4.15 KVM_TRANSLATE: translates `linearAddress` with the vCPU's current paging mode and tables.
    public func translate(_ linearAddress: UInt64) throws(KVMError) -> KVMTranslation {
      var translation = kvm_translation()
      translation.linear_address = linearAddress
      _ = try systemCalls.ioctl(fd, ckvm_ioctl_translate(), &translation, name: "KVM_TRANSLATE")
      return KVMTranslation(
        linearAddress: linearAddress, physicalAddress: translation.physical_address, valid: translation.valid != 0,
        writeable: translation.writeable != 0, userMode: translation.usermode != 0)
    }

    /// 4.56 KVM_GET_TSC_KHZ: the guest's TSC frequency in kHz.
    public func getTSCKHz() throws(KVMError) -> UInt64 {
      UInt64(try systemCalls.ioctl(fd, ckvm_ioctl_get_tsc_khz(), integer: 0, name: "KVM_GET_TSC_KHZ"))
    }

    /// KVM_SET_CPUID2 (the successor of 4.20 KVM_SET_CPUID): what the guest's CPUID instruction answers.
    public func setCPUID2(_ entries: [CPUIDEntry]) throws(KVMError) {
      let size = ckvm_cpuid2_size(UInt32(entries.count))
      // SAFETY: a zeroed buffer for the header plus `entries.count` entries, freed by the defer.
      let buffer = UnsafeMutableRawPointer.allocate(
        byteCount: size, alignment: MemoryLayout<kvm_cpuid_entry2>.alignment)
      defer { buffer.deallocate() }
      buffer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
      let cpuid = buffer.bindMemory(to: kvm_cpuid2.self, capacity: 1)
      cpuid.pointee.nent = UInt32(entries.count)
      // SAFETY: the buffer has room for exactly `entries.count` entries after the header.
      let slots = UnsafeMutableBufferPointer(start: ckvm_cpuid2_entries(cpuid), count: entries.count)
      for (index, entry) in entries.enumerated() { slots[index] = entry.raw }
      // SAFETY: the kernel reads `nent` entries, exactly what the buffer holds.
      _ = try systemCalls.ioctl(fd, ckvm_ioctl_set_cpuid2(), buffer, name: "KVM_SET_CPUID2")
    }
  }
#endif
