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
