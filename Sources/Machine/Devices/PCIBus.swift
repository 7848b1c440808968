import GuestABI

/// KVMMachine's PCI segment: bus 0 through configuration mechanism #1, a host
/// bridge at device 0 and one virtio-blk function per disk at devices 1, 2...,
/// their BARs assigned here as firmware would (`barBase`, one `barStride`
/// each) in the MMIO hole below 4 GiB.
public struct PCIBus {
  /// First BAR address: in `BootLayout`'s MMIO hole, well below KVM's TSS pages near 4 GiB.
  public static let barBase: UInt32 = 0xE000_0000
  public static let barStride: UInt32 = 0x10_0000
  /// Devices on bus 0: the bridge plus at most this many disks.
  public static let maximumDisks = 8

  public private(set) var disks: [VirtioBlockDevice]
  private var hostBridge: PCIConfigurationSpace
  /// The last word written to 0xCF8.
  private var address: UInt32 = 0

  public init(disks: [DiskFile]) {
    self.disks = disks.enumerated().map { index, disk in
      VirtioBlockDevice(
        disk: disk, barAddress: Self.barBase + UInt32(index) * Self.barStride, serial: "mmlab-disk-\(index)")
    }
    // Red Hat's generic PCIe host bridge ID (QEMU's gpex); class 06/00 host bridge.
    hostBridge = PCIConfigurationSpace(
      vendor: 0x1B36, device: 0x0008, classCode: 0x06_0000, revision: 0, subsystem: (0x1B36, 0x0008), bars: [])
  }

  // MARK: Configuration mechanism #1

  /// Port reads of 0xCF8 (the address) and 0xCFC...0xCFF (configuration data).
  func readPort(_ port: UInt16, size: Int) -> UInt32? {
    switch port {
    case PCIConfig.addressPort where size == 4: return address
    case PCIConfig.dataPort..<(PCIConfig.dataPort + 4):
      let offset = Int(address & 0xFC) + Int(port - PCIConfig.dataPort)
      guard address & PCIConfig.enable != 0, let function = target else { return allOnes(size) }
      return function == 0
        ? hostBridge.read(offset, size: size) : disks[function - 1].configuration.read(offset, size: size)
    default: return nil
    }
  }

  /// Port writes of the same; false for a port that is not the bus's.
  mutating func writePort(_ port: UInt16, size: Int, value: UInt32) -> Bool {
    switch port {
    case PCIConfig.addressPort where size == 4:
      address = value
      return true
    case PCIConfig.dataPort..<(PCIConfig.dataPort + 4):
      let offset = Int(address & 0xFC) + Int(port - PCIConfig.dataPort)
      guard address & PCIConfig.enable != 0, let function = target else { return true }
      if function == 0 {
        hostBridge.write(offset, size: size, value: value)
      } else {
        disks[function - 1].configuration.write(offset, size: size, value: value)
      }
      return true
    default: return false
    }
  }

  /// 0 for the bridge, n for disk n - 1: bus 0, function 0 only; nil where nothing answers.
  private var target: Int? {
    let bus = (address >> 16) & 0xFF, device = Int((address >> 11) & 0x1F), function = (address >> 8) & 7
    guard bus == 0, function == 0, device <= disks.count else { return nil }
    return device
  }

  private func allOnes(_ size: Int) -> UInt32 { size == 4 ? 0xFFFF_FFFF : (1 << (8 * UInt32(size))) - 1 }

  // MARK: MMIO

  /// The disk whose enabled BAR 0 holds `address`, and the offset in it.
  func decode(_ address: UInt64) -> (VirtioBlockDevice, Int)? {
    for disk in disks where disk.configuration.memoryEnabled {
      guard let bar = disk.configuration.bar(0), address >= bar.base, address - bar.base < bar.size else { continue }
      return (disk, Int(address - bar.base))
    }
    return nil
  }
}
