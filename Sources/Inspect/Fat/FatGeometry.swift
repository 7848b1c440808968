import GuestABI

/// Where a FAT32 volume's parts are, from its boot sector, checked against the
/// image that holds it: 512-byte sectors, a power-of-two cluster, FATs and a
/// data region inside the image, a cluster count in FAT32's range.
public struct FatGeometry: Sendable, Equatable {
  public var sectorsPerCluster: UInt32
  public var reservedSectors: UInt32
  public var fatCount: UInt32
  public var fatSectors: UInt32
  public var totalSectors: UInt32
  public var rootCluster: UInt32
  public var fsInfoSector: UInt32
  /// The FAT the volume uses (0 unless mirroring is off).
  public var activeFat: UInt32
  public var clusterCount: UInt32

  public var clusterBytes: UInt32 { sectorsPerCluster * 512 }
  var dataStartSector: UInt32 { reservedSectors + fatCount * fatSectors }

  init(bootSector b: [UInt8], imageBytes: UInt64) throws(FatImageError) {
    func u16(_ at: Int) -> UInt32 { UInt32(b[at]) | UInt32(b[at + 1]) << 8 }
    func u32(_ at: Int) -> UInt32 { u16(at) | u16(at + 2) << 16 }
    guard b[FatBootSector.signature] == 0x55, b[FatBootSector.signature + 1] == 0xAA else {
      throw .notFAT32("no 0x55AA boot signature")
    }
    guard u16(FatBootSector.bytesPerSector) == 512 else {
      throw .notFAT32("\(u16(FatBootSector.bytesPerSector)) bytes per sector (mmlab reads 512)")
    }
    sectorsPerCluster = UInt32(b[FatBootSector.sectorsPerCluster])
    guard sectorsPerCluster > 0, sectorsPerCluster & (sectorsPerCluster - 1) == 0 else {
      throw .notFAT32("\(sectorsPerCluster) sectors per cluster is not a power of two")
    }
    reservedSectors = u16(FatBootSector.reservedSectorCount)
    fatCount = UInt32(b[FatBootSector.fatCount])
    fatSectors = u32(FatBootSector.fatSize32)
    totalSectors =
      u16(FatBootSector.totalSectors16) != 0 ? u16(FatBootSector.totalSectors16) : u32(FatBootSector.totalSectors32)
    guard u16(FatBootSector.fatSize16) == 0, u16(FatBootSector.rootEntryCount) == 0, fatSectors > 0 else {
      throw .notFAT32("the BPB describes FAT12/16 (a fixed root directory or a 16-bit FAT size)")
    }
    guard reservedSectors > 0, fatCount > 0, fatCount <= 4 else {
      throw .notFAT32("\(reservedSectors) reserved sectors and \(fatCount) FATs")
    }
    let data = UInt64(reservedSectors) + UInt64(fatCount) * UInt64(fatSectors)
    guard data < UInt64(totalSectors), UInt64(totalSectors) * 512 <= imageBytes else {
      throw .notFAT32("its \(totalSectors) sectors (FATs and data) do not fit the image's \(imageBytes) bytes")
    }
    clusterCount = UInt32((UInt64(totalSectors) - data) / UInt64(sectorsPerCluster))
    guard clusterCount >= FatEntry.fat16ClusterLimit, clusterCount <= FatEntry.fat32ClusterLimit else {
      throw .notFAT32("\(clusterCount) clusters is not in FAT32's range")
    }
    guard UInt64(clusterCount) + 2 <= UInt64(fatSectors) * 128 else {
      throw .notFAT32("a FAT of \(fatSectors) sectors cannot hold \(clusterCount) clusters")
    }
    rootCluster = u32(FatBootSector.rootCluster)
    fsInfoSector = u16(FatBootSector.fsInfoSector)
    let flags = u16(FatBootSector.extendedFlags)
    activeFat = flags & UInt32(FatBootSector.mirroringDisabled) != 0 ? flags & UInt32(FatBootSector.activeFatMask) : 0
    guard activeFat < fatCount else { throw .notFAT32("the active FAT \(activeFat) is not one of its \(fatCount)") }
  }

  func isDataCluster(_ cluster: UInt32) -> Bool {
    cluster >= FatEntry.firstDataCluster && cluster < clusterCount + FatEntry.firstDataCluster
  }
  public func fatOffset(copy: UInt32) -> UInt64 { (UInt64(reservedSectors) + UInt64(copy) * UInt64(fatSectors)) * 512 }
  /// Byte offset of a data cluster (checked by the caller with `isDataCluster`).
  func clusterOffset(_ cluster: UInt32) -> UInt64 {
    (UInt64(dataStartSector) + UInt64(cluster - 2) * UInt64(sectorsPerCluster)) * 512
  }
}
