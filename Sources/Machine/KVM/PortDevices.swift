#if os(Linux)
  import GuestABI

  /// What a port write asks of the run loop.
  enum PortWrite: Equatable {
    case handled
    /// isa-debug-exit: the guest ended with this status.
    case exit(UInt8)
    /// The hypercall port: the physical address of a request record.
    case hypercall(UInt64)
  }

  /// The guest's port devices (GuestABI `GuestPort`), one table for the run
  /// loop to dispatch to: COM1's transmitter and the Bochs debug console feed
  /// the console, isa-debug-exit ends the run, the hypercall port hands over
  /// a request, and PCI configuration cycles reach `PCIBus`. Any other port reads as an absent device and is counted. The
  /// access size comes from the guest and is checked where it matters.
  struct PortDevices {
    var console = ConsoleBuffer()
    /// PCI configuration mechanism #1 (0xCF8, 0xCFC...0xCFF) and the disks behind it.
    var pci = PCIBus(disks: [])
    /// Ports the guest used that no device answers, with how often.
    var unhandled: [UInt16: Int] = [:]

    mutating func read(_ port: UInt16, size: Int) -> UInt32 {
      if let value = pci.readPort(port, size: size) { return value }
      switch port {
      case GuestPort.com1LineStatus:
        return 0x60  // THRE | TEMT: the transmitter is always ready
      case GuestPort.com1...(GuestPort.com1 + 7):
        return 0
      case GuestPort.debugConsole:
        return 0xE9  // Bochs convention: reading the debug port answers its number
      default:
        unhandled[port, default: 0] += 1
        return size == 4 ? 0xFFFF_FFFF : size == 2 ? 0xFFFF : 0xFF
      }
    }

    /// Serves a write; console text it completes goes to `deliver`.
    mutating func write(_ port: UInt16, size: Int, value: UInt32, deliver: (String) -> Void) throws(MachineError)
      -> PortWrite
    {
      if pci.writePort(port, size: size, value: value) { return .handled }
      switch port {
      case GuestPort.com1, GuestPort.debugConsole:
        if let text = console.append([UInt8(truncatingIfNeeded: value)]) { deliver(text) }
        return .handled
      case (GuestPort.com1 + 1)...(GuestPort.com1 + 7):
        return .handled  // UART configuration: nothing to configure
      case GuestPort.debugExit:
        return .exit(UInt8(truncatingIfNeeded: value))
      case GuestPort.hypercall:
        guard size == 4 else {
          throw .protocolViolation("hypercall port written with \(size) bytes; it takes a 32-bit address")
        }
        return .hypercall(UInt64(value))
      default:
        unhandled[port, default: 0] += 1
        return .handled
      }
    }
  }
#endif
