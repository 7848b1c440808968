#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
#if os(Linux)
  import CKVM
#endif

/// An errno value a system call failed with.
public struct Errno: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
  public var rawValue: Int32
  public init(_ rawValue: Int32) { self.rawValue = rawValue }
  public var description: String { "\(errnoDescription(rawValue)) (errno \(rawValue))" }
}

/// The text for an errno value, as strerror(3) gives it.
public func errnoDescription(_ errno: Int32) -> String {
  // SAFETY: glibc's strerror returns a pointer to a constant string for known
  // values and to a thread-local buffer for unknown ones; we copy it at once.
  guard let text = strerror(errno) else { return "unknown error \(errno)" }
  return String(cString: text)
}

/// A failed KVM operation: which ioctl or system call, and the errno.
public struct KVMError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The ioctl's name as in the KVM API documentation (e.g. "KVM_CREATE_VM"), or the call ("open /dev/kvm").
  public var operation: String
  public var errno: Int32
  public init(operation: String, errno: Int32) {
    self.operation = operation
    self.errno = errno
  }
  public var description: String { "\(operation) failed: \(errnoDescription(errno)) (errno \(errno))" }
  /// The same failure as a `MachineError`.
  public var machineError: MachineError { .systemCall(name: operation, errno: errno) }
}

