import GuestArch

/// PCI configuration space of bus 0, function 0 of each device, through
/// configuration mechanism #1 (GuestABI `PCIConfig`). CPL 0: port I/O.
enum PciConfiguration {
  static func read32(_ device: UInt8, _ register: Int) -> UInt32 {
    arch_outl(PCIConfig.addressPort, PCIConfig.address(bus: 0, device: device, function: 0, register: UInt8(register)))
    return arch_inl(PCIConfig.dataPort)
  }

  static func read16(_ device: UInt8, _ register: Int) -> UInt16 {
    UInt16(truncatingIfNeeded: read32(device, register) >> (8 * UInt32(register & 2)))
  }

  static func read8(_ device: UInt8, _ register: Int) -> UInt8 {
    UInt8(truncatingIfNeeded: read32(device, register) >> (8 * UInt32(register & 3)))
  }

  /// A 16-bit write (the command register): only its own two bytes change.
  static func write16(_ device: UInt8, _ register: Int, _ value: UInt16) {
    arch_outl(PCIConfig.addressPort, PCIConfig.address(bus: 0, device: device, function: 0, register: UInt8(register)))
    arch_outw(PCIConfig.dataPort + UInt16(register & 2), value)
  }

  /// The physical base of memory BAR `index` (32- or 64-bit); nil for an I/O or absent BAR.
  static func memoryBar(_ device: UInt8, _ index: Int) -> UInt64? {
    guard index >= 0, index < 6 else { return nil }
    let low = read32(device, PCIConfig.bar0 + 4 * index)
    guard low & PCIConfig.barIOSpace == 0 else { return nil }
    var base = UInt64(low & PCIConfig.barMemoryMask)
    if low & 0x6 == PCIConfig.barType64 {
      guard index < 5 else { return nil }
      base |= UInt64(read32(device, PCIConfig.bar0 + 4 * (index + 1))) << 32
    }
    return base == 0 ? nil : base
  }
}

/// Device registers mapped uncached into the kernel's device window
/// (`KernelLayout.deviceWindowBase`), whose page table the boot pass built.
struct DeviceWindow {
  /// Physical address of the window's page table.
  let table: UInt64
  private(set) var usedPages = 0

  init(table: UInt64) { self.table = table }

  /// The kernel address of `length` bytes of device memory at `physical`; nil
  /// when the window is full. Entries go from 0 to valid: no TLB entry to drop.
  mutating func map(physical: UInt64, length: UInt64, database: KernelFrameDatabase) -> UInt64? {
    let first = physical & ~0xFFF
    let pages = Int(((physical &+ length &+ 0xFFF) & ~0xFFF) &- first) >> 12
    guard length > 0, pages <= IoMapping.firstSlot - usedPages else { return nil }  // the upper half is IoMapping's
    let flags =
      HardwarePTE.present | HardwarePTE.writable | HardwarePTE.cacheDisable | HardwarePTE.writeThrough
      | HardwarePTE.noExecute
    for page in 0..<pages {
      arch_store64(
        PhysicalWindow.virtualAddress(table) + UInt64(usedPages + page) * 8, (first + UInt64(page) << 12) | flags)
    }
    database.adjustLiveEntries(table >> 12, by: Int32(pages))
    let address = KernelLayout.deviceWindowBase + UInt64(usedPages) << 12 + (physical & 0xFFF)
    usedPages += pages
    return address
  }
}
