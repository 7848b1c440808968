import Foundation
import GuestABI
import Inspect

/// A minimal FAT32 volume written by hand (no mkfs.fat): 512-byte sectors and
/// clusters, one FAT, FAT32's smallest cluster count, a sparse file of about 34 MB.
/// The root directory (cluster 2) holds one file, `/DATA.BIN`, whose chain starts
/// at cluster 3 and runs on consecutively.
final class TinyFatVolume {
  static let reservedSectors: UInt32 = 32
  static let clusterCount: UInt32 = FatEntry.fat16ClusterLimit + 11
  static let fatSectors: UInt32 = (clusterCount + 2 + 127) / 128
  static let totalSectors: UInt32 = reservedSectors + fatSectors + clusterCount
  static let fileFirstCluster: UInt32 = 3
  static let clusterBytes = 512

  let path: String
  let content: [UInt8]

  /// The volume with `content` as `/DATA.BIN`; `chainClusters` (default: all the file
  /// needs) limits how many of its clusters the FAT links, as an unflushed FAT would.
  init(content: [UInt8], chainClusters: Int? = nil) throws {
    self.content = content
    path = NSTemporaryDirectory() + "mmlab-tinyfat-\(UUID().uuidString).img"
    guard FileManager.default.createFile(atPath: path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.truncate(atOffset: UInt64(Self.totalSectors) * 512)

    var boot = [UInt8](repeating: 0, count: 512)
    func put16(_ value: UInt32, _ at: Int) {
      for i in 0..<2 { boot[at + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }
    func put32(_ value: UInt32, _ at: Int) {
      for i in 0..<4 { boot[at + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }
    boot[0] = 0xEB
    put16(512, FatBootSector.bytesPerSector)
    boot[FatBootSector.sectorsPerCluster] = 1
    put16(Self.reservedSectors, FatBootSector.reservedSectorCount)
    boot[FatBootSector.fatCount] = 1
    put32(Self.totalSectors, FatBootSector.totalSectors32)
    put32(Self.fatSectors, FatBootSector.fatSize32)
    put32(2, FatBootSector.rootCluster)
    put16(1, FatBootSector.fsInfoSector)
    boot[FatBootSector.signature] = 0x55
    boot[FatBootSector.signature + 1] = 0xAA
    try write(handle, boot, at: 0)

    let fileClusters = (content.count + Self.clusterBytes - 1) / Self.clusterBytes
    let linked = min(chainClusters ?? fileClusters, fileClusters)
    var fat = [UInt32](repeating: 0, count: 2 + 1 + fileClusters)
    fat[0] = 0x0FFF_FFF8
    fat[1] = FatEntry.endOfChain
    fat[2] = FatEntry.endOfChain  // the root directory: one cluster
    for index in 0..<linked {
      let cluster = Int(Self.fileFirstCluster) + index
      fat[cluster] = index + 1 == linked ? FatEntry.endOfChain : UInt32(cluster + 1)
    }
    try write(
      handle, fat.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } },
      at: 512 * UInt64(Self.reservedSectors))

    var entry = [UInt8](repeating: 0, count: FatDirectoryEntry.size)
    for (index, byte) in Array("DATA    BIN".utf8).enumerated() { entry[index] = byte }
    entry[FatDirectoryEntry.attributes] = FatAttribute.archive
    entry[FatDirectoryEntry.firstClusterLow] = UInt8(Self.fileFirstCluster)
    for i in 0..<4 { entry[FatDirectoryEntry.fileSize + i] = UInt8(truncatingIfNeeded: content.count >> (8 * i)) }
    try write(handle, entry, at: Self.clusterOffset(2))
    try write(handle, content, at: Self.clusterOffset(Self.fileFirstCluster))
  }

  deinit { unlink(path) }

  static func clusterOffset(_ cluster: UInt32) -> UInt64 {
    UInt64(reservedSectors + fatSectors + cluster - 2) * 512
  }

  /// Overwrites one byte of the file as stored on the volume.
  func patchFile(at offset: Int, _ value: UInt8) throws {
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try write(handle, [value], at: Self.clusterOffset(Self.fileFirstCluster) + UInt64(offset))
  }

  func open() throws -> FatImage { try FatImage(path: path) }

  private func write(_ handle: FileHandle, _ bytes: [UInt8], at offset: UInt64) throws {
    try handle.seek(toOffset: offset)
    try handle.write(contentsOf: Data(bytes))
  }
}
