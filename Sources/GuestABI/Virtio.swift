/// The virtio 1.x contract the guest's driver and KVMMachine's device share
/// (OASIS virtio 1.1: 2.1 status, 2.7 split virtqueues, 4.1 PCI transport,
/// 5.2 block device). Only the modern interface: no legacy I/O BAR.
public enum Virtio {
  /// PCI vendor of every virtio function.
  public static let pciVendor: UInt16 = 0x1AF4
  /// Modern device IDs are 0x1040 + the virtio device type (4.1.2.1).
  public static let pciModernDeviceBase: UInt16 = 0x1040
  /// Device type 2: block device (5).
  public static let blockDeviceType: UInt16 = 2
  /// The modern-only virtio-blk function (what KVMMachine presents).
  public static let blockModernDeviceID: UInt16 = pciModernDeviceBase + blockDeviceType
  /// The transitional virtio-blk function (QEMU's pc machine by default); it
  /// carries the modern capabilities too, which is all the driver uses.
  public static let blockTransitionalDeviceID: UInt16 = 0x1001

  /// Device status bits (2.1).
  public enum DeviceStatus {
    public static let acknowledge: UInt8 = 1
    public static let driver: UInt8 = 2
    public static let driverOK: UInt8 = 4
    public static let featuresOK: UInt8 = 8
    public static let deviceNeedsReset: UInt8 = 64
    public static let failed: UInt8 = 128
  }

  /// Feature bits the driver and the device speak of (6, 5.2.3).
  public enum Feature {
    /// VIRTIO_BLK_F_SIZE_MAX: `BlockConfig.sizeMax` bounds one descriptor.
    public static let blockSizeMax: UInt64 = 1 << 1
    /// VIRTIO_BLK_F_SEG_MAX: `BlockConfig.segMax` bounds a request's data descriptors.
    public static let blockSegMax: UInt64 = 1 << 2
    /// VIRTIO_BLK_F_RO: the disk is read-only.
    public static let blockReadOnly: UInt64 = 1 << 5
    /// VIRTIO_BLK_F_BLK_SIZE: `BlockConfig.blockSize` is the optimal unit.
    public static let blockSize: UInt64 = 1 << 6
    /// VIRTIO_BLK_F_FLUSH: the device takes VIRTIO_BLK_T_FLUSH.
    public static let blockFlush: UInt64 = 1 << 9
    /// VIRTIO_F_VERSION_1: the modern interface (mandatory here).
    public static let version1: UInt64 = 1 << 32
  }

  /// PCI capability (vendor-specific, ID 0x09) layout and `cfg_type` values (4.1.4).
  public enum Capability {
    public static let vendorSpecificID: UInt8 = 0x09
    public static let commonConfig: UInt8 = 1
    public static let notifyConfig: UInt8 = 2
    public static let isrConfig: UInt8 = 3
    public static let deviceConfig: UInt8 = 4
    public static let pciConfig: UInt8 = 5
    // Offsets within a capability.
    public static let next = 1
    public static let length = 2
    public static let configType = 3
    public static let bar = 4
    public static let offset = 8
    public static let regionLength = 12
    /// The notify capability's `notify_off_multiplier` follows the common part.
    public static let notifyOffMultiplier = 16
    /// Bytes of a capability (the notify one has 4 more).
    public static let size = 16
  }

  /// Offsets in `virtio_pci_common_cfg` (4.1.4.3), with their widths in the names' comments.
  public enum CommonConfig {
    public static let deviceFeatureSelect = 0x00  // u32
    public static let deviceFeature = 0x04  // u32
    public static let driverFeatureSelect = 0x08  // u32
    public static let driverFeature = 0x0C  // u32
    public static let msixConfig = 0x10  // u16
    public static let numQueues = 0x12  // u16
    public static let deviceStatus = 0x14  // u8
    public static let configGeneration = 0x15  // u8
    public static let queueSelect = 0x16  // u16
    public static let queueSize = 0x18  // u16
    public static let queueMsixVector = 0x1A  // u16
    public static let queueEnable = 0x1C  // u16
    public static let queueNotifyOff = 0x1E  // u16
    public static let queueDescriptors = 0x20  // u64 (two u32 halves)
    public static let queueDriver = 0x28  // u64: the available ring
    public static let queueDevice = 0x30  // u64: the used ring
    public static let size = 0x38
    /// `msix_config` / `queue_msix_vector` value for "no vector".
    public static let noVector: UInt16 = 0xFFFF
  }

