import GuestArch

/// What the boot pass sets aside for the disks the host attached
/// (`GuestCommandLine.disksPrefix`): the device window's page table and each
/// disk's queue pages.
struct DiskFrames {
  static let maximumDisks = 8
  let windowTable: UInt64
  /// The page table of Cc's views in system space (`SystemCacheLayout`).
  let systemCacheTable: UInt64
  let queuePages: UInt64
  let count: Int
}

/// Builds the device window's table in the kernel's tables (not yet live) and
/// allocates queue pages for `count` disks; nil when frames run out.
func allocateDiskFrames(count: Int, frames: inout BootFrameAllocator, space: KernelAddressSpace) -> DiskFrames? {
  guard count > 0, count <= DiskFrames.maximumDisks,
    let table = space.tableFor(KernelLayout.deviceWindowBase, level: 1, frames: &frames),
    let cache = space.tableFor(SystemCacheLayout.base, level: 1, frames: &frames),
    let queues = frames.allocateContiguous(count * VirtioQueuePages.pageCount)
  else { return nil }
  return DiskFrames(windowTable: table, systemCacheTable: cache, queuePages: queues, count: count)
}

/// The guest's disks, in PCI device order.
enum DiskSystem {
  static var disks: [VirtioBlockDisk] = []

  /// Finds the virtio-blk functions on bus 0 and starts a driver on each;
  /// traps if the host attached more disks than answer.
  static func start(_ frames: DiskFrames, database: KernelFrameDatabase) {
    var window = DeviceWindow(table: frames.windowTable)
    IoMapping.table = frames.windowTable
    SystemCache.table = frames.systemCacheTable
    for device in UInt8(0)..<32 where disks.count < frames.count {
      guard PciConfiguration.read16(device, PCIConfig.vendorID) == Virtio.pciVendor else { continue }
      let id = PciConfiguration.read16(device, PCIConfig.deviceID)
      guard id == Virtio.blockModernDeviceID || id == Virtio.blockTransitionalDeviceID else { continue }
      let pages = VirtioQueuePages(base: frames.queuePages + UInt64(disks.count * VirtioQueuePages.pageCount) * 4096)
      guard let disk = VirtioBlockDisk.start(device, pages: pages, window: &window, database: database) else {
        kernelPanic("DiskSystem.start", "a virtio-blk function refused the driver")
      }
      disks.append(disk)
    }
    if disks.count < frames.count { kernelPanic("DiskSystem.start", "fewer virtio-blk functions than io.disks says") }
    Console.write("virtio-blk: ")
    Console.write(decimal: UInt64(disks.count))
    Console.write(" disk(s), first of ")
    Console.write(decimal: disks[0].sectorCount)
    Console.write(" sectors\n")
  }
}
