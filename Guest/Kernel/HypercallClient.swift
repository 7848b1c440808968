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
    record.storeBytes(of: 0, toByteOffset: HypercallRequest.served, as: UInt32.self)
    let physical = kernelPhysical(arch_hypercall_request())
    if overSerial { announceOverSerial(physical, record) } else { arch_outl(GuestPort.hypercall, UInt32(physical)) }
    return record.load(fromByteOffset: HypercallRequest.response, as: UInt64.self)
  }

  /// The serial transport (`GuestCommandLine.hypercallSerial`), for hosts
  /// that cannot see the hypercall port.
  static var overSerial = false

  /// Writes the call's marker line on COM1 and spins until the host marks
  /// the record served.
  private static func announceOverSerial(_ physical: UInt64, _ record: UnsafeMutableRawPointer) {
    Console.flush()
    let marker = HypercallRequest.serialMarker
    for index in 0..<marker.utf8CodeUnitCount { arch_outb(GuestPort.com1, marker.utf8Start[index]) }
    for shift in stride(from: 60, through: 0, by: -4) {
      arch_outb(GuestPort.com1, hexDigit(UInt8((physical >> UInt64(shift)) & 0xF)))
    }
    arch_outb(GuestPort.com1, 0x0A)
    let served = record.advanced(by: HypercallRequest.served).assumingMemoryBound(to: UInt32.self)
    while arch_load32_volatile(served) == 0 {
      if arch_inb(GuestPort.com1LineStatus) & 1 != 0, readSerialAnswer(record) { return }
      arch_pause()
    }
  }

  /// A host that cannot write guest memory (libvirt over the network) answers
  /// on COM1: `HypercallRequest.serialAnswer`, 16 hex digits of the response,
  /// a newline. True once a whole answer arrived and its response is stored;
  /// other bytes are skipped.
  private static func readSerialAnswer(_ record: UnsafeMutableRawPointer) -> Bool {
    guard readSerialByte() == HypercallRequest.serialAnswer else { return false }
    var response: UInt64 = 0
    for _ in 0..<16 {
      let byte = readSerialByte()
      let digit: UInt8 = byte >= 0x61 ? byte - 0x57 : byte >= 0x41 ? byte - 0x37 : byte &- 0x30
      response = response << 4 | UInt64(digit & 0xF)
    }
    _ = readSerialByte()  // the newline
    record.storeBytes(of: response, toByteOffset: HypercallRequest.response, as: UInt64.self)
    return true
  }

  /// The next byte COM1 receives (waits for one).
  private static func readSerialByte() -> UInt8 {
    while arch_inb(GuestPort.com1LineStatus) & 1 == 0 { arch_pause() }
    return arch_inb(GuestPort.com1)
  }

  /// Stops at a checkpoint named `name`; returns the host's response.
  @discardableResult
  static func checkpoint(_ code: CheckpointCode, _ name: StaticString? = nil) -> UInt64 {
    let name = name ?? code.name
    Console.flush()
    let namePhysical = kernelPhysical(UInt64(UInt(bitPattern: name.utf8Start)))
    return call(.checkpoint, code.rawValue, namePhysical, UInt64(name.utf8CodeUnitCount), arch_read_cr3())
  }

  /// Ends the VM with `status` through isa-debug-exit (both backends understand it).
  static func exit(_ status: GuestExitStatus) -> Never {
    Console.flush()
    if overSerial { call(.exit, UInt64(status.rawValue)) }  // QEMU's exit status loses it
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