#if os(Linux)
  /// The one place the KVM backend reaches the kernel: every open, close, ioctl,
  /// mmap and munmap goes through one of these closures. `live` calls the real
  /// functions; tests build their own to inject failures without /dev/kvm.
  ///
  /// Each closure returns the call's result or the errno it failed with, read
  /// right after the call, so no Swift code runs between a failing call and the
  /// read of errno. `check` then turns that outcome into a `KVMError`.
  public struct SystemCalls: Sendable {
    /// open(2) with O_CLOEXEC added by the caller; the new descriptor.
    public var open: @Sendable (_ path: String, _ flags: Int32) -> Result<Int32, Errno>
    /// close(2).
    public var close: @Sendable (_ fd: Int32) -> Result<Void, Errno>
    /// ioctl(2) with one pointer-sized argument (a pointer, or an integer cast to one); its return value.
    public var ioctl:
      @Sendable (_ fd: Int32, _ request: UInt, _ argument: UnsafeMutableRawPointer?) -> Result<Int32, Errno>
    /// mmap(2) at an address of the kernel's choice; the mapping.
    public var mmap:
      @Sendable (_ length: Int, _ protection: Int32, _ flags: Int32, _ fd: Int32, _ offset: Int) -> Result<
        UnsafeMutableRawPointer, Errno
      >
    /// munmap(2).
    public var munmap: @Sendable (_ address: UnsafeMutableRawPointer, _ length: Int) -> Result<Void, Errno>
    /// madvise(2): a hint; the caller may ignore its failure.
    public var madvise:
      @Sendable (_ address: UnsafeMutableRawPointer, _ length: Int, _ advice: Int32) -> Result<Void, Errno>

    public init(
      open: @escaping @Sendable (_ path: String, _ flags: Int32) -> Result<Int32, Errno>,
      close: @escaping @Sendable (_ fd: Int32) -> Result<Void, Errno>,
      ioctl:
        @escaping @Sendable (_ fd: Int32, _ request: UInt, _ argument: UnsafeMutableRawPointer?) -> Result<Int32, Errno>,
      mmap:
        @escaping @Sendable (_ length: Int, _ protection: Int32, _ flags: Int32, _ fd: Int32, _ offset: Int) -> Result<
          UnsafeMutableRawPointer, Errno
        >,
      munmap: @escaping @Sendable (_ address: UnsafeMutableRawPointer, _ length: Int) -> Result<Void, Errno>,
      madvise:
        @escaping @Sendable (_ address: UnsafeMutableRawPointer, _ length: Int, _ advice: Int32) -> Result<
          Void, Errno
        > = { _, _, _ in .success(()) }
    ) {
      self.open = open
      self.close = close
      self.ioctl = ioctl
      self.mmap = mmap
      self.munmap = munmap
      self.madvise = madvise
    }

    /// The real system calls.
    public static let live = SystemCalls(
      open: { path, flags in
        // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
        path.withCString { cPath in
          let fd = Glibc.open(cPath, flags)
          return fd >= 0 ? .success(fd) : .failure(Errno(ckvm_errno()))
        }
      },
      close: { fd in
        // SAFETY: closes a descriptor the caller owns and never uses again.
        Glibc.close(fd) == 0 ? .success(()) : .failure(Errno(ckvm_errno()))
      },
      ioctl: { fd, request, argument in
        // SAFETY: the caller passes an argument of the type `request` expects (see each wrapper).
        let result = ckvm_ioctl(fd, request, argument)
        return result >= 0 ? .success(result) : .failure(Errno(ckvm_errno()))
      },
      mmap: { length, protection, flags, fd, offset in
        // SAFETY: no fixed address is requested, so no existing mapping can be replaced.
        let address = Glibc.mmap(nil, length, protection, flags, fd, off_t(offset))
        guard let address, address != MAP_FAILED else { return .failure(Errno(ckvm_errno())) }
        return .success(address)
      },
      munmap: { address, length in
        // SAFETY: unmaps exactly a mapping the caller made and no longer references.
        Glibc.munmap(address, length) == 0 ? .success(()) : .failure(Errno(ckvm_errno()))
      },
      madvise: { address, length, advice in
        // SAFETY: advice on a mapping the caller owns; it changes no memory contents.
        Glibc.madvise(address, length, advice) == 0 ? .success(()) : .failure(Errno(ckvm_errno()))
      }
    )
  }

  extension SystemCalls {
    /// The single place a raw system-call outcome becomes a typed error.
    @inline(__always)
    func check<T>(_ outcome: Result<T, Errno>, _ operation: @autoclosure () -> String) throws(KVMError) -> T {
      switch outcome {
      case .success(let value): return value
      case .failure(let errno): throw KVMError(operation: operation(), errno: errno.rawValue)
      }
    }

    /// ioctl with a typed error named after the request.
    @inline(__always)
    func ioctl(_ fd: Int32, _ request: UInt, _ argument: UnsafeMutableRawPointer?, name: StaticString) throws(KVMError)
      -> Int32
    {
      try check(ioctl(fd, request, argument), "\(name)")
    }

    /// ioctl whose argument is an integer passed in the pointer-sized slot.
    @inline(__always)
    func ioctl(_ fd: Int32, _ request: UInt, integer: UInt, name: StaticString) throws(KVMError) -> Int32 {
      try check(ioctl(fd, request, UnsafeMutableRawPointer(bitPattern: integer)), "\(name)")
    }

    /// ioctl whose argument is a pointer to `value`, read and/or written by the kernel.
    @inline(__always)
    func ioctl<T>(_ fd: Int32, _ request: UInt, _ value: inout T, name: StaticString) throws(KVMError) -> Int32 {
      // SAFETY: `value` is a C structure of the layout `request` expects, valid for the call.
      let outcome = withUnsafeMutableBytes(of: &value) { ioctl(fd, request, $0.baseAddress) }
      return try check(outcome, "\(name)")
    }
  }

  /// One file descriptor, closed through the choke point when the owner goes away.
  final class OwnedFileDescriptor: @unchecked Sendable {
    // @unchecked Sendable: the descriptor is immutable after init and the kernel
    // serialises concurrent operations on it; closing happens once, in deinit.
    let raw: Int32
    let systemCalls: SystemCalls

    init(_ raw: Int32, systemCalls: SystemCalls) {
      self.raw = raw
      self.systemCalls = systemCalls
    }

    deinit {
      // A failed close cannot be reported from deinit and the descriptor is gone either way (close(2)).
      _ = systemCalls.close(raw)
    }
  }

  /// One mmap'ed range, unmapped through the choke point when the owner goes away.
  final class OwnedMapping: @unchecked Sendable {
    // @unchecked Sendable: the range is fixed after init; its bytes are guest memory
    // whose users synchronise themselves (the vCPU only runs inside `run`).
    let address: UnsafeMutableRawPointer
    let length: Int
    let systemCalls: SystemCalls

    init(address: UnsafeMutableRawPointer, length: Int, systemCalls: SystemCalls) {
      self.address = address
      self.length = length
      self.systemCalls = systemCalls
    }

    var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: address, count: length) }

    deinit {
      _ = systemCalls.munmap(address, length)
    }
  }
#endif
