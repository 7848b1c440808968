import GuestABI

/// NT's own names for the numbers a script passes and gets back: MEM_* and
/// PAGE_* flags (winnt.h) and NTSTATUS values (ntstatus.h), as Microsoft
/// documents them.
public enum NtNames {
  /// AllocationType and FreeType flags.
  public static let memoryFlags: [(name: String, value: UInt32)] = [
    ("MEM_COMMIT", MemoryAllocationType.commit.rawValue), ("MEM_RESERVE", MemoryAllocationType.reserve.rawValue),
    ("MEM_DECOMMIT", MemoryAllocationType.decommit.rawValue), ("MEM_RELEASE", MemoryAllocationType.release.rawValue),
    ("MEM_RESET", MemoryAllocationType.reset.rawValue), ("MEM_TOP_DOWN", MemoryAllocationType.topDown.rawValue),
    ("MEM_WRITE_WATCH", MemoryAllocationType.writeWatch.rawValue),
    ("MEM_PHYSICAL", MemoryAllocationType.physical.rawValue),
    ("MEM_RESET_UNDO", MemoryAllocationType.resetUndo.rawValue),
    ("MEM_LARGE_PAGES", MemoryAllocationType.largePages.rawValue),
  ]

  /// PAGE_* protections and modifiers.
  public static let protections: [(name: String, value: UInt32)] = [
    ("PAGE_NOACCESS", Win32Protection.noAccess.rawValue), ("PAGE_READONLY", Win32Protection.readOnly.rawValue),
    ("PAGE_READWRITE", Win32Protection.readWrite.rawValue), ("PAGE_WRITECOPY", Win32Protection.writeCopy.rawValue),
    ("PAGE_EXECUTE", Win32Protection.execute.rawValue), ("PAGE_EXECUTE_READ", Win32Protection.executeRead.rawValue),
    ("PAGE_EXECUTE_READWRITE", Win32Protection.executeReadWrite.rawValue),
    ("PAGE_EXECUTE_WRITECOPY", Win32Protection.executeWriteCopy.rawValue),
    ("PAGE_GUARD", Win32Protection.guardPage.rawValue), ("PAGE_NOCACHE", Win32Protection.noCache.rawValue),
    ("PAGE_WRITECOMBINE", Win32Protection.writeCombine.rawValue),
  ]

  /// MEMORY_BASIC_INFORMATION.State and .Type values, for reports.
  public static let regionStates: [(name: String, value: UInt32)] = [
    ("MEM_COMMIT", MemoryRegionState.commit.rawValue), ("MEM_RESERVE", MemoryRegionState.reserve.rawValue),
    ("MEM_FREE", MemoryRegionState.free.rawValue),
  ]
  public static let regionTypes: [(name: String, value: UInt32)] = [
    ("MEM_PRIVATE", MemoryRegionType.private.rawValue), ("MEM_MAPPED", MemoryRegionType.mapped.rawValue),
    ("MEM_IMAGE", MemoryRegionType.image.rawValue),
  ]

