#if os(Linux)
  import CKVM
  import Glibc

  /// One virtual machine: a descriptor from KVM_CREATE_VM. VM ioctls live here
  /// (Documentation/virt/kvm/api.rst, "4. API description", type "vm ioctl").
  public final class KVMVirtualMachine: @unchecked Sendable {
    // @unchecked Sendable: only immutable state; the kernel serialises ioctls on the descriptor.

    let descriptor: OwnedFileDescriptor
    let systemCalls: SystemCalls
    /// Bytes of a vCPU's `struct kvm_run` mapping (4.5 KVM_GET_VCPU_MMAP_SIZE).
    public let runMmapSize: Int

    /// The VM descriptor.
    public var fd: Int32 { descriptor.raw }

    init(descriptor: OwnedFileDescriptor, runMmapSize: Int, systemCalls: SystemCalls) {
      self.descriptor = descriptor
      self.runMmapSize = runMmapSize
      self.systemCalls = systemCalls
    }

    /// 4.4 KVM_CHECK_EXTENSION on the VM descriptor (answers for this VM).
    public func checkExtension(_ capability: KVMCapability) throws(KVMError) -> Int32 {
      try systemCalls.ioctl(
        fd, ckvm_ioctl_check_extension(), integer: UInt(bitPattern: Int(capability.rawValue)),
        name: "KVM_CHECK_EXTENSION")
    }

    /// 4.35 KVM_SET_USER_MEMORY_REGION: makes `memorySize` bytes of this process at
    /// `userspaceAddress` the guest's physical memory from `guestPhysicalAddress` on.
    /// A size of 0 deletes the slot.
    public func setUserMemoryRegion(
      slot: UInt32, flags: KVMMemoryRegionFlags = [], guestPhysicalAddress: UInt64, memorySize: UInt64,
      userspaceAddress: UnsafeMutableRawPointer?
    ) throws(KVMError) {
      var region = kvm_userspace_memory_region()
      region.slot = slot
      region.flags = flags.rawValue
      region.guest_phys_addr = guestPhysicalAddress
      region.memory_size = memorySize
      region.userspace_addr = UInt64(UInt(bitPattern: userspaceAddress))
      // SAFETY: the caller keeps `memorySize` bytes at `userspaceAddress` mapped while the slot exists
      // (KVMMachine owns both and unmaps only when the VM goes away).
      _ = try systemCalls.ioctl(fd, ckvm_ioctl_set_user_memory_region(), &region, name: "KVM_SET_USER_MEMORY_REGION")
    }

    /// 4.36 KVM_SET_TSS_ADDR: a three-page guest-physical region, below 4 GiB and
    /// outside every memory slot, that KVM may use for the real-mode TSS. Required
    /// on Intel hosts; other backends accept or ignore it.
    public func setTSSAddress(_ address: UInt64) throws(KVMError) {
      _ = try systemCalls.ioctl(fd, ckvm_ioctl_set_tss_addr(), integer: UInt(address), name: "KVM_SET_TSS_ADDR")
    }

    /// 4.40 KVM_SET_IDENTITY_MAP_ADDR: a one-page guest-physical region for the
    /// identity page table Intel hosts without unrestricted guest need in real mode.
    /// Must come before any vCPU exists; 0 restores the default (0xfffbc000).
    public func setIdentityMapAddress(_ address: UInt64) throws(KVMError) {
      var value = address
      _ = try systemCalls.ioctl(fd, ckvm_ioctl_set_identity_map_addr(), &value, name: "KVM_SET_IDENTITY_MAP_ADDR")
    }

    /// 4.24 KVM_CREATE_IRQCHIP: in-kernel PIC, IOAPIC and local APICs for later vCPUs.
    public func createIRQChip() throws(KVMError) {
      _ = try systemCalls.ioctl(fd, ckvm_ioctl_create_irqchip(), integer: 0, name: "KVM_CREATE_IRQCHIP")
    }

    /// 4.7 KVM_CREATE_VCPU: vCPU `id`, with its `struct kvm_run` mapped.
    public func createVCPU(id: UInt = 0) throws(KVMError) -> KVMVirtualCPU {
      let vcpuFD = try systemCalls.ioctl(fd, ckvm_ioctl_create_vcpu(), integer: id, name: "KVM_CREATE_VCPU")
      let owned = OwnedFileDescriptor(vcpuFD, systemCalls: systemCalls)
      // 4.10 KVM_RUN: "the kvm_run structure is obtained by mmap()ing the vcpu fd at offset 0".
      // SAFETY: maps exactly the size KVM_GET_VCPU_MMAP_SIZE gave, shared with the kernel, owned by the vCPU object.
      let address = try systemCalls.check(
        systemCalls.mmap(runMmapSize, PROT_READ | PROT_WRITE, MAP_SHARED, vcpuFD, 0), "mmap kvm_run")
      let mapping = OwnedMapping(address: address, length: runMmapSize, systemCalls: systemCalls)
      return KVMVirtualCPU(descriptor: owned, runMapping: mapping, systemCalls: systemCalls)
    }

    /// 4.8 KVM_GET_DIRTY_LOG: one bit per page of memory slot `slot`, set for the
    /// pages written since the previous call (which this call resets). `pageCount`
    /// is the slot's size in pages; the answer has `(pageCount + 63) / 64` words.
    public func getDirtyLog(slot: UInt32, pageCount: Int) throws(KVMError) -> [UInt64] {
      // "Ensure the entire structure is cleared to avoid padding issues" (4.8).
      var bitmap = [UInt64](repeating: 0, count: max(1, (pageCount + 63) / 64))
      var log = kvm_dirty_log()
      let outcome = bitmap.withUnsafeMutableBytes { bitmapBytes in
        ckvm_dirty_log_init(&log, slot, bitmapBytes.baseAddress)
        // SAFETY: `log` points at `bitmap`, which has room for one bit per page of the slot, for the whole call.
        return withUnsafeMutableBytes(of: &log) { systemCalls.ioctl(fd, ckvm_ioctl_get_dirty_log(), $0.baseAddress) }
      }
      _ = try systemCalls.check(outcome, "KVM_GET_DIRTY_LOG")
      return bitmap
    }
  }
#endif
