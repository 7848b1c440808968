import GuestArch

/// The two physically contiguous pages a disk's queue lives in, from the boot
/// pass: the descriptor table fills the first; the second holds the
/// available ring, the used ring and the one request's header and status.
struct VirtioQueuePages {
  static let pageCount = 2
  static let queueSize = 256
  let base: UInt64
  var descriptors: UInt64 { base }
  var available: UInt64 { base + 4096 }
  var used: UInt64 { base + 4096 + 1024 }
  var header: UInt64 { base + 4096 + 3584 }
  var status: UInt64 { header + UInt64(Virtio.BlockRequest.headerSize) }
}

/// A virtio-blk disk (virtio 1.1 5.2) driven by polling: one request in flight,
/// three descriptors (header, data, status) of which only the data one changes,
/// the used ring spun on until the device answers. CPL 0.
struct VirtioBlockDisk {
  let transport: VirtioPciTransport
  let pages: VirtioQueuePages
  let notify: UInt64
  let queueSize: Int
  /// Capacity in 512-byte sectors, and what the device agreed to.
  let sectorCount: UInt64
  let features: UInt64
  let ring: VirtioRingAddresses
  private var nextAvailable: UInt16 = 0

  /// Brings the device at `pciDevice` up (3.1.1); nil if it is not a usable virtio-blk.
  static func start(
    _ pciDevice: UInt8, pages: VirtioQueuePages, window: inout DeviceWindow, database: KernelFrameDatabase
  )
    -> VirtioBlockDisk?
  {
    // BAR decoding and bus mastering on, INTx off: the driver polls and wants no interrupt.
    let command = PciConfiguration.read16(pciDevice, PCIConfig.command)
    PciConfiguration.write16(
      pciDevice, PCIConfig.command,
      command | PCIConfig.commandMemorySpace | PCIConfig.commandBusMaster | PCIConfig.commandInterruptDisable)
    guard let transport = VirtioPciTransport.find(pciDevice, window: &window, database: database),
      let features = transport.negotiate(
        required: Virtio.Feature.version1, wanted: Virtio.Feature.blockFlush | Virtio.Feature.blockReadOnly)
    else { return nil }
    let sectors =
      UInt64(arch_mmio_read32(transport.deviceConfig + UInt64(Virtio.BlockConfig.capacity)))
      | UInt64(arch_mmio_read32(transport.deviceConfig + UInt64(Virtio.BlockConfig.capacity) + 4)) << 32
    let size = VirtioQueuePages.queueSize
    arch_store16_volatile(PhysicalWindow.virtualAddress(pages.available), Virtio.Ring.noInterrupt)
    guard
      let notify = transport.setUpQueue(
        size: size, descriptors: pages.descriptors, available: pages.available, used: pages.used)
    else { return nil }
    transport.write8(Virtio.CommonConfig.deviceStatus, transport.status | Virtio.DeviceStatus.driverOK)
    let disk = VirtioBlockDisk(
      transport: transport, pages: pages, notify: notify, queueSize: size, sectorCount: sectors, features: features,
      ring: VirtioRingAddresses(pages))
    disk.prepareDescriptors()
    return disk
  }

  var readOnly: Bool { features & Virtio.Feature.blockReadOnly != 0 }
  var canFlush: Bool { features & Virtio.Feature.blockFlush != 0 }

  /// Descriptor 0 is the header (device reads), 1 the data, 2 the status byte (device writes).
  private func prepareDescriptors() {
    descriptor(
      0, address: pages.header, length: UInt32(Virtio.BlockRequest.headerSize), flags: Virtio.Ring.next, next: 1)
    descriptor(2, address: pages.status, length: 1, flags: Virtio.Ring.write, next: 0)
  }

  private func descriptor(_ index: UInt64, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) {
    let entry = ring.descriptors &+ index &* UInt64(Virtio.Ring.descriptorSize)
    arch_store64(entry, address)
    arch_store64(entry &+ 8, UInt64(length) | UInt64(flags) << 32 | UInt64(next) << 48)
  }

