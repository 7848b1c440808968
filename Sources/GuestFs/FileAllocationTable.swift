#if canImport(GuestABI)
  import GuestABI
#endif
#if canImport(GuestMm)
  import GuestMm
#endif

/// The FAT through a small write-back cache of its sectors, the free-cluster
/// accounting FSInfo publishes, and allocation. Dirty sectors reach every
/// copy of the FAT (only the active one when the volume turned mirroring off)
/// at `writeBack`, which each changing call of the volume ends with.
final class FileAllocationTable {
  let geometry: FatGeometry
  /// Free clusters, kept exact from mount on (counted there when FSInfo does not say).
  private(set) var freeCount: UInt32
  /// Where the next allocation starts looking (FSInfo's FSI_Nxt_Free).
  private(set) var nextFreeHint: UInt32
  /// Whether the free count or the hint changed since FSInfo was last written.
  private(set) var fsInfoDirty = false

  private static let slotCount = 8
  private static let entriesPerSector = UInt32(FatBootSector.sectorSize / 4)
  private let cache: UnsafeMutableRawPointer
  /// The FAT-relative sector each slot holds (UInt32.max: none).
  private var slotSector: [UInt32]
  private var slotDirty: [Bool]
  private var victim = 0

  init(geometry: FatGeometry) {
    self.geometry = geometry
    cache = UnsafeMutableRawPointer.allocate(
      byteCount: Self.slotCount * FatBootSector.sectorSize, alignment: FatBootSector.sectorSize)
    slotSector = [UInt32](repeating: UInt32.max, count: Self.slotCount)
    slotDirty = [Bool](repeating: false, count: Self.slotCount)
    freeCount = 0
    nextFreeHint = FatEntry.firstDataCluster
  }

  deinit { cache.deallocate() }

  /// The entry of a valid data cluster, its reserved top bits cleared.
  func entry<Device: BlockDevice>(_ cluster: UInt32, _ device: inout Device) throws(Status) -> UInt32 {
    let slot = try load(cluster / Self.entriesPerSector, &device)
    let offset = slot * FatBootSector.sectorSize + Int(cluster % Self.entriesPerSector) * 4
    return loadLittle32(cache, offset) & FatEntry.mask
  }

  /// Sets the entry of a valid data cluster, keeping its reserved top bits and the free count.
  func setEntry<Device: BlockDevice>(_ cluster: UInt32, _ value: UInt32, _ device: inout Device) throws(Status) {
    let slot = try load(cluster / Self.entriesPerSector, &device)
    let offset = slot * FatBootSector.sectorSize + Int(cluster % Self.entriesPerSector) * 4
    let old = loadLittle32(cache, offset)
    storeLittle32(cache, offset, (old & ~FatEntry.mask) | (value & FatEntry.mask))
    slotDirty[slot] = true
    let wasFree = old & FatEntry.mask == FatEntry.free
    let isFree = value & FatEntry.mask == FatEntry.free
    if wasFree && !isFree { freeCount = freeCount > 0 ? freeCount - 1 : 0 }
    if !wasFree && isFree { freeCount = min(freeCount + 1, geometry.clusterCount) }
    if wasFree != isFree { fsInfoDirty = true }
  }

  /// The cache slot holding FAT-relative `sector`, read from the active FAT when missing.
  private func load<Device: BlockDevice>(_ sector: UInt32, _ device: inout Device) throws(Status) -> Int {
    for slot in 0..<Self.slotCount where slotSector[slot] == sector { return slot }
    let slot = victim
    victim = (victim + 1) % Self.slotCount
    try writeSlot(slot, &device)
    slotSector[slot] = UInt32.max
    let absolute = UInt64(geometry.reservedSectors + geometry.activeFat * geometry.fatSectors + sector)
    try check(device.read(sector: absolute, count: 1, into: cache + slot * FatBootSector.sectorSize))
    slotSector[slot] = sector
    return slot
  }

  /// Writes a dirty slot to every FAT copy that mirrors the active one.
  private func writeSlot<Device: BlockDevice>(_ slot: Int, _ device: inout Device) throws(Status) {
    guard slotDirty[slot] else { return }
    let copies = geometry.mirrored ? 0..<geometry.fatCount : geometry.activeFat..<geometry.activeFat + 1
    for copy in copies {
      let absolute = UInt64(geometry.reservedSectors + copy * geometry.fatSectors + slotSector[slot])
      try check(device.write(sector: absolute, count: 1, from: cache + slot * FatBootSector.sectorSize))
    }
    slotDirty[slot] = false
  }

  /// Writes every dirty FAT sector to the disk.
  func writeBack<Device: BlockDevice>(_ device: inout Device) throws(Status) {
    for slot in 0..<Self.slotCount { try writeSlot(slot, &device) }
  }
}

/// Turns a device's answer into a thrown status.
@inline(__always)
func check(_ status: Status) throws(Status) {
  if status != .success { throw status }
}

