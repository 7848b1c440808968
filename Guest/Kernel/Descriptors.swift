import GuestArch

/// Segment selectors of the kernel GDT (static, in Guest/Boot/entry.S).
enum Selector {
  static let kernelCode: UInt16 = 0x08
  static let kernelData: UInt16 = 0x10
  static let userData: UInt16 = 0x20 | 3
  static let userCode: UInt16 = 0x28 | 3
  static let tss: UInt16 = 0x30
}

/// IST slot per vector: NMI, double fault and machine check get stacks of
/// their own so a fault on the exception stack cannot take them down with it.
func interruptStackIndex(vector: Int) -> UInt64 {
  switch vector {
  case 2: return 3
  case 8: return 2
  case 18: return 4
  default: return 1
  }
}

/// Fills all 256 IDT gates: interrupt gates to the entry stubs, each on an
/// IST stack (64-bit IST always switches stacks, which keeps Swift's red zone
/// safe). Plain stores: it runs in the deprivileged boot pass.
func fillInterruptGates() {
  let idt = UnsafeMutablePointer<UInt64>(bitPattern: UInt(arch_idt()))!
  for vector in 0..<256 {
    let handler = arch_isr_stub(UInt32(vector))
    idt[2 * vector] =
      (handler & 0xFFFF) | (UInt64(Selector.kernelCode) << 16) | (interruptStackIndex(vector: vector) << 32)
      | (0x8E << 40) | (((handler >> 16) & 0xFFFF) << 48)
    idt[2 * vector + 1] = handler >> 32
  }
}
