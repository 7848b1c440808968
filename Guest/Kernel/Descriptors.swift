import GuestArch

/// Segment selectors of the kernel GDT. The order after the kernel pair is
/// the one SYSCALL/SYSRET want (user code32, user data, user code64).
enum Selector {
  static let kernelCode: UInt16 = 0x08
  static let kernelData: UInt16 = 0x10
  static let userCode32: UInt16 = 0x18 | 3
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

/// Builds and loads the GDT (with the TSS) and the IDT. Every vector gets an
/// IST stack: 64-bit IST always switches stacks, which keeps Swift's red zone safe.
func installDescriptorTables() {
  let gdt = UnsafeMutablePointer<UInt64>(bitPattern: UInt(arch_gdt()))!
  gdt[0] = 0
  gdt[1] = 0x0020_9A00_0000_0000  // kernel code: L, P, DPL 0, execute/read
  gdt[2] = 0x0000_9200_0000_0000  // kernel data: P, DPL 0, read/write
  gdt[3] = 0x00CF_FA00_0000_FFFF  // user code32 (unused; keeps the SYSRET layout)
  gdt[4] = 0x0000_F200_0000_0000  // user data: P, DPL 3
  gdt[5] = 0x0020_FA00_0000_0000  // user code: L, P, DPL 3
  let tss = arch_tss()
  let limit: UInt64 = 103
  gdt[6] = limit | ((tss & 0xFF_FFFF) << 16) | (0x89 << 40) | (((tss >> 24) & 0xFF) << 56)
  gdt[7] = tss >> 32
  let tssBytes = UnsafeMutableRawPointer(bitPattern: UInt(tss))!
  tssBytes.storeBytes(of: arch_boot_stack_top(), toByteOffset: 4, as: UInt64.self)  // RSP0
  for stack in 1...4 {
    tssBytes.storeBytes(of: arch_ist_top(UInt32(stack)), toByteOffset: 36 + (stack - 1) * 8, as: UInt64.self)
  }
  tssBytes.storeBytes(of: UInt16(104), toByteOffset: 102, as: UInt16.self)  // no I/O bitmap
  loadDescriptorTable(base: arch_gdt(), limit: 8 * 8 - 1, isIDT: false)
  arch_reload_segments(Selector.kernelCode, Selector.kernelData)
  arch_ltr(Selector.tss)

  let idt = UnsafeMutablePointer<UInt64>(bitPattern: UInt(arch_idt()))!
  for vector in 0..<256 {
    let handler = arch_isr_stub(UInt32(vector))
    idt[2 * vector] =
      (handler & 0xFFFF) | (UInt64(Selector.kernelCode) << 16) | (interruptStackIndex(vector: vector) << 32)
      | (0x8E << 40) | (((handler >> 16) & 0xFFFF) << 48)
    idt[2 * vector + 1] = handler >> 32
  }
  loadDescriptorTable(base: arch_idt(), limit: 256 * 16 - 1, isIDT: true)
}

/// LGDT/LIDT take a 10-byte pseudo-descriptor: 16-bit limit, 64-bit base.
private func loadDescriptorTable(base: UInt64, limit: UInt16, isIDT: Bool) {
  var descriptor: (UInt64, UInt64) = (0, 0)
  withUnsafeMutableBytes(of: &descriptor) { bytes in
    bytes.storeBytes(of: limit, toByteOffset: 0, as: UInt16.self)
    bytes.storeBytes(of: base, toByteOffset: 2, as: UInt64.self)
    if isIDT { arch_lidt(bytes.baseAddress) } else { arch_lgdt(bytes.baseAddress) }
  }
}
