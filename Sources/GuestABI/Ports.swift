/// I/O ports the guest uses to talk to its host. Both backends understand them:
/// KVMMachine dispatches them itself; QEMU implements COM1, 0xE9 and
/// isa-debug-exit natively.
public enum GuestPort {
  /// COM1's transmit holding register (8250/16550 UART, base 0x3F8).
  public static let com1: UInt16 = 0x3F8
  /// COM1's line status register: bit 5 (THRE) and bit 6 (TEMT) say "ready".
  public static let com1LineStatus: UInt16 = com1 + 5
  /// Bochs/QEMU debug console: each byte written is one character.
  public static let debugConsole: UInt16 = 0xE9
  /// isa-debug-exit: a byte `v` written here ends the VM; QEMU exits with `(v << 1) | 1`.
  public static let debugExit: UInt16 = 0xF4
  /// mmlab's hypercall port: a 32-bit write carries the guest-physical address
  /// of a `HypercallRequest` record.
  public static let hypercall: UInt16 = 0x510
}