  /// The NTSTATUS values the virtual-memory calls and the script runner can
  /// return or a script may expect.
  public static let statuses: [(name: String, value: UInt32)] =
    [
      ("STATUS_SUCCESS", 0x0000_0000), ("STATUS_GUARD_PAGE_VIOLATION", 0x8000_0001),
      ("STATUS_DATATYPE_MISALIGNMENT", 0x8000_0002), ("STATUS_UNSUCCESSFUL", 0xC000_0001),
      ("STATUS_NOT_IMPLEMENTED", 0xC000_0002), ("STATUS_INVALID_INFO_CLASS", 0xC000_0003),
      ("STATUS_INFO_LENGTH_MISMATCH", 0xC000_0004), ("STATUS_ACCESS_VIOLATION", 0xC000_0005),
      ("STATUS_INVALID_HANDLE", 0xC000_0008), ("STATUS_INVALID_PARAMETER", 0xC000_000D),
      ("STATUS_NO_MEMORY", 0xC000_0017), ("STATUS_CONFLICTING_ADDRESSES", 0xC000_0018),
      ("STATUS_NOT_MAPPED_VIEW", 0xC000_0019), ("STATUS_UNABLE_TO_FREE_VM", 0xC000_001A),
      ("STATUS_INVALID_VIEW_SIZE", 0xC000_001F), ("STATUS_ALREADY_COMMITTED", 0xC000_0021),
      ("STATUS_DATA_ERROR", 0xC000_003E), ("STATUS_ACCESS_DENIED", 0xC000_0022),
      ("STATUS_OBJECT_TYPE_MISMATCH", 0xC000_0024),
      ("STATUS_NOT_COMMITTED", 0xC000_002D), ("STATUS_INVALID_PARAMETER_MIX", 0xC000_0030),
      ("STATUS_INVALID_PAGE_PROTECTION", 0xC000_0045), ("STATUS_SECTION_PROTECTION", 0xC000_004E),
      ("STATUS_INSUFFICIENT_RESOURCES", 0xC000_009A), ("STATUS_FREE_VM_NOT_AT_BASE", 0xC000_009F),
      ("STATUS_MEMORY_NOT_ALLOCATED", 0xC000_00A0), ("STATUS_NOT_SUPPORTED", 0xC000_00BB),
      ("STATUS_PROCESS_IS_TERMINATING", 0xC000_010A), ("STATUS_COMMITMENT_LIMIT", 0xC000_012D),
      ("STATUS_INVALID_ADDRESS", 0xC000_0141),
      // The file calls'.
      ("STATUS_END_OF_FILE", 0xC000_0011), ("STATUS_INVALID_DEVICE_REQUEST", 0xC000_0010),
      ("STATUS_DISK_CORRUPT_ERROR", 0xC000_0032), ("STATUS_OBJECT_NAME_INVALID", 0xC000_0033),
      ("STATUS_OBJECT_NAME_NOT_FOUND", 0xC000_0034), ("STATUS_OBJECT_NAME_COLLISION", 0xC000_0035),
      ("STATUS_OBJECT_PATH_INVALID", 0xC000_0039), ("STATUS_OBJECT_PATH_NOT_FOUND", 0xC000_003A),
      ("STATUS_OBJECT_PATH_SYNTAX_BAD", 0xC000_003B), ("STATUS_SHARING_VIOLATION", 0xC000_0043),
      ("STATUS_DISK_FULL", 0xC000_007F), ("STATUS_DEVICE_DATA_ERROR", 0xC000_009C),
      ("STATUS_FILE_IS_A_DIRECTORY", 0xC000_00BA), ("STATUS_DIRECTORY_NOT_EMPTY", 0xC000_0101),
      ("STATUS_FILE_CORRUPT_ERROR", 0xC000_0102), ("STATUS_NOT_A_DIRECTORY", 0xC000_0103),
      ("STATUS_CANNOT_DELETE", 0xC000_0121), ("STATUS_UNRECOGNIZED_VOLUME", 0xC000_014F),
      ("STATUS_IO_DEVICE_ERROR", 0xC000_0185), ("STATUS_NO_SUCH_DEVICE", 0xC000_000E),
      ("STATUS_NO_MORE_FILES", 0x8000_0006), ("STATUS_MEDIA_WRITE_PROTECTED", 0xC000_00A2),
      // The section calls'.
      ("STATUS_IN_PAGE_ERROR", 0xC000_0006), ("STATUS_UNABLE_TO_DELETE_SECTION", 0xC000_001B),
      ("STATUS_SECTION_TOO_BIG", 0xC000_0040), ("STATUS_SECTION_NOT_EXTENDED", 0xC000_0087),
      ("STATUS_SECTION_NOT_IMAGE", 0xC000_0049),
      ("STATUS_MAPPED_FILE_SIZE_ZERO", 0xC000_011E), ("STATUS_MAPPED_ALIGNMENT", 0xC000_0220),
      ("STATUS_USER_MAPPED_FILE", 0xC000_0243),
    ]
    + (1...12).map { ("STATUS_INVALID_PARAMETER_\($0)", 0xC000_00EE + UInt32($0)) }

