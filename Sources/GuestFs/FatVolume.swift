#if canImport(GuestABI)
  import GuestABI
#endif
#if canImport(GuestMm)
  import GuestMm
#endif

/// A mounted FAT32 volume over a block device. Calls fail with the NT status
/// NtCreateFile, NtReadFile, NtWriteFile, NtSetInformationFile and
/// NtQueryDirectoryFile would return; a failing device's status passes through.
/// The volume is not reentrant: the NT layer serializes calls on it.
public final class FatVolume<Device: BlockDevice> {
  public internal(set) var device: Device
  public let geometry: FatGeometry
  let table: FileAllocationTable
  /// A sector for directory slots, FSInfo and the boot sector.
  let directorySector: UnsafeMutableRawPointer
  /// A sector for the unaligned ends of file transfers.
  let bounce: UnsafeMutableRawPointer
  /// One cluster of zeros, for new directory clusters and zeroing beyond the valid data.
  let zeros: UnsafeMutableRawPointer

  private init(device: Device, geometry: FatGeometry, sector: UnsafeMutableRawPointer) {
    self.device = device
    self.geometry = geometry
    table = FileAllocationTable(geometry: geometry)
    directorySector = sector
    bounce = UnsafeMutableRawPointer.allocate(byteCount: FatBootSector.sectorSize, alignment: 16)
    zeros = UnsafeMutableRawPointer.allocate(byteCount: geometry.bytesPerCluster, alignment: 16)
    zeros.initializeMemory(as: UInt8.self, repeating: 0, count: geometry.bytesPerCluster)
  }

  deinit {
    directorySector.deallocate()
    bounce.deallocate()
    zeros.deallocate()
  }

  /// Mounts the FAT32 volume on `device`: STATUS_UNRECOGNIZED_VOLUME when it
  /// holds none, STATUS_DISK_CORRUPT_ERROR when its boot sector does not fit it.
  public static func mount(_ device: Device) throws(Status) -> FatVolume {
    var device = device
    guard device.sectorCount > 0 else { throw .unrecognizedVolume }
    let sector = UnsafeMutableRawPointer.allocate(byteCount: FatBootSector.sectorSize, alignment: 16)
    let read = device.read(sector: 0, count: 1, into: sector)
    var geometry: FatGeometry
    do throws(Status) {
      try check(read)
      geometry = try FatGeometry.parse(sector, deviceSectors: device.sectorCount)
    } catch {
      sector.deallocate()
      throw error
    }
    let volume = FatVolume(device: device, geometry: geometry, sector: sector)
    try volume.table.loadFSInfo(&volume.device, sector: volume.directorySector)
    do throws(Status) {
      _ = try volume.table.chainLength(from: geometry.rootCluster, &volume.device)
    } catch {
      // A root that cannot be walked is damage to the volume, not to one file.
      throw error == .fileCorruptError ? .diskCorruptError : error
    }
    return volume
  }

  /// Writes the FAT and FSInfo and flushes the device (NtFlushBuffersFile, and dismount).
  public func flush() throws(Status) {
    try table.writeBack(&device)
    try table.storeFSInfo(&device, sector: directorySector)
    try check(device.flush())
  }

  /// Free clusters, as FSInfo will say.
  public var freeClusters: UInt32 { table.freeCount }

  /// FSInfo's next-free hint as it will be written.
  public var nextFreeHint: UInt32 { table.nextFreeHint }

  /// The root directory.
  public func root() throws(Status) -> FatFile {
    FatFile(root: geometry.rootCluster, clusters: try table.chainLength(from: geometry.rootCluster, &device))
  }

  /// The device sector and byte offset of a directory slot.
  public func location(of position: DirectoryPosition) -> (sector: UInt64, offset: Int) {
    let byte = Int(position.index) * FatDirectoryEntry.size
    return (
      geometry.firstSector(of: position.cluster) + UInt64(byte / FatBootSector.sectorSize),
      byte % FatBootSector.sectorSize
    )
  }

  /// Writes zeros over a whole cluster.
  func zeroCluster(_ cluster: UInt32) throws(Status) {
    try check(
      device.write(sector: geometry.firstSector(of: cluster), count: Int(geometry.sectorsPerCluster), from: zeros))
  }

  /// Ends a changing call: FAT changes go to the disk even when the call failed halfway.
  func finish<Result>(_ body: () throws(Status) -> Result) throws(Status) -> Result {
    do throws(Status) {
      let result = try body()
      try table.writeBack(&device)
      return result
    } catch {
      try? table.writeBack(&device)
      throw error
    }
  }
}
