import GuestABI
import Machine

#if canImport(Glibc)
  import Glibc
#endif

/// Why a FAT volume (or a path on it) cannot be read, in the user's terms.
public enum FatImageError: Error, Equatable, CustomStringConvertible {
  case cannotOpen(String)
  /// Making an image failed (a tool's words, or a size that cannot work).
  case build(String)
  case notFAT32(String)
  case corrupt(String)
  case notFound(String)
  case notADirectory(String)
  case isADirectory(String)
  case tooLarge(path: String, size: UInt64, limit: UInt64)

  public var description: String {
    switch self {
    case .cannotOpen(let why): why
    case .build(let why): why
    case .notFAT32(let why): "not a FAT32 volume: \(why)"
    case .corrupt(let why): "the volume is damaged: \(why)"
    case .notFound(let path): "\(path): no such file or directory on the volume"
    case .notADirectory(let path): "\(path) is a file, not a directory"
    case .isADirectory(let path): "\(path) is a directory, not a file"
    case .tooLarge(let path, let size, let limit): "\(path) holds \(size) bytes, more than the \(limit) read at once"
    }
  }
}

/// One directory entry as the host reads it.
public struct FatImageEntry: Sendable, Equatable {
  /// The long name where a valid one precedes the short entry, else the 8.3 name.
  public var name: String
  /// The 8.3 name as "NAME.EXT".
  public var shortName: String
  public var isDirectory: Bool
  public var size: UInt32
  public var firstCluster: UInt32
  public var attributes: UInt8
}

/// A FAT32 volume in a disk image, read by the host on its own (independently
/// of the guest's GuestFs), for validators and `mmlab image ls/cat`. Every
/// number read from the image is hostile: cluster numbers are checked against
/// the volume, every chain walk is bounded by the cluster count, and a chain
/// must cover the size its entry claims.
public final class FatImage {
  public let path: String
  let descriptor: Int32
  public let geometry: FatGeometry

  public init(path: String) throws(FatImageError) {
    let opened: (descriptor: Int32, size: Int)
    do { opened = try InputFile.open(path) } catch { throw .cannotOpen("disk image \(error)") }
    self.path = path
    descriptor = opened.descriptor
    var sector = [UInt8](repeating: 0, count: FatBootSector.sectorSize)
    guard Self.pread(opened.descriptor, &sector, at: 0) else {
      close(opened.descriptor)
      throw .notFAT32("\(path) is shorter than a boot sector")
    }
    do {
      geometry = try FatGeometry(bootSector: sector, imageBytes: UInt64(opened.size))
    } catch {
      close(opened.descriptor)
      throw error
    }
  }

  deinit { close(descriptor) }

  static func pread(_ descriptor: Int32, _ buffer: inout [UInt8], at offset: UInt64) -> Bool {
    let count = buffer.count
    let done = buffer.withUnsafeMutableBytes { Glibc.pread(descriptor, $0.baseAddress, count, off_t(offset)) }
    return done == count
  }

  /// `count` bytes at byte `offset` of the image, which must hold them.
  func bytes(at offset: UInt64, count: Int) throws(FatImageError) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: count)
    guard Self.pread(descriptor, &buffer, at: offset) else {
      throw .corrupt("the image ends before byte \(offset + UInt64(count)) that the volume needs")
    }
    return buffer
  }

  // MARK: The FAT

  /// FAT entry `cluster` of the first (active) FAT, its reserved top bits masked.
  func fatEntry(_ cluster: UInt32) throws(FatImageError) -> UInt32 {
    let offset = geometry.fatOffset(copy: geometry.activeFat) + UInt64(cluster) * 4
    let raw = try bytes(at: offset, count: 4)
    return (UInt32(raw[0]) | UInt32(raw[1]) << 8 | UInt32(raw[2]) << 16 | UInt32(raw[3]) << 24) & FatEntry.mask
  }

  /// The clusters of the chain from `first`, bounded: a loop, a free or bad
  /// cluster, or a number outside the volume is damage.
  public func chain(from first: UInt32, what: String) throws(FatImageError) -> [UInt32] {
    var clusters: [UInt32] = []
    var cluster = first
    while true {
      guard geometry.isDataCluster(cluster) else {
        throw .corrupt("\(what): cluster \(cluster) is outside the volume's \(geometry.clusterCount) clusters")
      }
      guard clusters.count < Int(geometry.clusterCount) else { throw .corrupt("\(what): its cluster chain loops") }
      clusters.append(cluster)
      let next = try fatEntry(cluster)
      if next >= FatEntry.endOfChainMinimum { return clusters }
      guard next != FatEntry.free, next != FatEntry.bad else {
        throw .corrupt("\(what): its chain reaches a \(next == 0 ? "free" : "bad") cluster after cluster \(cluster)")
      }
      cluster = next
    }
  }

  /// The number of free clusters in the FAT (the truth FSInfo's count must match).
  public func freeClusterCount() throws(FatImageError) -> UInt32 {
    let fat = try bytes(at: geometry.fatOffset(copy: geometry.activeFat), count: Int(geometry.clusterCount + 2) * 4)
    var free: UInt32 = 0
    for cluster in 2..<Int(geometry.clusterCount + 2) {
      let at = cluster * 4
      let entry = (UInt32(fat[at]) | UInt32(fat[at + 1]) << 8 | UInt32(fat[at + 2]) << 16 | UInt32(fat[at + 3]) << 24)
      if entry & FatEntry.mask == FatEntry.free { free += 1 }
    }
    return free
  }

  /// FSInfo's free count and next-free hint (0xFFFFFFFF: unknown).
  public func fsInfo() throws(FatImageError) -> (freeCount: UInt32, nextFree: UInt32) {
    let sector = try bytes(at: UInt64(geometry.fsInfoSector) * 512, count: 512)
    func word(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(sector[at + $1]) << (8 * $1) } }
    guard word(FatFSInfo.leadSignatureOffset) == FatFSInfo.leadSignature,
      word(FatFSInfo.structSignatureOffset) == FatFSInfo.structSignature
    else { throw .corrupt("the FSInfo sector \(geometry.fsInfoSector) has no FSInfo signatures") }
    return (word(FatFSInfo.freeCount), word(FatFSInfo.nextFree))
  }

  // MARK: Files

  /// The bytes of the file's clusters, `size` of them: the chain must cover the size.
  func contents(of entry: FatImageEntry, path: String) throws(FatImageError) -> [UInt8] {
    guard entry.size > 0 else { return [] }
    let clusters = try chain(from: entry.firstCluster, what: path)
    let clusterBytes = UInt64(geometry.clusterBytes)
    guard UInt64(clusters.count) * clusterBytes >= UInt64(entry.size) else {
      throw .corrupt("\(path): its chain of \(clusters.count) clusters is shorter than its \(entry.size) bytes")
    }
    var data: [UInt8] = []
    data.reserveCapacity(Int(entry.size))
    var left = Int(entry.size)
    for run in Self.runs(clusters) where left > 0 {
      let count = min(left, run.count * Int(clusterBytes))
      data += try bytes(at: geometry.clusterOffset(run.first), count: count)
      left -= count
    }
    return data
  }

  /// Consecutive clusters merged, so a contiguous file is one read.
  static func runs(_ clusters: [UInt32]) -> [(first: UInt32, count: Int)] {
    var runs: [(first: UInt32, count: Int)] = []
    for cluster in clusters {
      if let last = runs.last, last.first + UInt32(last.count) == cluster {
        runs[runs.count - 1].count += 1
      } else {
        runs.append((cluster, 1))
      }
    }
    return runs
  }
}
