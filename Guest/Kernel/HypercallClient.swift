import GuestArch

/// Kernel virtual address -> physical, for addresses inside the kernel image.
func kernelPhysical(_ virtualAddress: UInt64) -> UInt64 {
  virtualAddress &- KernelLayout.virtualOffset
}

/// The guest's side of the hypercall protocol (GuestABI/Hypercall.swift):
/// fill the request record, write its physical address to the port, read the
/// host's response.
enum Hypercall {
  /// Issues one hypercall and returns the host's response word.
  @discardableResult
  static func call(
    _ kind: HypercallKind, _ arg0: UInt64 = 0, _ arg1: UInt64 = 0, _ arg2: UInt64 = 0, _ arg3: UInt64 = 0
  ) -> UInt64 {
    let record = UnsafeMutableRawPointer(bitPattern: UInt(arch_hypercall_request()))!
    record.storeBytes(of: HypercallRequest.magicValue, toByteOffset: HypercallRequest.magic, as: UInt32.self)
    record.storeBytes(of: kind.rawValue, toByteOffset: HypercallRequest.kind, as: UInt32.self)
    record.storeBytes(of: arg0, toByteOffset: HypercallRequest.arg0, as: UInt64.self)
    record.storeBytes(of: arg1, toByteOffset: HypercallRequest.arg1, as: UInt64.self)
    record.storeBytes(of: arg2, toByteOffset: HypercallRequest.arg2, as: UInt64.self)
    record.storeBytes(of: arg3, toByteOffset: HypercallRequest.arg3, as: UInt64.self)
    record.storeBytes(of: 0, toByteOffset: HypercallRequest.response, as: UInt64.self)
    arch_outl(GuestPort.hypercall, UInt32(truncatingIfNeeded: kernelPhysical(arch_hypercall_request())))
    return record.load(fromByteOffset: HypercallRequest.response, as: UInt64.self)
  }

  /// Stops at a checkpoint named `name`; returns the host's response.
  @discardableResult
  static func checkpoint(_ code: CheckpointCode, _ name: StaticString? = nil) -> UInt64 {
    let name = name ?? code.name
    Console.flush()
    let namePhysical = kernelPhysical(UInt64(UInt(bitPattern: name.utf8Start)))
    return call(.checkpoint, code.rawValue, namePhysical, UInt64(name.utf8CodeUnitCount))
  }

  /// Ends the VM with `status` through isa-debug-exit (both backends understand it).
  static func exit(_ status: GuestExitStatus) -> Never {
    Console.flush()
    arch_outb(GuestPort.debugExit, status.rawValue)
    arch_halt_forever()
    while true {}
  }
}

/// A broken invariant: say where and why, then stop the VM.
func kernelPanic(_ function: StaticString, _ reason: StaticString) -> Never {
  Console.write("panic: ")
  Console.write(function)
  Console.write(": ")
  Console.write(reason)
  Console.write("\n")
  Hypercall.exit(.kernelPanic)
}