  /// Reads (`write` false) or writes `bytes` at `sector` from the physically
  /// contiguous buffer at `physical`; the device's status byte
  /// (`Virtio.BlockRequest.status*`), or nil when it never answered.
  mutating func transfer(write: Bool, sector: UInt64, physical: UInt64, bytes: UInt32) -> UInt8? {
    arch_store64(ring.header, UInt64(write ? Virtio.BlockRequest.typeOut : Virtio.BlockRequest.typeIn))
    arch_store64(ring.header &+ 8, sector)
    let flags = Virtio.Ring.next | (write ? 0 : Virtio.Ring.write)
    descriptor(1, address: physical, length: bytes, flags: flags, next: 2)
    return submit(dataDescriptors: true)
  }

  /// Reads or writes at `sector` through `count` buffers (physical address,
  /// bytes), at most `maximumSegments`, in one request; as `transfer`.
  mutating func transfer(write: Bool, sector: UInt64, segments: UnsafePointer<PhysicalSegment>, count: Int) -> UInt8? {
    guard count > 0, count <= Self.maximumSegments else { return Virtio.BlockRequest.statusIOError }
    arch_store64(ring.header, UInt64(write ? Virtio.BlockRequest.typeOut : Virtio.BlockRequest.typeIn))
    arch_store64(ring.header &+ 8, sector)
    let flags = Virtio.Ring.next | (write ? 0 : Virtio.Ring.write)
    for n in 0..<count {
      descriptor(
        UInt64(n + 1), address: segments[n].physical, length: segments[n].bytes, flags: flags, next: UInt16(n + 2))
    }
    descriptor(UInt64(count + 1), address: pages.status, length: 1, flags: Virtio.Ring.write, next: 0)
    defer { descriptor(2, address: pages.status, length: 1, flags: Virtio.Ring.write, next: 0) }
    return submit(dataDescriptors: true)
  }

  /// Data descriptors one request takes (the queue less the header and status).
  static let maximumSegments = VirtioQueuePages.queueSize - 2

  /// VIRTIO_BLK_T_FLUSH: what was written is on stable storage when it answers OK.
  mutating func flush() -> UInt8? {
    arch_store64(ring.header, UInt64(Virtio.BlockRequest.typeFlush))
    arch_store64(ring.header &+ 8, 0)
    return submit(dataDescriptors: false)
  }

  /// Makes the chain at descriptor 0 available, notifies, and spins on the used
  /// ring. Every instruction here runs at CPL 0 (emulated on kvm-pvm): the
  /// addresses are worked out once, in `ring`.
  private mutating func submit(dataDescriptors: Bool) -> UInt8? {
    arch_store64(
      ring.descriptors &+ 8,
      UInt64(Virtio.BlockRequest.headerSize) | UInt64(Virtio.Ring.next) << 32 | UInt64(dataDescriptors ? 1 : 2) << 48)
    arch_store8_volatile(ring.status, 0xFF)
    let before = arch_load16_volatile(ring.usedIndex)
    arch_store16_volatile(ring.availableSlots &+ 2 &* UInt64(nextAvailable & UInt16(queueSize &- 1)), 0)
    nextAvailable &+= 1
    arch_store16_volatile(ring.availableIndex, nextAvailable)
    arch_mmio_write16(notify, 0)
    // KVMMachine serves the request inside the notify's exit: done at once.
    if arch_load16_volatile(ring.usedIndex) != before { return arch_load8_volatile(ring.status) }
    let start = arch_rdtsc()
    while arch_load16_volatile(ring.usedIndex) == before {
      // A device that stopped answering (DEVICE_NEEDS_RESET, or gone): give up after ~30 s of TSC.
      if arch_rdtsc() &- start > 100_000_000_000 { return nil }
      arch_pause()
    }
    return arch_load8_volatile(ring.status)
  }
}

/// A physically contiguous piece of a transfer.
struct PhysicalSegment {
  var physical: UInt64
  var bytes: UInt32
}

/// The kernel addresses (direct map) of what `submit` touches.
struct VirtioRingAddresses {
  let descriptors: UInt64
  let availableIndex: UInt64
  let availableSlots: UInt64
  let usedIndex: UInt64
  let header: UInt64
  let status: UInt64

  init(_ pages: VirtioQueuePages) {
    descriptors = PhysicalWindow.virtualAddress(pages.descriptors)
    availableIndex = PhysicalWindow.virtualAddress(pages.available) + 2
    availableSlots = PhysicalWindow.virtualAddress(pages.available) + 4
    usedIndex = PhysicalWindow.virtualAddress(pages.used) + 2
    header = PhysicalWindow.virtualAddress(pages.header)
    status = PhysicalWindow.virtualAddress(pages.status)
  }
}
