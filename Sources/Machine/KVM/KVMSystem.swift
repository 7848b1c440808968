#if os(Linux)
  import CKVM
  import Glibc

  /// The KVM subsystem: an open /dev/kvm. System ioctls live here
  /// (Documentation/virt/kvm/api.rst, "4. API description", type "system ioctl").
  public final class KVMSystem: @unchecked Sendable {
    // @unchecked Sendable: only immutable state; the kernel serialises ioctls on the descriptor.

    /// The API version every KVM since Linux 2.6.22 reports (4.1 KVM_GET_API_VERSION).
    public static let expectedAPIVersion: Int32 = KVM_API_VERSION

    let descriptor: OwnedFileDescriptor
    let systemCalls: SystemCalls

    /// The /dev/kvm descriptor.
    public var fd: Int32 { descriptor.raw }

    /// Opens `path` (read/write, close-on-exec).
    public init(path: String = "/dev/kvm", systemCalls: SystemCalls = .live) throws(KVMError) {
      let fd = try systemCalls.check(systemCalls.open(path, O_RDWR | O_CLOEXEC), "open \(path)")
      self.descriptor = OwnedFileDescriptor(fd, systemCalls: systemCalls)
      self.systemCalls = systemCalls
    }

    /// 4.1 KVM_GET_API_VERSION: the KVM API version; 12 for every stable KVM.
    public func getAPIVersion() throws(KVMError) -> Int32 {
      try systemCalls.ioctl(fd, ckvm_ioctl_get_api_version(), integer: 0, name: "KVM_GET_API_VERSION")
    }

    /// 4.4 KVM_CHECK_EXTENSION: 0 if `capability` is absent, else a positive, capability-specific value.
    public func checkExtension(_ capability: KVMCapability) throws(KVMError) -> Int32 {
      try systemCalls.ioctl(
        fd, ckvm_ioctl_check_extension(), integer: UInt(bitPattern: Int(capability.rawValue)),
        name: "KVM_CHECK_EXTENSION")
    }

    /// 4.5 KVM_GET_VCPU_MMAP_SIZE: bytes to mmap from a vCPU descriptor for its `struct kvm_run`.
    public func getVCPUMmapSize() throws(KVMError) -> Int {
      Int(try systemCalls.ioctl(fd, ckvm_ioctl_get_vcpu_mmap_size(), integer: 0, name: "KVM_GET_VCPU_MMAP_SIZE"))
    }

    /// 4.2 KVM_CREATE_VM: a new virtual machine with no vCPUs and no memory.
    /// `type` 0 is the default machine type on x86. Also asks KVM_GET_VCPU_MMAP_SIZE
    /// once, so the VM can map its vCPUs' run structures.
    public func createVM(type: UInt = 0) throws(KVMError) -> KVMVirtualMachine {
      let vmFD = try systemCalls.ioctl(fd, ckvm_ioctl_create_vm(), integer: type, name: "KVM_CREATE_VM")
      let owned = OwnedFileDescriptor(vmFD, systemCalls: systemCalls)
      let runSize = try getVCPUMmapSize()
      return KVMVirtualMachine(descriptor: owned, runMmapSize: runSize, systemCalls: systemCalls)
    }

    /// 4.46 KVM_GET_SUPPORTED_CPUID: the CPUID leaves both the hardware and KVM support.
    /// Starts with room for `initialCapacity` entries and grows on E2BIG.
    public func getSupportedCPUID(initialCapacity: Int = 128) throws(KVMError) -> [CPUIDEntry] {
      var capacity = max(1, initialCapacity)
      while true {
        let size = ckvm_cpuid2_size(UInt32(capacity))
        // SAFETY: a zeroed buffer sized for the header plus `capacity` entries, freed on every path by the defer.
        let buffer = UnsafeMutableRawPointer.allocate(
          byteCount: size, alignment: MemoryLayout<kvm_cpuid_entry2>.alignment)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        let cpuid = buffer.bindMemory(to: kvm_cpuid2.self, capacity: 1)
        cpuid.pointee.nent = UInt32(capacity)
        // SAFETY: `nent` tells the kernel how many entries the buffer holds; it writes no more.
        let outcome = systemCalls.ioctl(fd, ckvm_ioctl_get_supported_cpuid(), buffer)
        if case .failure(let errno) = outcome, errno.rawValue == E2BIG, capacity < 1 << 16 {
          capacity *= 2
          continue
        }
        _ = try systemCalls.check(outcome, "KVM_GET_SUPPORTED_CPUID")
        let count = min(Int(cpuid.pointee.nent), capacity)
        // SAFETY: the kernel filled `nent` (<= capacity) entries of the array that follows the header.
        let entries = UnsafeBufferPointer(start: ckvm_cpuid2_entries(cpuid), count: count)
        return entries.map(CPUIDEntry.init)
      }
    }
  }
#endif
