/// The numbers of NT's section API as its callers pass them (winnt.h and
/// wdm.h values, as Microsoft documents them for NtCreateSection and
/// NtMapViewOfSection). The names live on the host, in the script language.

/// NtCreateSection's AllocationAttributes (SEC_*).
public struct SectionAttributes: OptionSet, Sendable, Hashable {
  public var rawValue: UInt32
  @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
  public static let based = Self(rawValue: 0x20_0000)  // SEC_BASED
  public static let noChange = Self(rawValue: 0x40_0000)  // SEC_NO_CHANGE
  public static let file = Self(rawValue: 0x80_0000)  // SEC_FILE
  public static let image = Self(rawValue: 0x100_0000)  // SEC_IMAGE
  public static let protectedImage = Self(rawValue: 0x200_0000)  // SEC_PROTECTED_IMAGE
  public static let reserve = Self(rawValue: 0x400_0000)  // SEC_RESERVE
  public static let commit = Self(rawValue: 0x800_0000)  // SEC_COMMIT
  public static let noCache = Self(rawValue: 0x1000_0000)  // SEC_NOCACHE
  public static let writeCombine = Self(rawValue: 0x4000_0000)  // SEC_WRITECOMBINE
  public static let largePages = Self(rawValue: 0x8000_0000)  // SEC_LARGE_PAGES
  /// Every attribute NT knows; any other bit is STATUS_INVALID_PARAMETER_6.
  public static let known: Self = [
    .based, .noChange, .file, .image, .protectedImage, .reserve, .commit, .noCache, .writeCombine, .largePages,
  ]
}

/// NtMapViewOfSection's InheritDisposition (SECTION_INHERIT).
public enum SectionInherit: UInt32, Sendable, CaseIterable {
  case viewShare = 1
  case viewUnmap = 2
}

/// Sizes NT holds sections to.
public enum SectionLimits {
  /// A section of 2^47 bytes or more is STATUS_SECTION_TOO_BIG (128 TiB, the user half's size).
  public static let tooBig: UInt64 = 1 << 47
  /// MM_ALLOCATION_GRANULARITY: view bases and section offsets are multiples of it.
  public static let granularity: UInt64 = 0x1_0000
  /// The most ZeroBits NtMapViewOfSection takes as a count.
  public static let maximumZeroBits: UInt64 = 21
}

/// A section handle's ACCESS_MASK (SECTION_*, with the generic rights).
public struct SectionAccessMask: OptionSet, Sendable, Hashable {
  public var rawValue: UInt32
  @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
  public static let query = Self(rawValue: 0x0001)  // SECTION_QUERY
  public static let mapWrite = Self(rawValue: 0x0002)  // SECTION_MAP_WRITE
  public static let mapRead = Self(rawValue: 0x0004)  // SECTION_MAP_READ
  public static let mapExecute = Self(rawValue: 0x0008)  // SECTION_MAP_EXECUTE
  public static let extendSize = Self(rawValue: 0x0010)  // SECTION_EXTEND_SIZE
  public static let allAccess = Self(rawValue: 0xF_001F)  // SECTION_ALL_ACCESS
  public static let genericRead = Self(rawValue: 0x8000_0000)
  public static let genericWrite = Self(rawValue: 0x4000_0000)
  public static let genericExecute = Self(rawValue: 0x2000_0000)
  public static let genericAll = Self(rawValue: 0x1000_0000)

  /// The mask with generic rights mapped to the section's (MmSectionObjectType's generic mapping).
  @inlinable public var mapped: SectionAccessMask {
    var mask = subtracting([.genericRead, .genericWrite, .genericExecute, .genericAll])
    if contains(.genericRead) { mask.formUnion([.query, .mapRead, Self(rawValue: 0x2_0000)]) }
    if contains(.genericWrite) { mask.formUnion([.mapWrite, Self(rawValue: 0x2_0000)]) }
    if contains(.genericExecute) { mask.formUnion([.mapExecute, Self(rawValue: 0x2_0000)]) }
    if contains(.genericAll) { mask.formUnion(.allAccess) }
    return mask
  }

  /// What a view of protection `code` needs of its section handle: write
  /// (write-copy needs only read), execute, and read for any access at all.
  @inlinable public static func needed(forView code: UInt8) -> SectionAccessMask {
    switch code & 7 {
    case 0: return []
    case 1, 5: return .mapRead  // PAGE_READONLY, PAGE_WRITECOPY
    case 2: return .mapExecute  // PAGE_EXECUTE
    case 3, 7: return [.mapRead, .mapExecute]  // PAGE_EXECUTE_READ, PAGE_EXECUTE_WRITECOPY
    case 4: return [.mapRead, .mapWrite]  // PAGE_READWRITE
    default: return [.mapRead, .mapWrite, .mapExecute]  // PAGE_EXECUTE_READWRITE
    }
  }
}

/// NtQuerySection's SectionInformationClass (SECTION_INFORMATION_CLASS).
public enum SectionInformationClass: UInt32, Sendable, CaseIterable {
  /// SECTION_BASIC_INFORMATION: BaseAddress, AllocationAttributes, MaximumSize.
  case basic = 0
  /// SECTION_IMAGE_INFORMATION: an image section's only (STATUS_SECTION_NOT_IMAGE for a data section).
  case image = 1
}
