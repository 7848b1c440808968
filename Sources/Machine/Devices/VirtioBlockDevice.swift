import GuestABI

/// A virtio-blk function (virtio 1.1 5.2, modern PCI transport only) over a
/// host `DiskFile`: one request queue, polled by the driver (no interrupt is
/// ever raised; INTx and MSI-X are absent). Requests run synchronously while
/// the vCPU waits in the notify write's exit, with data moved straight
/// between the file and guest RAM.
///
/// BAR 0 (32-bit memory, `barSize` bytes) holds the structures its
/// capabilities point at: common configuration, ISR, device configuration
/// and the notify register (`Layout`). A driver that breaks the ring contract
/// gets DEVICE_NEEDS_RESET and no more service until it resets the device;
/// a well-formed request the disk cannot serve completes with IOERR or UNSUPP.
public final class VirtioBlockDevice {
  /// Where the structures sit in BAR 0, and the capability list in configuration space.
  enum Layout {
    static let common = 0x0000
    static let isr = 0x1000
    static let device = 0x2000
    static let notify = 0x3000
    static let barSize: UInt32 = 0x4000
    /// Capabilities at 0x40, 0x50, 0x60 and 0x70 (the notify one is 20 bytes).
    static let firstCapability = 0x40
  }
  /// The queue size offered (QEMU's default too); seg_max is two less (header and status).
  public static let maximumQueueSize = 256

  public let disk: DiskFile
  /// Why the device stopped serving its queue, if it did (for the run's report).
  public private(set) var fault: VirtqueueFault?
  /// Requests completed, by outcome.
  public private(set) var completed = 0, failed = 0

  var configuration: PCIConfigurationSpace
  private var deviceFeatureSelect: UInt32 = 0
  private var driverFeatureSelect: UInt32 = 0
  private var driverFeatures: UInt64 = 0
  private var status: UInt8 = 0
  private var queueSelect: UInt16 = 0
  private var queue = SplitVirtqueue(size: maximumQueueSize)
  private let serial: [UInt8]

  /// The function with BAR 0 at `barAddress` (32-bit memory space).
  public init(disk: DiskFile, barAddress: UInt32, serial: String) {
    self.disk = disk
    self.serial = Array(serial.utf8.prefix(20))
    configuration = PCIConfigurationSpace(
      vendor: Virtio.pciVendor, device: Virtio.blockModernDeviceID, classCode: 0x01_8000, revision: 1,
      subsystem: (Virtio.pciVendor, 0x0040), bars: [(barAddress, Layout.barSize)])
    addCapabilities()
  }

  /// Features offered: modern interface, flush, seg_max, blk_size (and read-only when the file is).
  var offeredFeatures: UInt64 {
    Virtio.Feature.version1 | Virtio.Feature.blockFlush | Virtio.Feature.blockSegMax | Virtio.Feature.blockSize
      | (disk.readOnly ? Virtio.Feature.blockReadOnly : 0)
  }

  private func addCapabilities() {
    let structures: [(UInt8, Int, Int)] = [
      (Virtio.Capability.commonConfig, Layout.common, Virtio.CommonConfig.size),
      (Virtio.Capability.isrConfig, Layout.isr, 4),
      (Virtio.Capability.deviceConfig, Layout.device, Virtio.BlockConfig.size),
      (Virtio.Capability.notifyConfig, Layout.notify, 4),
    ]
    for (index, (type, offset, length)) in structures.enumerated() {
      let at = Layout.firstCapability + 0x10 * index
      let next = index + 1 < structures.count ? at + 0x10 : 0
      let isNotify = type == Virtio.Capability.notifyConfig
      configuration.addCapability(
        at: at, next: next,
        bytes: [
          Virtio.Capability.vendorSpecificID, 0, UInt8(isNotify ? 20 : 16), type, 0, 0, 0, 0,
        ] + Self.littleEndian(UInt32(offset)) + Self.littleEndian(UInt32(length))
          + (isNotify ? Self.littleEndian(UInt32(0)) : []))
    }
  }

