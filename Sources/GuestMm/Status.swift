#if canImport(GuestABI)
  import GuestABI
#endif

/// NT status codes the memory manager and the file system return (values as NT
/// defines them). An Error too, so GuestFs can pass them up with typed throws.
public enum Status: UInt32, Sendable, Error {
  case success = 0
  /// A guard page was touched: the access fails once and the page loses its guard.
  case guardPageViolation = 0x8000_0001
  /// An enumeration of a directory has returned every entry.
  case noMoreFiles = 0x8000_0006
  /// The Mm cannot yet do what Windows does for this request (NT's STATUS_NOT_IMPLEMENTED).
  case notImplemented = 0xC000_0002
  /// NtQueryVirtualMemory: no such MemoryInformationClass.
  case invalidInfoClass = 0xC000_0003
  case accessViolation = 0xC000_0005
  case invalidParameter = 0xC000_000D
  /// A read starts at or after the end of the file.
  case endOfFile = 0xC000_0011
  case noMemory = 0xC000_0017
  case conflictingAddresses = 0xC000_0018
  /// A decommit or release ran past the end of its VAD (NT's STATUS_UNABLE_TO_FREE_VM).
  case unableToFreeVm = 0xC000_001A
  /// NtFreeVirtualMemory on a mapped view (views go with NtUnmapViewOfSection).
  case unableToDeleteSection = 0xC000_001B
  case notCommitted = 0xC000_002D
  /// The volume's own structures (boot sector, FAT, FSInfo) are inconsistent.
  case diskCorruptError = 0xC000_0032
  /// A path component is empty, too long or holds a character FAT names cannot.
  case objectNameInvalid = 0xC000_0033
  /// The last component of a path names nothing in its directory.
  case objectNameNotFound = 0xC000_0034
  /// A create names an entry that already exists.
  case objectNameCollision = 0xC000_0035
  /// A directory on the way to the last component is missing or is a file.
  case objectPathNotFound = 0xC000_003A
  case invalidPageProtection = 0xC000_0045
  /// No free clusters (or no room in a directory) for what the call needs.
  case diskFull = 0xC000_007F
  /// The device could not read or write the data (a medium error).
  case deviceDataError = 0xC000_009C
  case memoryNotAllocated = 0xC000_00A0
  /// No room for another VAD record (NT: the VAD's pool allocation failed).
  case insufficientResources = 0xC000_009A
  /// A release of a whole VAD (size 0) named an address other than its start.
  case freeVmNotAtBase = 0xC000_009F
  /// A file operation was asked of a directory.
  case fileIsADirectory = 0xC000_00BA
  case notSupported = 0xC000_00BB
  /// STATUS_INVALID_PARAMETER_n: the system call's n-th argument is bad.
  case invalidParameter2 = 0xC000_00F0
  case invalidParameter3 = 0xC000_00F1
  case invalidParameter4 = 0xC000_00F2
  case invalidParameter5 = 0xC000_00F3
  case invalidParameter6 = 0xC000_00F4
  /// A directory can be deleted only when it holds nothing but "." and "..".
  case directoryNotEmpty = 0xC000_0101
  /// One file's structures are damaged: its cluster chain or its directory's.
  case fileCorruptError = 0xC000_0102
  /// A directory operation was asked of a file.
  case notADirectory = 0xC000_0103
  /// The root directory cannot be deleted.
  case cannotDelete = 0xC000_0121
  case invalidAddress = 0xC000_0141
  /// The device holds no file system this driver mounts (not FAT32, or unsupported geometry).
  case unrecognizedVolume = 0xC000_014F
  /// The device failed the request (the driver or the hardware, not the medium).
  case ioDeviceError = 0xC000_0185
  /// A write to a disk that is read-only.
  case mediaWriteProtected = 0xC000_00A2
  /// Another open of the file does not share the access this one asks for (IoCheckShareAccess).
  case sharingViolation = 0xC000_0043
  /// The handle's granted access does not include what the call needs.
  case accessDenied = 0xC000_0022
  /// A call the object does not support (NtReadFile on a directory).
  case invalidDeviceRequest = 0xC000_0010
  /// An object name that is not absolute, or has no device the guest knows.
  case objectPathSyntaxBad = 0xC000_003B
  case invalidHandle = 0xC000_0008
  /// A handle the process holds, but to an object of another type (a file handle as SectionHandle).
  case objectTypeMismatch = 0xC000_0024
  /// NtMapViewOfSection: a view past the end of its section.
  case invalidViewSize = 0xC000_001F
  /// A page-file-backed section larger than the commit limit allows.
  case commitmentLimit = 0xC000_012D
  /// A view protection the section's protection does not allow.
  case sectionProtection = 0xC000_004E
  /// A section of 2^47 bytes or more, or a data section larger than a file it may not extend.
  case sectionTooBig = 0xC000_0040
  /// A view base or section offset that is not a multiple of 64 KiB.
  case mappedAlignment = 0xC000_0220
  /// A data section of an empty file, with no size given.
  case mappedFileSizeZero = 0xC000_011E
  case invalidParameter8 = 0xC000_00F6
  case invalidParameter9 = 0xC000_00F7
  /// NtUnmapViewOfSection: the address is in no view.
  case notMappedView = 0xC000_0019
  /// A page could not be read in from its file (a fault on a view, reported to the faulting access).
  case inPageError = 0xC000_0006
  /// The file's size may not drop below a part that a user view maps.
  case userMappedFile = 0xC000_0243
  /// NtExtendSection: the section is not a data section that may grow.
  case sectionNotExtended = 0xC000_0087
  /// NtQuerySection: SectionImageInformation of a section that is not an image.
  case sectionNotImage = 0xC000_0049
  /// MEM_COMMIT in a view of a data file: only page-file sections commit.
  case alreadyCommitted = 0xC000_0021

  public var isSuccess: Bool { rawValue & 0x8000_0000 == 0 }
}