  /// The split virtqueue's layout (2.7).
  public enum Ring {
    /// A descriptor: addr u64, len u32, flags u16, next u16.
    public static let descriptorSize = 16
    public static let descriptorAlignment: UInt64 = 16
    /// avail: flags u16, idx u16, ring[size] u16, used_event u16.
    public static func availableSize(queueSize: Int) -> Int { 4 + 2 * queueSize + 2 }
    public static let availableAlignment: UInt64 = 2
    /// used: flags u16, idx u16, ring[size] of (id u32, len u32), avail_event u16.
    public static func usedSize(queueSize: Int) -> Int { 4 + 8 * queueSize + 2 }
    public static let usedAlignment: UInt64 = 4
    /// VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE (device writes), VIRTQ_DESC_F_INDIRECT.
    public static let next: UInt16 = 1
    public static let write: UInt16 = 2
    public static let indirect: UInt16 = 4
    /// VIRTQ_AVAIL_F_NO_INTERRUPT: the driver polls.
    public static let noInterrupt: UInt16 = 1
    /// The largest queue a split ring allows.
    public static let maximumQueueSize = 32768
  }

  /// The block device's request header and statuses (5.2.6).
  public enum BlockRequest {
    /// struct virtio_blk_req's header: type u32, reserved u32, sector u64.
    public static let headerSize = 16
    public static let typeIn: UInt32 = 0
    public static let typeOut: UInt32 = 1
    public static let typeFlush: UInt32 = 4
    public static let typeGetID: UInt32 = 8
    public static let statusOK: UInt8 = 0
    public static let statusIOError: UInt8 = 1
    public static let statusUnsupported: UInt8 = 2
    /// Sectors are 512 bytes whatever `blk_size` says.
    public static let sectorSize = 512
  }

  /// `struct virtio_blk_config` offsets (5.2.4).
  public enum BlockConfig {
    public static let capacity = 0  // u64, in 512-byte sectors
    public static let sizeMax = 8  // u32
    public static let segMax = 12  // u32
    public static let blockSize = 20  // u32
    public static let size = 24
  }
}

/// PCI configuration space through configuration mechanism #1 (PCI Local Bus
/// 3.0, 3.2.2.3.2): a 32-bit address to 0xCF8, the dword at 0xCFC..0xCFF.
public enum PCIConfig {
  public static let addressPort: UInt16 = 0xCF8
  public static let dataPort: UInt16 = 0xCFC
  /// Bit 31 of the address: the access is a configuration cycle.
  public static let enable: UInt32 = 1 << 31

  /// The address word for bus/device/function and a dword-aligned register.
  public static func address(bus: UInt8, device: UInt8, function: UInt8, register: UInt8) -> UInt32 {
    enable | UInt32(bus) << 16 | UInt32(device & 0x1F) << 11 | UInt32(function & 7) << 8 | UInt32(register & 0xFC)
  }

  // Type 0 header offsets.
  public static let vendorID = 0x00
  public static let deviceID = 0x02
  public static let command = 0x04
  public static let status = 0x06
  public static let revision = 0x08
  public static let classCode = 0x09  // prog-if, subclass, class: three bytes
  public static let headerType = 0x0E
  public static let bar0 = 0x10
  public static let subsystemVendorID = 0x2C
  public static let subsystemID = 0x2E
  public static let capabilitiesPointer = 0x34
  public static let interruptLine = 0x3C
  public static let interruptPin = 0x3D

  /// Command register bits.
  public static let commandIOSpace: UInt16 = 1 << 0
  public static let commandMemorySpace: UInt16 = 1 << 1
  public static let commandBusMaster: UInt16 = 1 << 2
  public static let commandInterruptDisable: UInt16 = 1 << 10
  /// Status register: the capabilities list is present.
  public static let statusCapabilities: UInt16 = 1 << 4
  /// BAR bits: I/O space (bit 0), 64-bit memory (type 2 in bits 2:1).
  public static let barIOSpace: UInt32 = 1
  public static let barType64: UInt32 = 2 << 1
  public static let barMemoryMask: UInt32 = ~0xF
}