  static func littleEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

  // MARK: BAR 0

  /// A read of `size` bytes at `offset` in BAR 0.
  func read(offset: Int, size: Int) -> UInt64 {
    switch offset {
    case Layout.common..<(Layout.common + Virtio.CommonConfig.size): return readCommon(offset - Layout.common)
    case Layout.isr: return 0  // never an interrupt to acknowledge
    case Layout.device..<(Layout.device + Virtio.BlockConfig.size):
      return readDeviceConfig(offset - Layout.device, size: size)
    default: return 0
    }
  }

  /// A write of `size` bytes at `offset` in BAR 0; guest RAM for a notify's requests.
  func write(offset: Int, size: Int, value: UInt64, memory: GuestPhysicalMemory) {
    switch offset {
    case Layout.common..<(Layout.common + Virtio.CommonConfig.size):
      writeCommon(offset - Layout.common, value: value, memory: memory)
    case Layout.notify: serveQueue(memory)
    default: break  // read-only or unused: ignored, as real devices do
    }
  }

  private func readCommon(_ offset: Int) -> UInt64 {
    typealias C = Virtio.CommonConfig
    let selected = queueSelect == 0
    switch offset {
    case C.deviceFeatureSelect: return UInt64(deviceFeatureSelect)
    case C.deviceFeature:
      return deviceFeatureSelect < 2 ? (offeredFeatures >> (32 * UInt64(deviceFeatureSelect))) & 0xFFFF_FFFF : 0
    case C.driverFeatureSelect: return UInt64(driverFeatureSelect)
    case C.driverFeature:
      return driverFeatureSelect < 2 ? (driverFeatures >> (32 * UInt64(driverFeatureSelect))) & 0xFFFF_FFFF : 0
    case C.msixConfig, C.queueMsixVector: return UInt64(C.noVector)
    case C.numQueues: return 1
    case C.deviceStatus: return UInt64(status)
    case C.configGeneration: return 0
    case C.queueSelect: return UInt64(queueSelect)
    case C.queueSize: return selected ? UInt64(queue.size) : 0
    case C.queueEnable: return selected && queue.enabled ? 1 : 0
    case C.queueNotifyOff: return 0
    case C.queueDescriptors: return selected ? queue.descriptors & 0xFFFF_FFFF : 0
    case C.queueDescriptors + 4: return selected ? queue.descriptors >> 32 : 0
    case C.queueDriver: return selected ? queue.available & 0xFFFF_FFFF : 0
    case C.queueDriver + 4: return selected ? queue.available >> 32 : 0
    case C.queueDevice: return selected ? queue.used & 0xFFFF_FFFF : 0
    case C.queueDevice + 4: return selected ? queue.used >> 32 : 0
    default: return 0
    }
  }

  private func writeCommon(_ offset: Int, value: UInt64, memory: GuestPhysicalMemory) {
    typealias C = Virtio.CommonConfig
    let low = value & 0xFFFF_FFFF
    // Queue registers only change while the queue is disabled and selected (4.1.4.3.2).
    let queueWritable = queueSelect == 0 && !queue.enabled
    switch offset {
    case C.deviceFeatureSelect: deviceFeatureSelect = UInt32(low)
    case C.driverFeatureSelect: driverFeatureSelect = UInt32(low)
    case C.driverFeature where driverFeatureSelect < 2 && status & Virtio.DeviceStatus.featuresOK == 0:
      let shift = 32 * UInt64(driverFeatureSelect)
      driverFeatures = driverFeatures & ~(0xFFFF_FFFF << shift) | low << shift
    case C.deviceStatus: writeStatus(UInt8(truncatingIfNeeded: value))
    case C.queueSelect: queueSelect = UInt16(truncatingIfNeeded: value)
    case C.queueSize where queueWritable: queue.size = Int(UInt16(truncatingIfNeeded: value))
    case C.queueDescriptors where queueWritable: queue.descriptors = queue.descriptors & ~0xFFFF_FFFF | low
    case C.queueDescriptors + 4 where queueWritable: queue.descriptors = queue.descriptors & 0xFFFF_FFFF | low << 32
    case C.queueDriver where queueWritable: queue.available = queue.available & ~0xFFFF_FFFF | low
    case C.queueDriver + 4 where queueWritable: queue.available = queue.available & 0xFFFF_FFFF | low << 32
    case C.queueDevice where queueWritable: queue.used = queue.used & ~0xFFFF_FFFF | low
    case C.queueDevice + 4 where queueWritable: queue.used = queue.used & 0xFFFF_FFFF | low << 32
    case C.queueEnable where queueWritable && low == 1: enableQueue(memory)
    default: break
    }
  }

