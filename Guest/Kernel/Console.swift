import GuestArch

/// The kernel console: a line buffer flushed to one of three sinks chosen on
/// the command line. The hypercall sink costs one VM exit per line; the port
/// sinks one per byte (what QEMU understands without mmlab's help).
enum Console {
  enum Sink {
    /// COM1's transmit register (the default: every PC emulator has one).
    case serial
    /// Port 0xE9, QEMU's -debugcon.
    case debugPort
    /// `HypercallKind.print`, one exit per line (KVMMachine).
    case hypercall
  }

  static var sink = Sink.serial
  private static var length = 0
  private static let capacity = 256

  /// Appends one byte; a newline or a full buffer flushes the line.
  static func put(_ byte: UInt8) {
    let line = UnsafeMutablePointer<UInt8>(bitPattern: UInt(arch_console_line()))!
    line[length] = byte
    length += 1
    if byte == 0x0A || length == capacity { flush() }
  }

  /// Sends what is buffered to the sink.
  static func flush() {
    guard length > 0 else { return }
    let line = UnsafeMutablePointer<UInt8>(bitPattern: UInt(arch_console_line()))!
    switch sink {
    case .hypercall:
      Hypercall.call(.print, kernelPhysical(arch_console_line()), UInt64(length))
    case .serial:
      for index in 0..<length { arch_outb(GuestPort.com1, line[index]) }
    case .debugPort:
      for index in 0..<length { arch_outb(GuestPort.debugConsole, line[index]) }
    }
    length = 0
  }

  static func write(_ text: StaticString) {
    let bytes = text.utf8Start
    for index in 0..<text.utf8CodeUnitCount { put(bytes[index]) }
  }

  /// `value` as 0x-prefixed hexadecimal, no leading zeroes.
  static func write(hex value: UInt64) {
    write("0x")
    var started = false
    for shift in stride(from: 60, through: 0, by: -4) {
      let digit = UInt8((value >> UInt64(shift)) & 0xF)
      if digit != 0 || started || shift == 0 {
        started = true
        put(hexDigit(digit))
      }
    }
  }

  static func write(decimal value: UInt64) {
    if value >= 10 { write(decimal: value / 10) }
    put(0x30 + UInt8(value % 10))
  }
}

/// The ASCII lowercase hexadecimal digit of `value` (0...15).
func hexDigit(_ value: UInt8) -> UInt8 {
  value < 10 ? 0x30 + value : 0x57 + value
}

/// `putchar` for the C runtime and Embedded Swift's `print`.
@_cdecl("guest_console_putchar")
func guestConsolePutchar(_ byte: UInt8) {
  Console.put(byte)
}
