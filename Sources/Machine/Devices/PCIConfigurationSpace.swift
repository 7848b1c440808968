import GuestABI

/// The 256-byte type 0 configuration header of one PCI function: fixed
/// identification, a command register the driver programs, memory BARs that
/// answer the sizing protocol (all ones written, the size mask read back) and
/// a capability list. Anything else reads as the bytes it was built with and
/// ignores writes.
struct PCIConfigurationSpace {
  private(set) var bytes = [UInt8](repeating: 0, count: 256)
  /// Sizes of the memory BARs, by index (0 for an absent BAR).
  private let barSizes: [UInt32]

  init(
    vendor: UInt16, device: UInt16, classCode: UInt32, revision: UInt8, subsystem: (UInt16, UInt16),
    bars: [(address: UInt32, size: UInt32)], headerType: UInt8 = 0
  ) {
    barSizes = (0..<6).map { $0 < bars.count ? bars[$0].size : 0 }
    put16(vendor, at: PCIConfig.vendorID)
    put16(device, at: PCIConfig.deviceID)
    bytes[PCIConfig.revision] = revision
    for index in 0..<3 { bytes[PCIConfig.classCode + index] = UInt8(truncatingIfNeeded: classCode >> (8 * index)) }
    bytes[PCIConfig.headerType] = headerType
    put16(subsystem.0, at: PCIConfig.subsystemVendorID)
    put16(subsystem.1, at: PCIConfig.subsystemID)
    for (index, bar) in bars.enumerated() {
      put32(bar.address & PCIConfig.barMemoryMask, at: PCIConfig.bar0 + 4 * index)
    }
  }

  /// Appends a capability at `at` (bytes[1] is overwritten with `next`); the status register then says there is a list.
  mutating func addCapability(at offset: Int, next: Int, bytes capability: [UInt8]) {
    precondition(offset >= 0x40 && offset + capability.count <= 256, "capabilities live in the device-specific area")
    bytes.replaceSubrange(offset..<(offset + capability.count), with: capability)
    bytes[offset + 1] = UInt8(next)
    if bytes[PCIConfig.capabilitiesPointer] == 0 { bytes[PCIConfig.capabilitiesPointer] = UInt8(offset) }
    put16(get16(at: PCIConfig.status) | PCIConfig.statusCapabilities, at: PCIConfig.status)
  }

  var command: UInt16 { get16(at: PCIConfig.command) }
  var memoryEnabled: Bool { command & PCIConfig.commandMemorySpace != 0 }

  /// The memory BAR `index`'s base and size, when it is implemented.
  func bar(_ index: Int) -> (base: UInt64, size: UInt64)? {
    guard barSizes[index] != 0 else { return nil }
    return (UInt64(get32(at: PCIConfig.bar0 + 4 * index) & PCIConfig.barMemoryMask), UInt64(barSizes[index]))
  }

  /// `size` bytes (1, 2 or 4) at `offset`; accesses past the header read as ones.
  func read(_ offset: Int, size: Int) -> UInt32 {
    var value: UInt32 = 0
    for index in 0..<size {
      let byte = offset + index < bytes.count ? bytes[offset + index] : 0xFF
      value |= UInt32(byte) << (8 * index)
    }
    return value
  }

  /// A write: the command register's implemented bits, a BAR's address bits, the interrupt line.
  mutating func write(_ offset: Int, size: Int, value: UInt32) {
    for index in 0..<size {
      let at = offset + index
      let byte = UInt8(truncatingIfNeeded: value >> (8 * index))
      switch at {
      case PCIConfig.command:
        let implemented = UInt8(truncatingIfNeeded: PCIConfig.commandMemorySpace | PCIConfig.commandBusMaster)
        bytes[at] = byte & implemented
      case PCIConfig.command + 1:
        bytes[at] = byte & UInt8(PCIConfig.commandInterruptDisable >> 8)
      case PCIConfig.bar0..<(PCIConfig.bar0 + 24):
        writeBarByte(at, byte)
      case PCIConfig.interruptLine:
        bytes[at] = byte
      default:
        break
      }
    }
  }

  /// BAR bits below the size are hardwired to zero, so all ones reads back the size mask.
  private mutating func writeBarByte(_ at: Int, _ byte: UInt8) {
    let index = (at - PCIConfig.bar0) / 4
    let shift = 8 * ((at - PCIConfig.bar0) % 4)
    let mask = barSizes[index] == 0 ? 0 : ~(barSizes[index] - 1) & PCIConfig.barMemoryMask
    bytes[at] = byte & UInt8(truncatingIfNeeded: mask >> UInt32(shift))
  }

  private func get16(at offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
  private func get32(at offset: Int) -> UInt32 { UInt32(get16(at: offset)) | UInt32(get16(at: offset + 2)) << 16 }
  private mutating func put16(_ value: UInt16, at offset: Int) {
    bytes[offset] = UInt8(truncatingIfNeeded: value)
    bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
  }
  private mutating func put32(_ value: UInt32, at offset: Int) {
    put16(UInt16(truncatingIfNeeded: value), at: offset)
    put16(UInt16(truncatingIfNeeded: value >> 16), at: offset + 2)
  }
}
