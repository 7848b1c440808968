/// The numbers of NT's virtual-memory API as its callers pass them (winnt.h
/// and ntstatus.h values, as Microsoft documents them): what a script's step
/// carries to the guest, and what the guest's NT-call layer decodes. The names
/// (MEM_COMMIT, PAGE_READWRITE, ...) live on the host, in the script language.

/// NtAllocateVirtualMemory's AllocationType and NtFreeVirtualMemory's FreeType.
public struct MemoryAllocationType: OptionSet, Sendable, Hashable {
  public var rawValue: UInt32
  @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// MEM_COMMIT.
  public static let commit = Self(rawValue: 0x1000)
  /// MEM_RESERVE.
  public static let reserve = Self(rawValue: 0x2000)
  /// MEM_DECOMMIT (FreeType).
  public static let decommit = Self(rawValue: 0x4000)
  /// MEM_RELEASE (FreeType).
  public static let release = Self(rawValue: 0x8000)
  /// MEM_RESET.
  public static let reset = Self(rawValue: 0x8_0000)
  /// MEM_TOP_DOWN: the highest free range rather than the lowest.
  public static let topDown = Self(rawValue: 0x10_0000)
  /// MEM_WRITE_WATCH.
  public static let writeWatch = Self(rawValue: 0x20_0000)
  /// MEM_PHYSICAL.
  public static let physical = Self(rawValue: 0x40_0000)
  /// MEM_RESET_UNDO.
  public static let resetUndo = Self(rawValue: 0x100_0000)
  /// MEM_LARGE_PAGES.
  public static let largePages = Self(rawValue: 0x2000_0000)
}

/// A Win32 page protection (PAGE_*): one access value, optionally with
/// PAGE_GUARD, PAGE_NOCACHE or PAGE_WRITECOMBINE.
public struct Win32Protection: OptionSet, Sendable, Hashable {
  public var rawValue: UInt32
  @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// PAGE_NOACCESS.
  public static let noAccess = Self(rawValue: 0x01)
  /// PAGE_READONLY.
  public static let readOnly = Self(rawValue: 0x02)
  /// PAGE_READWRITE.
  public static let readWrite = Self(rawValue: 0x04)
  /// PAGE_WRITECOPY.
  public static let writeCopy = Self(rawValue: 0x08)
  /// PAGE_EXECUTE.
  public static let execute = Self(rawValue: 0x10)
  /// PAGE_EXECUTE_READ.
  public static let executeRead = Self(rawValue: 0x20)
  /// PAGE_EXECUTE_READWRITE.
  public static let executeReadWrite = Self(rawValue: 0x40)
  /// PAGE_EXECUTE_WRITECOPY.
  public static let executeWriteCopy = Self(rawValue: 0x80)
  /// PAGE_GUARD.
  public static let guardPage = Self(rawValue: 0x100)
  /// PAGE_NOCACHE.
  public static let noCache = Self(rawValue: 0x200)
  /// PAGE_WRITECOMBINE.
  public static let writeCombine = Self(rawValue: 0x400)
  /// The eight access values (exactly one must be set).
  public static let accessMask: UInt32 = 0xFF
  /// The three modifiers.
  public static let modifierMask: UInt32 = 0x700
}

/// MEMORY_BASIC_INFORMATION.State.
public struct MemoryRegionState: RawRepresentable, Sendable, Hashable {
  public var rawValue: UInt32
  @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// MEM_COMMIT.
  public static let commit = Self(rawValue: 0x1000)
  /// MEM_RESERVE.
  public static let reserve = Self(rawValue: 0x2000)
  /// MEM_FREE.
  public static let free = Self(rawValue: 0x1_0000)
}

/// MEMORY_BASIC_INFORMATION.Type.
public struct MemoryRegionType: RawRepresentable, Sendable, Hashable {
  public var rawValue: UInt32
  @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// None: a free range.
  public static let none = Self(rawValue: 0)
  /// MEM_PRIVATE.
  public static let `private` = Self(rawValue: 0x2_0000)
  /// MEM_MAPPED.
  public static let mapped = Self(rawValue: 0x4_0000)
  /// MEM_IMAGE.
  public static let image = Self(rawValue: 0x100_0000)
}

/// NtQueryVirtualMemory's MemoryInformationClass values the guest knows.
public enum MemoryInformationClass: UInt32, Sendable {
  /// MemoryBasicInformation: MEMORY_BASIC_INFORMATION.
  case basicInformation = 0
}
