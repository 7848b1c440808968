#if canImport(GuestABI)
  import GuestABI
#endif
#if canImport(GuestMm)
  import GuestMm
#endif

/// Little-endian fields of a sector read from disk (any alignment).
@inline(__always)
func loadLittle16(_ base: UnsafeRawPointer, _ offset: Int) -> UInt16 {
  UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}

@inline(__always)
func loadLittle32(_ base: UnsafeRawPointer, _ offset: Int) -> UInt32 {
  UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
}

@inline(__always)
func storeLittle16(_ base: UnsafeMutableRawPointer, _ offset: Int, _ value: UInt16) {
  base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt16.self)
}

@inline(__always)
func storeLittle32(_ base: UnsafeMutableRawPointer, _ offset: Int, _ value: UInt32) {
  base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
}

/// Where a FAT32 volume keeps its structures, from its boot sector. Every
/// number here was checked against the device at mount, so the sector of any
/// cluster in [2, clusterCount + 2) and of any FAT entry lies on the device.
public struct FatGeometry: Sendable {
  public let sectorsPerCluster: UInt32
  public let reservedSectors: UInt32
  public let fatCount: UInt32
  /// Sectors of one FAT copy.
  public let fatSectors: UInt32
  public let totalSectors: UInt32
  /// The first sector of cluster 2.
  public let dataStart: UInt32
  /// Data clusters: valid cluster numbers are 2 ..< clusterCount + 2.
  public let clusterCount: UInt32
  public let rootCluster: UInt32
  /// 0 when the volume has no usable FSInfo sector.
  public let fsInfoSector: UInt32
  /// The FAT read (and, without mirroring, the only one written).
  public let activeFat: UInt32
  public let mirrored: Bool

  public var bytesPerCluster: Int { Int(sectorsPerCluster) * FatBootSector.sectorSize }

  /// The first sector of a valid data cluster.
  func firstSector(of cluster: UInt32) -> UInt64 {
    UInt64(dataStart) + UInt64(cluster - FatEntry.firstDataCluster) * UInt64(sectorsPerCluster)
  }

  /// Whether `cluster` names a data cluster of this volume.
  func isDataCluster(_ cluster: UInt32) -> Bool {
    cluster >= FatEntry.firstDataCluster && cluster - FatEntry.firstDataCluster < clusterCount
  }

  /// Reads the BPB of sector 0: unrecognized for anything but a 512-byte-sector
  /// FAT32 volume, disk corrupt for a FAT32 BPB whose regions do not fit the device.
  static func parse(_ sector: UnsafeRawPointer, deviceSectors: UInt64) throws(Status) -> FatGeometry {
    let bytes = sector.assumingMemoryBound(to: UInt8.self)
    guard bytes[FatBootSector.signature] == 0x55, bytes[FatBootSector.signature + 1] == 0xAA,
      Int(loadLittle16(sector, FatBootSector.bytesPerSector)) == FatBootSector.sectorSize
    else { throw .unrecognizedVolume }
    let perCluster = UInt32(bytes[FatBootSector.sectorsPerCluster])
    let reserved = UInt32(loadLittle16(sector, FatBootSector.reservedSectorCount))
    let fats = UInt32(bytes[FatBootSector.fatCount])
    guard perCluster != 0, perCluster & (perCluster - 1) == 0, reserved != 0, (1...4).contains(fats),
      loadLittle16(sector, FatBootSector.rootEntryCount) == 0, loadLittle16(sector, FatBootSector.fatSize16) == 0,
      loadLittle16(sector, FatBootSector.fileSystemVersion) == 0
    else { throw .unrecognizedVolume }
    let total16 = UInt32(loadLittle16(sector, FatBootSector.totalSectors16))
    let total = total16 != 0 ? total16 : loadLittle32(sector, FatBootSector.totalSectors32)
    let fatSectors = loadLittle32(sector, FatBootSector.fatSize32)
    let metadata = UInt64(reserved) + UInt64(fats) * UInt64(fatSectors)
    guard fatSectors != 0, metadata < UInt64(total) else { throw .unrecognizedVolume }
    let clusters = (UInt64(total) - metadata) / UInt64(perCluster)
    guard clusters >= UInt64(FatEntry.fat16ClusterLimit) else { throw .unrecognizedVolume }
    guard clusters <= UInt64(FatEntry.fat32ClusterLimit), UInt64(total) <= deviceSectors,
      UInt64(fatSectors) * UInt64(FatBootSector.sectorSize / 4) >= clusters + 2
    else { throw .diskCorruptError }
    return try FatGeometry(
      sector, perCluster: perCluster, reserved: reserved, fats: fats, fatSectors: fatSectors, total: total,
      clusters: UInt32(clusters))
  }

  /// The FAT32-only fields, once the regions are known to fit.
  private init(
    _ sector: UnsafeRawPointer, perCluster: UInt32, reserved: UInt32, fats: UInt32, fatSectors: UInt32,
    total: UInt32, clusters: UInt32
  ) throws(Status) {
    sectorsPerCluster = perCluster
    reservedSectors = reserved
    fatCount = fats
    self.fatSectors = fatSectors
    totalSectors = total
    dataStart = reserved + fats * fatSectors
    clusterCount = clusters
    rootCluster = loadLittle32(sector, FatBootSector.rootCluster) & FatEntry.mask
    let info = UInt32(loadLittle16(sector, FatBootSector.fsInfoSector))
    fsInfoSector = info != 0 && info < reserved ? info : 0
    let flags = loadLittle16(sector, FatBootSector.extendedFlags)
    mirrored = flags & FatBootSector.mirroringDisabled == 0
    activeFat = mirrored ? 0 : UInt32(flags & FatBootSector.activeFatMask)
    guard activeFat < fats, isDataCluster(rootCluster) else { throw .diskCorruptError }
  }
}
