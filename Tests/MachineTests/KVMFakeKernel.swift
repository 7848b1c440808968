#if os(Linux)
  import CKVM
  import Foundation
  import Glibc
  import GuestABI
  @testable import Machine

  /// A stand-in for /dev/kvm behind `SystemCalls`: hands out descriptors, maps
  /// real anonymous memory, answers the ioctls KVMMachine makes, fails the one a
  /// test names, and runs a script of exits for KVM_RUN. It records every open,
  /// close, mmap and munmap so tests can prove nothing leaks.
  final class KVMFakeKernel: @unchecked Sendable {
    // @unchecked Sendable: every field is guarded by `lock`.
    private let lock = NSLock()

    /// One scripted KVM_RUN: fills the run structure (`run` points at its first byte) and returns.
    typealias RunStep = @Sendable (_ run: UnsafeMutableRawPointer) -> Result<Int32, Errno>

    // Configuration.
    var openErrno: Int32?
    var apiVersion: Int32 = 12
    var failingRequest: UInt?
    var failingErrno: Int32 = ENOMEM
    var failAnonymousMmap = false
    var runScript: [RunStep] = []

    // Observations.
    private(set) var openDescriptors: Set<Int32> = []
    private(set) var closedDescriptors: [Int32] = []
    private(set) var liveMappings: [UnsafeMutableRawPointer: Int] = [:]
    private(set) var requests: [UInt] = []
    private(set) var savedRegs = kvm_regs()
    private(set) var savedSregs = kvm_sregs()
    private(set) var savedCPUID: [kvm_cpuid_entry2] = []
    private(set) var memorySlotFlags: UInt32?

    private var nextDescriptor: Int32 = 100
    static let runMapSize = 3 * 4096
    /// Where scripted I/O exits put their data in the run mapping.
    static let ioDataOffset = 4096

    func withLock<T>(_ body: (KVMFakeKernel) throws -> T) rethrows -> T {
      lock.lock()
      defer { lock.unlock() }
      return try body(self)
    }

    var systemCalls: SystemCalls {
      SystemCalls(
        open: { [self] _, _ in
          withLock { kernel in
            if let errno = kernel.openErrno { return .failure(Errno(errno)) }
            return .success(kernel.allocateDescriptor())
          }
        },
        close: { [self] fd in
          withLock { kernel in
            kernel.closedDescriptors.append(fd)
            return kernel.openDescriptors.remove(fd) == nil ? .failure(Errno(EBADF)) : .success(())
          }
        },
        ioctl: { [self] fd, request, argument in
          let step: RunStep? = withLock { kernel in
            request == ckvm_ioctl_run() && !kernel.runScript.isEmpty ? kernel.runScript.removeFirst() : nil
          }
          if request == ckvm_ioctl_run() {
            guard let step else { return .failure(Errno(EIO)) }
            let run = withLock { $0.liveMappings.first { $0.value == Self.runMapSize }?.key }
            guard let run else { return .failure(Errno(EBADF)) }
            return step(run)
          }
          return withLock { kernel in kernel.answer(fd: fd, request: request, argument: argument) }
        },
        mmap: { [self] length, _, flags, fd, _ in
          withLock { kernel in
            if flags & MAP_ANONYMOUS != 0, kernel.failAnonymousMmap { return .failure(Errno(ENOMEM)) }
            let address = Glibc.mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            guard let address, address != MAP_FAILED else { return .failure(Errno(errno)) }
            kernel.liveMappings[address] = length
            return .success(address)
          }
        },
        munmap: { [self] address, length in
          withLock { kernel in
            guard kernel.liveMappings.removeValue(forKey: address) == length else { return .failure(Errno(EINVAL)) }
            Glibc.munmap(address, length)
            return .success(())
          }
        })
    }

    private func allocateDescriptor() -> Int32 {
      let fd = nextDescriptor
      nextDescriptor += 1
      openDescriptors.insert(fd)
      return fd
    }

    private func answer(fd: Int32, request: UInt, argument: UnsafeMutableRawPointer?) -> Result<Int32, Errno> {
      requests.append(request)
      guard openDescriptors.contains(fd) else { return .failure(Errno(EBADF)) }
      if request == failingRequest { return .failure(Errno(failingErrno)) }
      switch request {
      case ckvm_ioctl_get_api_version():
        return .success(apiVersion)
      case ckvm_ioctl_create_vm(), ckvm_ioctl_create_vcpu():
        return .success(allocateDescriptor())
      case ckvm_ioctl_get_vcpu_mmap_size():
        return .success(Int32(Self.runMapSize))
      case ckvm_ioctl_check_extension():
        return .success(1)
      case ckvm_ioctl_get_supported_cpuid():
        let cpuid = argument!.assumingMemoryBound(to: kvm_cpuid2.self)
        let entries: [kvm_cpuid_entry2] = [
          Self.entry(function: 1, ecx: 0xFFFF_FFFF, edx: 0xFFFF_FFFF),
          Self.entry(function: 0x8000_0008, eax: 0x3028),  // 40-bit physical, 48-bit linear
        ]
        guard cpuid.pointee.nent >= entries.count else { return .failure(Errno(E2BIG)) }
        cpuid.pointee.nent = UInt32(entries.count)
        for (index, entry) in entries.enumerated() { ckvm_cpuid2_entries(cpuid)[index] = entry }
        return .success(0)
      case ckvm_ioctl_set_cpuid2():
        let cpuid = argument!.assumingMemoryBound(to: kvm_cpuid2.self)
        savedCPUID = Array(UnsafeBufferPointer(start: ckvm_cpuid2_entries(cpuid), count: Int(cpuid.pointee.nent)))
        return .success(0)
      case ckvm_ioctl_set_user_memory_region():
        memorySlotFlags = argument!.assumingMemoryBound(to: kvm_userspace_memory_region.self).pointee.flags
        return .success(0)
      case ckvm_ioctl_get_regs():
        argument!.assumingMemoryBound(to: kvm_regs.self).pointee = savedRegs
        return .success(0)
      case ckvm_ioctl_set_regs():
        savedRegs = argument!.assumingMemoryBound(to: kvm_regs.self).pointee
        return .success(0)
      case ckvm_ioctl_get_sregs():
        argument!.assumingMemoryBound(to: kvm_sregs.self).pointee = savedSregs
        return .success(0)
      case ckvm_ioctl_set_sregs():
        savedSregs = argument!.assumingMemoryBound(to: kvm_sregs.self).pointee
        return .success(0)
      case ckvm_ioctl_set_tss_addr():
        return .success(0)
      case ckvm_ioctl_get_dirty_log():
        return .success(0)
      default:
        return .failure(Errno(ENOTTY))
      }
    }

    static func entry(function: UInt32, eax: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0) -> kvm_cpuid_entry2 {
      var entry = kvm_cpuid_entry2()
      entry.function = function
      entry.eax = eax
      entry.ecx = ecx
      entry.edx = edx
      return entry
    }

    // MARK: Scripted exits (offsets of struct kvm_run, a stable ABI)

    /// A port write of `size` bytes.
    static func portOut(_ port: UInt16, size: UInt8 = 1, value: UInt32) -> RunStep {
      { run in
        run.storeBytes(of: UInt32(KVM_EXIT_IO), toByteOffset: 8, as: UInt32.self)  // exit_reason
        run.storeBytes(of: UInt8(KVM_EXIT_IO_OUT), toByteOffset: 32, as: UInt8.self)  // io.direction
        run.storeBytes(of: size, toByteOffset: 33, as: UInt8.self)  // io.size
        run.storeBytes(of: port, toByteOffset: 34, as: UInt16.self)  // io.port
        run.storeBytes(of: UInt32(1), toByteOffset: 36, as: UInt32.self)  // io.count
        run.storeBytes(of: UInt64(ioDataOffset), toByteOffset: 40, as: UInt64.self)  // io.data_offset
        run.storeBytes(of: value, toByteOffset: ioDataOffset, as: UInt32.self)
        return .success(0)
      }
    }

    /// A port read of `size` bytes; `check` sees what the host answered (at the next KVM_RUN).
    static func portIn(_ port: UInt16, size: UInt8 = 1) -> RunStep {
      { run in
        run.storeBytes(of: UInt32(KVM_EXIT_IO), toByteOffset: 8, as: UInt32.self)
        run.storeBytes(of: UInt8(KVM_EXIT_IO_IN), toByteOffset: 32, as: UInt8.self)
        run.storeBytes(of: size, toByteOffset: 33, as: UInt8.self)
        run.storeBytes(of: port, toByteOffset: 34, as: UInt16.self)
        run.storeBytes(of: UInt32(1), toByteOffset: 36, as: UInt32.self)
        run.storeBytes(of: UInt64(ioDataOffset), toByteOffset: 40, as: UInt64.self)
        run.storeBytes(of: UInt32(0xDEAD_BEEF), toByteOffset: ioDataOffset, as: UInt32.self)
        return .success(0)
      }
    }

    /// The value the host put in the I/O data area (for a preceding `portIn`).
    static func answeredValue(_ record: @escaping @Sendable (UInt32) -> Void) -> RunStep {
      { run in
        record(run.load(fromByteOffset: ioDataOffset, as: UInt32.self))
        return portOut(GuestPort.debugExit, value: 0)(run)
      }
    }

    /// An exit with `reason` and nothing else filled in.
    static func exit(_ reason: Int32) -> RunStep {
      { run in
        run.storeBytes(of: UInt32(reason), toByteOffset: 8, as: UInt32.self)
        return .success(0)
      }
    }

    /// A guest that never stops: spins until `immediate_exit` (offset 1) is set, then fails with EINTR like KVM_RUN.
    static let spinUntilKicked: RunStep = { run in
      while run.load(fromByteOffset: 1, as: UInt8.self) == 0 { usleep(500) }
      run.storeBytes(of: UInt32(KVM_EXIT_INTR), toByteOffset: 8, as: UInt32.self)
      return .failure(Errno(EINTR))
    }
  }

  extension KVMFakeKernel {
    /// Writes a `HypercallRequest` record into `memory` at `address`.
    static func writeHypercall(
      _ memory: GuestPhysicalMemory, at address: UInt64, kind: UInt32, args: [UInt64] = [],
      magic: UInt32 = HypercallRequest.magicValue
    ) {
      memory.store(magic, at: address + UInt64(HypercallRequest.magic))
      memory.store(kind, at: address + UInt64(HypercallRequest.kind))
      let offsets = [HypercallRequest.arg0, HypercallRequest.arg1, HypercallRequest.arg2, HypercallRequest.arg3]
      for (index, offset) in offsets.enumerated() {
        memory.store(index < args.count ? args[index] : 0, at: address + UInt64(offset))
      }
      memory.store(UInt64(0), at: address + UInt64(HypercallRequest.response))
    }
  }
#endif