  /// File access rights (ACCESS_MASK), as winnt.h names them.
  public static let fileAccess: [(name: String, value: UInt32)] = [
    ("FILE_READ_DATA", FileAccessMask.readData.rawValue), ("FILE_LIST_DIRECTORY", FileAccessMask.readData.rawValue),
    ("FILE_WRITE_DATA", FileAccessMask.writeData.rawValue), ("FILE_ADD_FILE", FileAccessMask.writeData.rawValue),
    ("FILE_APPEND_DATA", FileAccessMask.appendData.rawValue), ("FILE_READ_EA", FileAccessMask.readEA.rawValue),
    ("FILE_WRITE_EA", FileAccessMask.writeEA.rawValue), ("FILE_EXECUTE", FileAccessMask.execute.rawValue),
    ("FILE_TRAVERSE", FileAccessMask.execute.rawValue), ("FILE_DELETE_CHILD", FileAccessMask.deleteChild.rawValue),
    ("FILE_READ_ATTRIBUTES", FileAccessMask.readAttributes.rawValue),
    ("FILE_WRITE_ATTRIBUTES", FileAccessMask.writeAttributes.rawValue), ("DELETE", FileAccessMask.delete.rawValue),
    ("READ_CONTROL", FileAccessMask.readControl.rawValue), ("WRITE_DAC", FileAccessMask.writeDAC.rawValue),
    ("WRITE_OWNER", FileAccessMask.writeOwner.rawValue), ("SYNCHRONIZE", FileAccessMask.synchronize.rawValue),
    ("GENERIC_ALL", FileAccessMask.genericAll.rawValue), ("GENERIC_EXECUTE", FileAccessMask.genericExecute.rawValue),
    ("GENERIC_WRITE", FileAccessMask.genericWrite.rawValue), ("GENERIC_READ", FileAccessMask.genericRead.rawValue),
    ("FILE_GENERIC_READ", FileAccessMask.fileGenericRead.rawValue),
    ("FILE_GENERIC_WRITE", FileAccessMask.fileGenericWrite.rawValue),
    ("FILE_ALL_ACCESS", FileAccessMask.fileAllAccess.rawValue),
  ]
  public static let shareAccess: [(name: String, value: UInt32)] = [
    ("FILE_SHARE_READ", FileShareAccess.read.rawValue), ("FILE_SHARE_WRITE", FileShareAccess.write.rawValue),
    ("FILE_SHARE_DELETE", FileShareAccess.delete.rawValue),
  ]
  public static let createDispositions: [(name: String, value: UInt32)] = [
    ("FILE_SUPERSEDE", 0), ("FILE_OPEN", 1), ("FILE_CREATE", 2), ("FILE_OPEN_IF", 3), ("FILE_OVERWRITE", 4),
    ("FILE_OVERWRITE_IF", 5),
  ]
  public static let createOptions: [(name: String, value: UInt32)] = [
    ("FILE_DIRECTORY_FILE", FileCreateOptions.directoryFile.rawValue),
    ("FILE_WRITE_THROUGH", FileCreateOptions.writeThrough.rawValue),
    ("FILE_SEQUENTIAL_ONLY", FileCreateOptions.sequentialOnly.rawValue),
    ("FILE_NO_INTERMEDIATE_BUFFERING", FileCreateOptions.noIntermediateBuffering.rawValue),
    ("FILE_SYNCHRONOUS_IO_ALERT", FileCreateOptions.synchronousIoAlert.rawValue),
    ("FILE_SYNCHRONOUS_IO_NONALERT", FileCreateOptions.synchronousIoNonalert.rawValue),
    ("FILE_NON_DIRECTORY_FILE", FileCreateOptions.nonDirectoryFile.rawValue),
    ("FILE_RANDOM_ACCESS", FileCreateOptions.randomAccess.rawValue),
    ("FILE_DELETE_ON_CLOSE", FileCreateOptions.deleteOnClose.rawValue),
  ]
  public static let fileInformationClasses: [(name: String, value: UInt32)] = [
    ("FileStandardInformation", FileInformationClass.standard.rawValue),
    ("FileEndOfFileInformation", FileInformationClass.endOfFile.rawValue),
  ]
  public static let sectionInformationClasses: [(name: String, value: UInt32)] = [
    ("SectionBasicInformation", SectionInformationClass.basic.rawValue),
    ("SectionImageInformation", SectionInformationClass.image.rawValue),
  ]
  /// Section access rights (SECTION_*), with the generic ones.
  public static let sectionAccess: [(name: String, value: UInt32)] = [
    ("SECTION_QUERY", SectionAccessMask.query.rawValue), ("SECTION_MAP_WRITE", SectionAccessMask.mapWrite.rawValue),
    ("SECTION_MAP_READ", SectionAccessMask.mapRead.rawValue),
    ("SECTION_MAP_EXECUTE", SectionAccessMask.mapExecute.rawValue),
    ("SECTION_EXTEND_SIZE", SectionAccessMask.extendSize.rawValue),
    ("SECTION_ALL_ACCESS", SectionAccessMask.allAccess.rawValue),
    ("GENERIC_READ", SectionAccessMask.genericRead.rawValue),
    ("GENERIC_WRITE", SectionAccessMask.genericWrite.rawValue),
    ("GENERIC_EXECUTE", SectionAccessMask.genericExecute.rawValue),
    ("GENERIC_ALL", SectionAccessMask.genericAll.rawValue),
  ]
  /// NtCreateSection's AllocationAttributes (SEC_*).
  public static let sectionAttributes: [(name: String, value: UInt32)] = [
    ("SEC_BASED", SectionAttributes.based.rawValue), ("SEC_NO_CHANGE", SectionAttributes.noChange.rawValue),
    ("SEC_FILE", SectionAttributes.file.rawValue), ("SEC_IMAGE", SectionAttributes.image.rawValue),
    ("SEC_PROTECTED_IMAGE", SectionAttributes.protectedImage.rawValue),
    ("SEC_RESERVE", SectionAttributes.reserve.rawValue), ("SEC_COMMIT", SectionAttributes.commit.rawValue),
    ("SEC_NOCACHE", SectionAttributes.noCache.rawValue), ("SEC_WRITECOMBINE", SectionAttributes.writeCombine.rawValue),
    ("SEC_LARGE_PAGES", SectionAttributes.largePages.rawValue),
  ]
  public static let inheritDispositions: [(name: String, value: UInt32)] = [
    ("ViewShare", SectionInherit.viewShare.rawValue), ("ViewUnmap", SectionInherit.viewUnmap.rawValue),
  ]
  /// IO_STATUS_BLOCK.Information of a create.
  public static let createResults: [(name: String, value: UInt32)] = [
    ("FILE_SUPERSEDED", 0), ("FILE_OPENED", 1), ("FILE_CREATED", 2), ("FILE_OVERWRITTEN", 3), ("FILE_EXISTS", 4),
    ("FILE_DOES_NOT_EXIST", 5),
  ]

  /// The name of status `value`, or nil.
  public static func statusName(_ value: UInt32) -> String? { statuses.first { $0.value == value }?.name }

  /// "STATUS_NO_MEMORY" for a known status, else "0xC0001234".
  public static func describeStatus(_ value: UInt32) -> String {
    statusName(value) ?? "0x" + String(value, radix: 16, uppercase: true).leftPadded(to: 8)
  }

  /// `value` as flags of `table` joined by "|", with any bits no name covers
  /// in hex ("MEM_COMMIT|MEM_RESERVE", "PAGE_READWRITE|0x800", "0" for none).
  public static func describeFlags(_ value: UInt32, _ table: [(name: String, value: UInt32)]) -> String {
    var names = table.filter { $0.value != 0 && value & $0.value == $0.value }.map(\.name)
    let rest = table.reduce(value) { $0 & ~$1.value }
    if rest != 0 { names.append("0x" + String(rest, radix: 16, uppercase: true)) }
    return names.isEmpty ? "0" : names.joined(separator: "|")
  }
}

extension String {
  /// The string with zeros in front, to `width` characters.
  func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