// MARK: - FSInfo and the free count

extension FileAllocationTable {
  /// Takes FSInfo's free count and hint when its signatures and values are
  /// sane; otherwise counts the free entries, so the count is exact either way.
  func loadFSInfo<Device: BlockDevice>(_ device: inout Device, sector: UnsafeMutableRawPointer) throws(Status) {
    var trusted = false
    if geometry.fsInfoSector != 0 {
      try check(device.read(sector: UInt64(geometry.fsInfoSector), count: 1, into: sector))
      if Self.hasSignatures(sector) {
        let free = loadLittle32(sector, FatFSInfo.freeCount)
        let hint = loadLittle32(sector, FatFSInfo.nextFree)
        if geometry.isDataCluster(hint) { nextFreeHint = hint }
        if free <= geometry.clusterCount {
          freeCount = free
          trusted = true
        }
      }
    }
    if !trusted {
      freeCount = try countFree(&device)
      fsInfoDirty = true
    }
  }

  /// Whether a sector carries the three FSInfo signatures.
  static func hasSignatures(_ sector: UnsafeRawPointer) -> Bool {
    loadLittle32(sector, FatFSInfo.leadSignatureOffset) == FatFSInfo.leadSignature
      && loadLittle32(sector, FatFSInfo.structSignatureOffset) == FatFSInfo.structSignature
      && loadLittle32(sector, FatFSInfo.trailSignatureOffset) == FatFSInfo.trailSignature
  }

  /// Writes the free count and hint into the FSInfo sector, if the volume has a
  /// genuine one (a sector without the signatures is left alone).
  func storeFSInfo<Device: BlockDevice>(_ device: inout Device, sector: UnsafeMutableRawPointer) throws(Status) {
    guard fsInfoDirty, geometry.fsInfoSector != 0 else { return }
    try check(device.read(sector: UInt64(geometry.fsInfoSector), count: 1, into: sector))
    guard Self.hasSignatures(sector) else { return }
    storeLittle32(sector, FatFSInfo.freeCount, freeCount)
    storeLittle32(sector, FatFSInfo.nextFree, nextFreeHint)
    try check(device.write(sector: UInt64(geometry.fsInfoSector), count: 1, from: sector))
    fsInfoDirty = false
  }

  /// Free entries in the whole FAT.
  func countFree<Device: BlockDevice>(_ device: inout Device) throws(Status) -> UInt32 {
    var free: UInt32 = 0
    for index in 0..<geometry.clusterCount {
      if try entry(index + FatEntry.firstDataCluster, &device) == FatEntry.free { free += 1 }
    }
    return free
  }
}

// MARK: - Allocation

extension FileAllocationTable {
  /// Visits free clusters in allocation order (from the hint, wrapping once)
  /// until `limit` were visited; returns how many there were.
  @discardableResult
  private func forEachFree<Device: BlockDevice>(
    limit: UInt32, _ device: inout Device, _ body: (UInt32, inout Device) throws(Status) -> Void
  ) throws(Status) -> UInt32 {
    var found: UInt32 = 0
    let start = nextFreeHint - FatEntry.firstDataCluster
    var step: UInt32 = 0
    while found < limit, step < geometry.clusterCount {
      let cluster = (start + step) % geometry.clusterCount + FatEntry.firstDataCluster
      step += 1
      guard try entry(cluster, &device) == FatEntry.free else { continue }
      try body(cluster, &device)
      found += 1
    }
    return found
  }

  /// Whether `count` clusters are free: the real entries decide, not the count.
  func hasFree<Device: BlockDevice>(_ count: UInt32, _ device: inout Device) throws(Status) -> Bool {
    guard count > 0 else { return true }
    return try forEachFree(limit: count, &device) { (_, _) throws(Status) in } == count
  }

  /// Allocates `count` free clusters as one chain ending in end-of-chain,
  /// linked after `tail` (0: none); returns its first cluster. Throws
  /// STATUS_DISK_FULL, with the FAT unchanged, when there are not that many.
  func allocate<Device: BlockDevice>(_ count: UInt32, after tail: UInt32, _ device: inout Device) throws(Status)
    -> UInt32
  {
    guard count > 0 else { return 0 }
    guard try hasFree(count, &device) else { throw .diskFull }
    var first: UInt32 = 0
    var previous: UInt32 = 0
    try forEachFree(limit: count, &device) { (cluster: UInt32, device: inout Device) throws(Status) in
      if previous != 0 { try setEntry(previous, cluster, &device) } else { first = cluster }
      previous = cluster
    }
    try setEntry(previous, FatEntry.endOfChain, &device)
    if tail != 0 { try setEntry(tail, first, &device) }
    nextFreeHint = previous + 1 < geometry.clusterCount + 2 ? previous + 1 : FatEntry.firstDataCluster
    fsInfoDirty = true
    return first
  }
}
