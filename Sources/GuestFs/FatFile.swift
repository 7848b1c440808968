#if canImport(GuestABI)
  import GuestABI
#endif
#if canImport(GuestMm)
  import GuestMm
#endif

/// An open file or directory: what NT keeps in a file control block. The NT
/// layer keeps one per file and shares it between the handles that open it,
/// since the valid data length and the chain cursor live here (FAT has no
/// field for the valid data length, so it exists only while the file is open).
public struct FatFile: Sendable {
  public let isDirectory: Bool
  public internal(set) var attributes: UInt8
  /// 0 for an empty file; the root directory's cluster for the root.
  public internal(set) var firstCluster: UInt32
  /// End of file in bytes (0 for directories, whose size is their chain).
  public internal(set) var size: UInt64
  /// NT's ValidDataLength: bytes from here to the end of file read as zeros
  /// and are zeroed on the disk before a write beyond them, or at close.
  public internal(set) var validDataLength: UInt64
  /// The short entry's slot, and the first slot of its long name; nil for the root.
  public let entry: DirectoryPosition?
  let firstEntry: DirectoryPosition
  let entrySlots: UInt32
  /// The first cluster of the directory holding the entry (the root's for the root).
  public let parentCluster: UInt32
  /// Clusters in the chain (the allocation size is this many clusters).
  public internal(set) var allocatedClusters: UInt32
  var cursor = ChainCursor()

  /// The root directory of a volume.
  init(root cluster: UInt32, clusters: UInt32) {
    isDirectory = true
    attributes = FatAttribute.directory
    firstCluster = cluster
    size = 0
    validDataLength = 0
    entry = nil
    firstEntry = DirectoryPosition(cluster: cluster, index: 0)
    entrySlots = 0
    parentCluster = cluster
    allocatedClusters = clusters
  }

  /// The file a directory record names, its chain already measured.
  init(_ record: DirectoryRecord, parent: UInt32, clusters: UInt32) {
    isDirectory = record.isDirectory
    attributes = record.attributes
    firstCluster = record.firstCluster
    size = isDirectory ? 0 : UInt64(record.size)
    validDataLength = size
    entry = record.position
    firstEntry = record.firstPosition
    entrySlots = record.slotCount
    parentCluster = parent
    allocatedClusters = clusters
  }

  public var isRoot: Bool { entry == nil }
}

/// What a directory enumeration returns for one entry (NtQueryDirectoryFile's
/// FileDirectoryInformation and FileNamesInformation are built from these).
public struct DirectoryEntryInfo: Sendable {
  /// The long name, or the 8.3 name where there is none (UTF-16 units).
  public let name: [UInt16]
  /// The 8.3 name as "BASE.EXT" (NT's ShortName), in its stored case.
  public let shortName: [UInt16]
  public let isDirectory: Bool
  public let attributes: UInt8
  public let size: UInt32
  public let firstCluster: UInt32

  init(_ record: DirectoryRecord) {
    name = record.displayName
    shortName = ShortName.display(record.shortName, caseFlags: 0)
    isDirectory = record.isDirectory
    attributes = record.attributes
    size = record.isDirectory ? 0 : record.size
    firstCluster = record.firstCluster
  }
}

/// Where an enumeration of one directory stands (NT keeps one in each directory handle).
public struct DirectoryCursor: Sendable {
  /// The short entry last returned; nil before the first.
  var last: DirectoryPosition?

  public init() {}
}

/// The largest file FAT can describe (DIR_FileSize is 32 bits).
public let fatMaximumFileSize: UInt64 = 0xFFFF_FFFF
