/// The on-disk layout of a FAT32 volume, as Microsoft's FAT specification
/// (fatgen103, "FAT: General Overview of On-Disk Format") defines it. The guest's
/// file system (GuestFs) reads and writes these bytes; the host reads disk
/// images with the same offsets. All multi-byte fields are little-endian and
/// most are unaligned, so readers load them byte-wise or with loadUnaligned.
public enum FatBootSector {
  /// The only sector size GuestFs mounts (the virtio-blk driver's sector).
  public static let sectorSize = 512
  /// BPB_BytsPerSec (UInt16).
  public static let bytesPerSector = 11
  /// BPB_SecPerClus (UInt8): a power of two, 1 to 128.
  public static let sectorsPerCluster = 13
  /// BPB_RsvdSecCnt (UInt16): sectors before the first FAT, boot sector included.
  public static let reservedSectorCount = 14
  /// BPB_NumFATs (UInt8): copies of the FAT, normally 2.
  public static let fatCount = 16
  /// BPB_RootEntCnt (UInt16): 0 on FAT32 (its root directory is a cluster chain).
  public static let rootEntryCount = 17
  /// BPB_TotSec16 (UInt16): 0 when the count needs BPB_TotSec32.
  public static let totalSectors16 = 19
  /// BPB_FATSz16 (UInt16): 0 on FAT32.
  public static let fatSize16 = 22
  /// BPB_TotSec32 (UInt32).
  public static let totalSectors32 = 32
  /// BPB_FATSz32 (UInt32): sectors per FAT copy.
  public static let fatSize32 = 36
  /// BPB_ExtFlags (UInt16): bit 7 set means only the FAT in bits 0-3 is active.
  public static let extendedFlags = 40
  /// BPB_FSVer (UInt16): 0 is the only version defined.
  public static let fileSystemVersion = 42
  /// BPB_RootClus (UInt32): the root directory's first cluster.
  public static let rootCluster = 44
  /// BPB_FSInfo (UInt16): sector number of the FSInfo structure.
  public static let fsInfoSector = 48
  /// Offset of the 0x55 0xAA boot signature.
  public static let signature = 510

  /// ExtFlags bit 7: FAT mirroring is off.
  public static let mirroringDisabled: UInt16 = 0x0080
  /// ExtFlags bits 0-3: the active FAT when mirroring is off.
  public static let activeFatMask: UInt16 = 0x000F
}

/// The FSInfo sector: a hint of the free cluster count and where to look for
/// the next free cluster, both advisory (0xFFFFFFFF means unknown).
public enum FatFSInfo {
  public static let leadSignatureOffset = 0
  public static let leadSignature: UInt32 = 0x4161_5252
  public static let structSignatureOffset = 484
  public static let structSignature: UInt32 = 0x6141_7272
  /// FSI_Free_Count (UInt32).
  public static let freeCount = 488
  /// FSI_Nxt_Free (UInt32).
  public static let nextFree = 492
  public static let trailSignatureOffset = 508
  public static let trailSignature: UInt32 = 0xAA55_0000
  public static let unknown: UInt32 = 0xFFFF_FFFF
}

/// FAT32 entries: 28 bits of cluster number; the top 4 bits are reserved
/// and kept as found when an entry is rewritten.
public enum FatEntry {
  public static let mask: UInt32 = 0x0FFF_FFFF
  public static let free: UInt32 = 0
  /// The first cluster of the data region (entries 0 and 1 are reserved).
  public static let firstDataCluster: UInt32 = 2
  /// A cluster the medium cannot hold data in.
  public static let bad: UInt32 = 0x0FFF_FFF7
  /// Any value at or above this ends a chain.
  public static let endOfChainMinimum: UInt32 = 0x0FFF_FFF8
  /// The end-of-chain value written.
  public static let endOfChain: UInt32 = 0x0FFF_FFFF
  /// Cluster counts below these are FAT12 and FAT16 (the spec's only test of the type).
  public static let fat12ClusterLimit: UInt32 = 4085
  public static let fat16ClusterLimit: UInt32 = 65525
  /// The most clusters a FAT32 volume can have (numbers up to 0x0FFFFFF6).
  public static let fat32ClusterLimit: UInt32 = 0x0FFF_FFF5
}

/// A 32-byte short (8.3) directory entry.
public enum FatDirectoryEntry {
  public static let size = 32
  /// DIR_Name: 8 bytes of base name, 3 of extension, space padded.
  public static let name = 0
  public static let nameLength = 11
  /// DIR_Attr (UInt8).
  public static let attributes = 11
  /// DIR_NTRes (UInt8): Windows NT keeps the case of an 8.3 name here.
  public static let caseFlags = 12
  public static let creationTimeTenths = 13
  public static let creationTime = 14
  public static let creationDate = 16
  public static let lastAccessDate = 18
  /// DIR_FstClusHI (UInt16).
  public static let firstClusterHigh = 20
  public static let writeTime = 22
  public static let writeDate = 24
  /// DIR_FstClusLO (UInt16).
  public static let firstClusterLow = 26
  /// DIR_FileSize (UInt32): 0 for directories.
  public static let fileSize = 28

  /// Name[0] of a deleted entry.
  public static let freeMarker: UInt8 = 0xE5
  /// Name[0] of the first never-used entry: it and all after it are free.
  public static let endMarker: UInt8 = 0x00
  /// Name[0] standing for a real first byte of 0xE5 (a KANJI lead byte).
  public static let escapedFreeMarker: UInt8 = 0x05
  /// The most entries a directory may hold (2 MiB of entries).
  public static let maximumEntries = 65536

  /// DIR_NTRes bits: the base name, and the extension, are lowercase.
  public static let lowercaseBase: UInt8 = 0x08
  public static let lowercaseExtension: UInt8 = 0x10
}

/// DIR_Attr bits.
public enum FatAttribute {
  public static let readOnly: UInt8 = 0x01
  public static let hidden: UInt8 = 0x02
  public static let system: UInt8 = 0x04
  public static let volumeID: UInt8 = 0x08
  public static let directory: UInt8 = 0x10
  public static let archive: UInt8 = 0x20
  /// The attribute value that marks a long-name entry.
  public static let longName: UInt8 = 0x0F
  /// The bits compared with `longName`.
  public static let longNameMask: UInt8 = 0x3F
}

/// A VFAT long-name entry: 13 UTF-16 units of the name, in entries stored
/// last part first just before the short entry they belong to.
public enum FatLongNameEntry {
  /// LDIR_Ord (UInt8): the part's number from 1, `lastPart` set on the last.
  public static let order = 0
  public static let lastPart: UInt8 = 0x40
  /// LDIR_Name1: units 1-5.
  public static let name1 = 1
  /// LDIR_Type (UInt8): 0 for name parts.
  public static let type = 12
  /// LDIR_Chksum (UInt8): the checksum of the short name it belongs to.
  public static let checksum = 13
  /// LDIR_Name2: units 6-11.
  public static let name2 = 14
  /// LDIR_FstClusLO: always 0.
  public static let firstClusterLow = 26
  /// LDIR_Name3: units 12-13.
  public static let name3 = 28
  public static let unitsPerEntry = 13
  /// 255 units at most, so 20 entries.
  public static let maximumUnits = 255
  public static let maximumEntries = 20
  /// The unit after the last one of a name that does not fill its entry, then padding.
  public static let terminator: UInt16 = 0x0000
  public static let padding: UInt16 = 0xFFFF
}