  /// Status writes: 0 resets; FEATURES_OK sticks only for features the device offered, VERSION_1 among them.
  private func writeStatus(_ value: UInt8) {
    guard value != 0 else { return reset() }
    var next = value | (status & Virtio.DeviceStatus.deviceNeedsReset)
    let featuresAcceptable =
      driverFeatures & ~offeredFeatures == 0 && driverFeatures & Virtio.Feature.version1 != 0
    if next & Virtio.DeviceStatus.featuresOK != 0, status & Virtio.DeviceStatus.featuresOK == 0, !featuresAcceptable {
      next &= ~Virtio.DeviceStatus.featuresOK
    }
    status = next
  }

  private func reset() {
    status = 0
    driverFeatures = 0
    deviceFeatureSelect = 0
    driverFeatureSelect = 0
    queueSelect = 0
    queue = SplitVirtqueue(size: Self.maximumQueueSize)
    fault = nil
  }

  private func enableQueue(_ memory: GuestPhysicalMemory) {
    do throws(VirtqueueFault) {
      try queue.check(in: memory, maximumSize: Self.maximumQueueSize)
      queue.enabled = true
    } catch {
      broken(error)
    }
  }

  /// The device stops trusting the driver until it resets (virtio 2.1.1).
  private func broken(_ why: VirtqueueFault) {
    fault = why
    status |= Virtio.DeviceStatus.deviceNeedsReset
  }

  private func readDeviceConfig(_ offset: Int, size: Int) -> UInt64 {
    var bytes = [UInt8](repeating: 0, count: Virtio.BlockConfig.size)
    let capacity = disk.sectorCount
    for index in 0..<8 {
      bytes[Virtio.BlockConfig.capacity + index] = UInt8(truncatingIfNeeded: capacity >> (8 * index))
    }
    let segments = Self.littleEndian(UInt32(Self.maximumQueueSize - 2))
    bytes.replaceSubrange(Virtio.BlockConfig.segMax..<(Virtio.BlockConfig.segMax + 4), with: segments)
    let blockSize = Self.littleEndian(UInt32(DiskFile.sectorSize))
    bytes.replaceSubrange(Virtio.BlockConfig.blockSize..<(Virtio.BlockConfig.blockSize + 4), with: blockSize)
    var value: UInt64 = 0
    for index in 0..<size where offset + index < bytes.count { value |= UInt64(bytes[offset + index]) << (8 * index) }
    return value
  }

  // MARK: Requests

  /// Serves every available request, if the driver is ready and the device not broken.
  private func serveQueue(_ memory: GuestPhysicalMemory) {
    guard status & Virtio.DeviceStatus.driverOK != 0, status & Virtio.DeviceStatus.deviceNeedsReset == 0,
      queue.enabled
    else { return }
    do throws(VirtqueueFault) {
      for head in try queue.takeAvailable(in: memory) {
        let segments = try queue.chain(at: head, in: memory)
        let outcome = try BlockRequest(head: head, segments: segments).run(disk: disk, serial: serial)
        if outcome.status == Virtio.BlockRequest.statusOK { completed += 1 } else { failed += 1 }
        try queue.complete(head, written: outcome.written, in: memory)
      }
    } catch {
      broken(error)
    }
  }
}
