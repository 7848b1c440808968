/// The numbers of NT's file API as its callers pass them (winnt.h, ntifs.h and
/// wdm.h values, as Microsoft documents them for NtCreateFile, NtReadFile and
/// the information classes). The names live on the host, in the script language.

/// ACCESS_MASK bits of a file's DesiredAccess.
public struct FileAccessMask: OptionSet, Sendable, Hashable {
  public var rawValue: UInt32
  @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
  public static let readData = Self(rawValue: 0x0001)  // FILE_READ_DATA, FILE_LIST_DIRECTORY
  public static let writeData = Self(rawValue: 0x0002)  // FILE_WRITE_DATA, FILE_ADD_FILE
  public static let appendData = Self(rawValue: 0x0004)  // FILE_APPEND_DATA
  public static let readEA = Self(rawValue: 0x0008)
  public static let writeEA = Self(rawValue: 0x0010)
  public static let execute = Self(rawValue: 0x0020)  // FILE_EXECUTE, FILE_TRAVERSE
  public static let deleteChild = Self(rawValue: 0x0040)
  public static let readAttributes = Self(rawValue: 0x0080)
  public static let writeAttributes = Self(rawValue: 0x0100)
  public static let delete = Self(rawValue: 0x1_0000)
  public static let readControl = Self(rawValue: 0x2_0000)
  public static let writeDAC = Self(rawValue: 0x4_0000)
  public static let writeOwner = Self(rawValue: 0x8_0000)
  public static let synchronize = Self(rawValue: 0x10_0000)
  public static let genericAll = Self(rawValue: 0x1000_0000)
  public static let genericExecute = Self(rawValue: 0x2000_0000)
  public static let genericWrite = Self(rawValue: 0x4000_0000)
  public static let genericRead = Self(rawValue: 0x8000_0000)
  /// FILE_GENERIC_READ, FILE_GENERIC_WRITE, FILE_GENERIC_EXECUTE, FILE_ALL_ACCESS: what the generic bits map to.
  public static let fileGenericRead = Self(rawValue: 0x12_0089)
  public static let fileGenericWrite = Self(rawValue: 0x12_0116)
  public static let fileGenericExecute = Self(rawValue: 0x12_00A0)
  public static let fileAllAccess = Self(rawValue: 0x1F_01FF)

  /// The mask with generic rights mapped to the file's specific ones (IoCreateFile's mapping).
  @inlinable public var mapped: FileAccessMask {
    var mask = subtracting([.genericRead, .genericWrite, .genericExecute, .genericAll])
    if contains(.genericRead) { mask.formUnion(.fileGenericRead) }
    if contains(.genericWrite) { mask.formUnion(.fileGenericWrite) }
    if contains(.genericExecute) { mask.formUnion(.fileGenericExecute) }
    if contains(.genericAll) { mask.formUnion(.fileAllAccess) }
    return mask
  }
}

/// ShareAccess (FILE_SHARE_*).
public struct FileShareAccess: OptionSet, Sendable, Hashable {
  public var rawValue: UInt32
  @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
  public static let read = Self(rawValue: 1)
  public static let write = Self(rawValue: 2)
  public static let delete = Self(rawValue: 4)
  public static let valid: Self = [.read, .write, .delete]
}

/// CreateDisposition (FILE_SUPERSEDE ... FILE_OVERWRITE_IF).
public enum FileCreateDisposition: UInt32, Sendable, CaseIterable {
  case supersede = 0
  case open = 1
  case create = 2
  case openIf = 3
  case overwrite = 4
  case overwriteIf = 5
}

/// CreateOptions / OpenOptions (FILE_*), those the guest looks at.
public struct FileCreateOptions: OptionSet, Sendable, Hashable {
  public var rawValue: UInt32
  @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
  public static let directoryFile = Self(rawValue: 0x0001)
  public static let writeThrough = Self(rawValue: 0x0002)
  public static let sequentialOnly = Self(rawValue: 0x0004)
  public static let noIntermediateBuffering = Self(rawValue: 0x0008)
  public static let synchronousIoAlert = Self(rawValue: 0x0010)
  public static let synchronousIoNonalert = Self(rawValue: 0x0020)
  public static let nonDirectoryFile = Self(rawValue: 0x0040)
  public static let randomAccess = Self(rawValue: 0x0800)
  public static let deleteOnClose = Self(rawValue: 0x1000)
  /// FILE_VALID_OPTION_FLAGS: any bit outside is STATUS_INVALID_PARAMETER.
  public static let valid = Self(rawValue: 0x00FF_FFFF)
}

/// IO_STATUS_BLOCK.Information after a create or open (FILE_SUPERSEDED ... FILE_DOES_NOT_EXIST).
public enum FileCreateResult: UInt64, Sendable, CaseIterable {
  case superseded = 0
  case opened = 1
  case created = 2
  case overwritten = 3
  case exists = 4
  case doesNotExist = 5
}

/// FILE_INFORMATION_CLASS values the guest serves.
public enum FileInformationClass: UInt32, Sendable, CaseIterable {
  /// FILE_STANDARD_INFORMATION (query): AllocationSize, EndOfFile, NumberOfLinks, DeletePending, Directory.
  case standard = 5
  /// FILE_END_OF_FILE_INFORMATION (set): EndOfFile.
  case endOfFile = 20
}

/// How the guest names its volume: the first FAT volume (disk 0) is drive C:
/// and \Device\HarddiskVolume1, as the object manager would link them.
public enum FileObjectNames {
  public static let prefixes: [StaticString] = ["\\??\\C:", "\\DosDevices\\C:", "\\Device\\HarddiskVolume1"]
  /// Non-cached transfers go in whole sectors, to sector-aligned buffers.
  public static let sectorSize: UInt64 = 512
  /// File handles as the guest hands them out (multiples of four, clear of process handles).
  public static let firstHandle: UInt64 = 0x8000
  /// Open files the guest holds at most.
  public static let handleCapacity = 64
  /// Bytes of an ObjectName a script may pass.
  public static let maximumNameBytes = 1024
}
