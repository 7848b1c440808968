import GuestABI

/// What the host's FAT reader knows of one file, found by its first cluster (how a
/// control area names its file): the clusters its chain reaches on the volume as it
/// is now. A guest whose FAT cache is not flushed yet may have clusters the volume does
/// not show, so the chain is read leniently: it stops, without failing, at the end
/// mark, a free, bad or out-of-range cluster, a loop, or once it covers `size` bytes.
public struct FatFileExtent: Sendable {
  public let firstCluster: UInt32
  /// The file's size as the caller knows it (the control area's fileSize).
  public let size: UInt64
  /// The clusters found, in file order.
  public let clusters: [UInt32]
  public let clusterBytes: UInt64

  /// Bytes of the file the chain covers (never more than `size`).
  public var coveredBytes: UInt64 { min(size, UInt64(clusters.count) * clusterBytes) }
}

extension FatImage {
  /// The extent of the file whose chain starts at `firstCluster` (see `FatFileExtent`);
  /// bounded by the volume's cluster count and by `size`.
  public func extent(firstCluster: UInt32, size: UInt64) -> FatFileExtent {
    let clusterBytes = UInt64(geometry.clusterBytes)
    let wanted = min((size + clusterBytes - 1) / clusterBytes, UInt64(geometry.clusterCount))
    var clusters: [UInt32] = []
    var seen = Set<UInt32>()
    var cluster = firstCluster
    while UInt64(clusters.count) < wanted, geometry.isDataCluster(cluster), seen.insert(cluster).inserted {
      clusters.append(cluster)
      guard let next = try? fatEntry(cluster), next != FatEntry.free, next != FatEntry.bad,
        next < FatEntry.endOfChainMinimum
      else { break }
      cluster = next
    }
    return FatFileExtent(firstCluster: firstCluster, size: size, clusters: clusters, clusterBytes: clusterBytes)
  }

  /// The file's bytes `[offset, offset + count)` that `extent` covers: fewer than
  /// `count` (maybe none) where the chain or the file ends first; nil if the image
  /// cannot be read there.
  public func read(_ extent: FatFileExtent, offset: UInt64, count: Int) -> [UInt8]? {
    let end = min(offset + UInt64(count), extent.coveredBytes)
    guard offset < end else { return [] }
    var data: [UInt8] = []
    data.reserveCapacity(Int(end - offset))
    var position = offset
    while position < end {
      let index = Int(position / extent.clusterBytes)
      let within = position % extent.clusterBytes
      let take = min(extent.clusterBytes - within, end - position)
      guard let bytes = try? bytes(at: geometry.clusterOffset(extent.clusters[index]) + within, count: Int(take))
      else { return nil }
      data += bytes
      position += take
    }
    return data
  }

  /// The path of the file or directory whose chain starts at `firstCluster`
  /// ("/DIR/NAME"), by a bounded walk of the directory tree (at most `directoryLimit`
  /// directories, each read once); nil when none is found or the tree cannot be read.
  public func path(ofFirstCluster firstCluster: UInt32, directoryLimit: Int = 4096) -> String? {
    guard firstCluster >= FatEntry.firstDataCluster else { return nil }
    var queue: [(cluster: UInt32, path: String)] = [(geometry.rootCluster, "")]
    var visited: Set<UInt32> = [geometry.rootCluster]
    var index = 0
    while index < queue.count, index < directoryLimit {
      let (cluster, path) = queue[index]
      index += 1
      guard let entries = try? entries(of: cluster, path: path.isEmpty ? "/" : path) else { continue }
      for entry in entries where entry.name != "." && entry.name != ".." {
        let entryPath = path + "/" + entry.name
        if entry.firstCluster == firstCluster { return entryPath }
        if entry.isDirectory, entry.firstCluster >= FatEntry.firstDataCluster,
          visited.insert(entry.firstCluster).inserted
        {
          queue.append((entry.firstCluster, entryPath))
        }
      }
    }
    return nil
  }
}
