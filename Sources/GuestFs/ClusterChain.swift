#if canImport(GuestABI)
  import GuestABI
#endif
#if canImport(GuestMm)
  import GuestMm
#endif

/// Walks of cluster chains. The FAT is hostile input: a link must name a data
/// cluster or end the chain, and no walk takes more steps than the volume has
/// clusters, so a loop ends as STATUS_FILE_CORRUPT_ERROR instead of a hang.
extension FileAllocationTable {
  /// The cluster after `cluster`, or nil where the chain ends. A free, bad or
  /// out-of-range link is corruption of the file the chain belongs to.
  func successor<Device: BlockDevice>(of cluster: UInt32, _ device: inout Device) throws(Status) -> UInt32? {
    let next = try entry(cluster, &device)
    if next >= FatEntry.endOfChainMinimum { return nil }
    guard geometry.isDataCluster(next) else { throw .fileCorruptError }
    return next
  }

  /// The clusters of the chain starting at the data cluster `first`.
  func chainLength<Device: BlockDevice>(from first: UInt32, _ device: inout Device) throws(Status) -> UInt32 {
    guard geometry.isDataCluster(first) else { throw .fileCorruptError }
    var length: UInt32 = 1
    var cluster = first
    while let next = try successor(of: cluster, &device) {
      guard length < geometry.clusterCount else { throw .fileCorruptError }
      length += 1
      cluster = next
    }
    return length
  }

  /// The cluster `steps` links after `cluster`; a chain ending sooner is corrupt.
  func advance<Device: BlockDevice>(from cluster: UInt32, steps: UInt32, _ device: inout Device) throws(Status)
    -> UInt32
  {
    guard steps < geometry.clusterCount else { throw .fileCorruptError }
    var current = cluster
    for _ in 0..<steps {
      guard let next = try successor(of: current, &device) else { throw .fileCorruptError }
      current = next
    }
    return current
  }

  /// Frees the chain from `first` to its end. The chain is measured first, so a
  /// damaged chain is reported before any entry changes.
  func freeChain<Device: BlockDevice>(from first: UInt32, _ device: inout Device) throws(Status) {
    let length = try chainLength(from: first, &device)
    var cluster = first
    for _ in 0..<length {
      let next = try successor(of: cluster, &device)
      try setEntry(cluster, FatEntry.free, &device)
      guard let next else { return }
      cluster = next
    }
  }

  /// The last cluster of the chain from `first` (`length` clusters long, as measured).
  func lastCluster<Device: BlockDevice>(from first: UInt32, length: UInt32, _ device: inout Device) throws(Status)
    -> UInt32
  {
    try advance(from: first, steps: length - 1, &device)
  }
}

/// Where sequential I/O on one file last was in its chain, so the next
/// transfer continues from there instead of walking from the first cluster.
public struct ChainCursor: Sendable {
  /// Index of `cluster` in the chain (valid when `cluster` != 0).
  var index: UInt32 = 0
  var cluster: UInt32 = 0
}

extension FileAllocationTable {
  /// The cluster at `index` of the chain from `first` (which has more than
  /// `index` clusters), moving `cursor` there.
  func cluster<Device: BlockDevice>(
    at index: UInt32, from first: UInt32, cursor: inout ChainCursor, _ device: inout Device
  ) throws(Status) -> UInt32 {
    let resume = cursor.cluster != 0 && cursor.index <= index
    let start = resume ? cursor.cluster : first
    let found = try advance(from: start, steps: index - (resume ? cursor.index : 0), &device)
    cursor = ChainCursor(index: index, cluster: found)
    return found
  }
}
