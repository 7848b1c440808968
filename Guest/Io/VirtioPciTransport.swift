import GuestArch

/// A virtio function's modern PCI transport (virtio 1.1 4.1): its common
/// configuration, notify and device-specific structures, found through its
/// vendor capabilities and mapped in the device window. CPL 0.
struct VirtioPciTransport {
  let pciDevice: UInt8
  let common: UInt64
  let deviceConfig: UInt64
  let notifyBase: UInt64
  let notifyMultiplier: UInt32

  /// Reads the capability list of `pciDevice` and maps what it names; nil when
  /// a structure is missing, sits in an I/O BAR, or the window is full.
  static func find(_ pciDevice: UInt8, window: inout DeviceWindow, database: KernelFrameDatabase)
    -> VirtioPciTransport?
  {
    var common: UInt64?
    var device: UInt64?
    var notify: UInt64?
    var multiplier: UInt32 = 0
    var pointer = Int(PciConfiguration.read8(pciDevice, PCIConfig.capabilitiesPointer) & 0xFC)
    var visited = 0
    while pointer >= 0x40, visited < 48 {  // a capability is at least 4 bytes of 192: no loop runs longer
      visited += 1
      if PciConfiguration.read8(pciDevice, pointer) == Virtio.Capability.vendorSpecificID {
        let type = PciConfiguration.read8(pciDevice, pointer + Virtio.Capability.configType)
        let mapped = mapStructure(pciDevice, capability: pointer, window: &window, database: database)
        switch type {
        case Virtio.Capability.commonConfig where common == nil: common = mapped
        case Virtio.Capability.deviceConfig where device == nil: device = mapped
        case Virtio.Capability.notifyConfig where notify == nil:
          notify = mapped
          multiplier = PciConfiguration.read32(pciDevice, pointer + Virtio.Capability.notifyOffMultiplier)
        default: break
        }
      }
      pointer = Int(PciConfiguration.read8(pciDevice, pointer + Virtio.Capability.next) & 0xFC)
    }
    guard let common, let device, let notify else { return nil }
    return VirtioPciTransport(
      pciDevice: pciDevice, common: common, deviceConfig: device, notifyBase: notify, notifyMultiplier: multiplier)
  }

  /// The kernel address of the structure one capability describes.
  private static func mapStructure(
    _ pciDevice: UInt8, capability: Int, window: inout DeviceWindow, database: KernelFrameDatabase
  ) -> UInt64? {
    let bar = Int(PciConfiguration.read8(pciDevice, capability + Virtio.Capability.bar))
    let offset = UInt64(PciConfiguration.read32(pciDevice, capability + Virtio.Capability.offset))
    let length = UInt64(PciConfiguration.read32(pciDevice, capability + Virtio.Capability.regionLength))
    guard let base = PciConfiguration.memoryBar(pciDevice, bar), length > 0, length <= 1 << 20 else { return nil }
    return window.map(physical: base + offset, length: length, database: database)
  }

  // MARK: Common configuration

  func read8(_ offset: Int) -> UInt8 { arch_mmio_read8(common + UInt64(offset)) }
  func read16(_ offset: Int) -> UInt16 { arch_mmio_read16(common + UInt64(offset)) }
  func read32(_ offset: Int) -> UInt32 { arch_mmio_read32(common + UInt64(offset)) }
  func write8(_ offset: Int, _ value: UInt8) { arch_mmio_write8(common + UInt64(offset), value) }
  func write16(_ offset: Int, _ value: UInt16) { arch_mmio_write16(common + UInt64(offset), value) }
  func write32(_ offset: Int, _ value: UInt32) { arch_mmio_write32(common + UInt64(offset), value) }
  func write64(_ offset: Int, _ value: UInt64) {
    write32(offset, UInt32(truncatingIfNeeded: value))
    write32(offset + 4, UInt32(truncatingIfNeeded: value >> 32))
  }

  var status: UInt8 { read8(Virtio.CommonConfig.deviceStatus) }

  /// Resets the device and negotiates: `required` must all be offered, `wanted`
  /// are taken where offered (3.1.1 steps 1-6). The features agreed, or nil
  /// with FAILED set.
  func negotiate(required: UInt64, wanted: UInt64) -> UInt64? {
    typealias S = Virtio.DeviceStatus
    write8(Virtio.CommonConfig.deviceStatus, 0)
    var spins = 0
    while status != 0 {
      spins += 1
      if spins > 1_000_000 { return nil }
      arch_pause()
    }
    write8(Virtio.CommonConfig.deviceStatus, S.acknowledge)
    write8(Virtio.CommonConfig.deviceStatus, S.acknowledge | S.driver)
    var offered: UInt64 = 0
    for half in 0..<2 {
      write32(Virtio.CommonConfig.deviceFeatureSelect, UInt32(half))
      offered |= UInt64(read32(Virtio.CommonConfig.deviceFeature)) << (32 * UInt64(half))
    }
    guard offered & required == required else { return fail() }
    let agreed = offered & (required | wanted)
    for half in 0..<2 {
      write32(Virtio.CommonConfig.driverFeatureSelect, UInt32(half))
      write32(Virtio.CommonConfig.driverFeature, UInt32(truncatingIfNeeded: agreed >> (32 * UInt64(half))))
    }
    write8(Virtio.CommonConfig.deviceStatus, S.acknowledge | S.driver | S.featuresOK)
    guard status & S.featuresOK != 0 else { return fail() }
    return agreed
  }

  private func fail() -> UInt64? {
    write8(Virtio.CommonConfig.deviceStatus, status | Virtio.DeviceStatus.failed)
    return nil
  }

  /// Programs queue 0 with `size` entries and its three rings, enables it; the
  /// address of its notify register, or nil if the device offers no such queue.
  func setUpQueue(size: Int, descriptors: UInt64, available: UInt64, used: UInt64) -> UInt64? {
    write16(Virtio.CommonConfig.queueSelect, 0)
    let maximum = Int(read16(Virtio.CommonConfig.queueSize))
    guard maximum >= size, size > 0 else { return nil }
    write16(Virtio.CommonConfig.queueSize, UInt16(size))
    write16(Virtio.CommonConfig.queueMsixVector, Virtio.CommonConfig.noVector)
    write64(Virtio.CommonConfig.queueDescriptors, descriptors)
    write64(Virtio.CommonConfig.queueDriver, available)
    write64(Virtio.CommonConfig.queueDevice, used)
    let notifyOffset = UInt64(read16(Virtio.CommonConfig.queueNotifyOff)) * UInt64(notifyMultiplier)
    write16(Virtio.CommonConfig.queueEnable, 1)
    return notifyBase + notifyOffset
  }
}
