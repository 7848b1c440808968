#if canImport(GuestABI)
  import GuestABI
#endif

// NT's virtual-memory system calls with Windows' semantics and statuses, on top
// of `VirtualMemory`: the caller's raw arguments (PAGE_*, MEM_*, byte counts)
// are checked in Windows' order and turned into reserve, commit, decommit,
// release, protect and query. Handles are the caller's business.
//
// Sources (facts only): Windows Research Kernel allocvm.c / freevm.c, ReactOS
// ntoskrnl/mm/ARM3/virtual.c and section.c (MiMakeProtectionMask), Wine's
// dlls/ntdll/tests/virtual.c (run against real Windows), Microsoft's
// NtAllocateVirtualMemory / VirtualAlloc documentation, phnt's
// MEMORY_INFORMATION_CLASS. Each function says which facts it follows.
//
// Not implemented (STATUS_NOT_IMPLEMENTED): MEM_RESET, MEM_RESET_UNDO,
// MEM_LARGE_PAGES, MEM_PHYSICAL, MEM_WRITE_WATCH; committing or protecting a
// mapped view (sections); information classes other than MemoryBasicInformation.

/// The bounds NT checks user addresses against (x64, from `UserAddressSpace`).
public enum NtUserAddresses {
  /// MM_HIGHEST_USER_ADDRESS: the last byte of the user half.
  public static let highestUserAddress: UInt64 = UserAddressSpace.end - 1
  /// MM_USER_PROBE_ADDRESS: one past it (NtProtect's size check uses this one).
  public static let userProbeAddress: UInt64 = UserAddressSpace.end
  /// MM_HIGHEST_VAD_ADDRESS: the highest user address less 64 KiB; no
  /// allocation reaches above it.
  public static let highestVadAddress: UInt64 = highestUserAddress - UserAddressSpace.allocationGranularity
}

/// Win32 PAGE_* values and the Mm's 5-bit protection codes, both ways.
public enum NtProtection {
  /// The code for a Win32 protection, nil where NT's MiMakeProtectionMask says
  /// MM_INVALID_PROTECTION: above PAGE_WRITECOMBINE * 2, not exactly one access
  /// value, PAGE_GUARD with PAGE_NOACCESS, PAGE_NOCACHE or PAGE_WRITECOMBINE,
  /// PAGE_NOCACHE with PAGE_NOACCESS or PAGE_WRITECOMBINE, PAGE_WRITECOMBINE
  /// with PAGE_NOACCESS. Write-copy codes come back; callers refuse them for
  /// private memory with their own status.
  public static func code(fromWin32 protect: UInt32) -> UInt8? {
    guard protect < Win32Protection.writeCombine.rawValue * 2, let access = accessCode(protect & 0xFF) else {
      return nil
    }
    let noAccess = access == PageProtection.inaccessible
    let guardPage = protect & Win32Protection.guardPage.rawValue != 0
    let noCache = protect & Win32Protection.noCache.rawValue != 0
    let writeCombine = protect & Win32Protection.writeCombine.rawValue != 0
    if guardPage && (noAccess || noCache || writeCombine) { return nil }
    if noCache && (noAccess || writeCombine) { return nil }
    if writeCombine && noAccess { return nil }
    if guardPage { return access | PageProtection.guardPage }
    if noCache { return access | PageProtection.noCache }
    return writeCombine ? access | PageProtection.writeCombine : access
  }

  /// The code of exactly one PAGE_* access value (no access: `inaccessible`).
  static func accessCode(_ access: UInt32) -> UInt8? {
    switch access {
    case Win32Protection.noAccess.rawValue: return PageProtection.inaccessible
    case Win32Protection.readOnly.rawValue: return PageProtection.readOnly
    case Win32Protection.readWrite.rawValue: return PageProtection.readWrite
    case Win32Protection.writeCopy.rawValue: return PageProtection.writeCopy
    case Win32Protection.execute.rawValue: return PageProtection.execute
    case Win32Protection.executeRead.rawValue: return PageProtection.executeRead
    case Win32Protection.executeReadWrite.rawValue: return PageProtection.executeReadWrite
    case Win32Protection.executeWriteCopy.rawValue: return PageProtection.executeWriteCopy
    default: return nil
    }
  }

  /// The Win32 protection of a code (NT's MmProtectToValue): a zero access is
  /// PAGE_NOACCESS whatever its modifier; the modifier becomes PAGE_NOCACHE,
  /// PAGE_GUARD or PAGE_WRITECOMBINE.
  public static func win32(fromCode code: UInt8) -> Win32Protection {
    let access: Win32Protection
    switch code & 7 {
    case PageProtection.readOnly: access = .readOnly
    case PageProtection.execute: access = .execute
    case PageProtection.executeRead: access = .executeRead
    case PageProtection.readWrite: access = .readWrite
    case PageProtection.writeCopy: access = .writeCopy
    case PageProtection.executeReadWrite: access = .executeReadWrite
    case PageProtection.executeWriteCopy: access = .executeWriteCopy
    default: return .noAccess
    }
    switch code & 0x18 {
    case PageProtection.noCache: return access.union(.noCache)
    case PageProtection.guardPage: return access.union(.guardPage)
    case PageProtection.writeCombine: return access.union(.writeCombine)
    default: return access
    }
  }

  /// Whether `code` is a write-copy code, which private memory refuses.
  static func isWriteCopy(_ code: UInt8) -> Bool {
    code & 7 == PageProtection.writeCopy || code & 7 == PageProtection.executeWriteCopy
  }
}

/// Win32's MEMORY_BASIC_INFORMATION, as NtQueryVirtualMemory fills it.
public struct NtMemoryBasicInformation: Equatable, Sendable {
  public var baseAddress: UInt64
  public var allocationBase: UInt64
  public var allocationProtect: Win32Protection
  public var regionSize: UInt64
  public var state: MemoryRegionState
  public var protect: Win32Protection
  public var type: MemoryRegionType

  public init(
    baseAddress: UInt64, allocationBase: UInt64, allocationProtect: Win32Protection, regionSize: UInt64,
    state: MemoryRegionState, protect: Win32Protection, type: MemoryRegionType
  ) {
    self.baseAddress = baseAddress
    self.allocationBase = allocationBase
    self.allocationProtect = allocationProtect
    self.regionSize = regionSize
    self.state = state
    self.protect = protect
    self.type = type
  }

  /// What a failed query returns: all zero.
  public static let empty = NtMemoryBasicInformation(
    baseAddress: 0, allocationBase: 0, allocationProtect: [], regionSize: 0, state: MemoryRegionState(rawValue: 0),
    protect: [], type: .none)
}

// MARK: NtQueryVirtualMemory

extension VirtualMemory {
  /// NtQueryVirtualMemory. Checks, in ReactOS's order: an address above
  /// MM_HIGHEST_USER_ADDRESS is STATUS_INVALID_PARAMETER (not _2: ReactOS and
  /// its newer rewrite both return the plain status); then the class: 0 is
  /// MemoryBasicInformation, 1...14 are classes Windows has (phnt's list, to
  /// MemoryImageExtensionInformation) and are not implemented here, anything
  /// else is STATUS_INVALID_INFO_CLASS. Free memory: State MEM_FREE, Protect
  /// PAGE_NOACCESS, AllocationBase 0, the run to the next VAD or to
  /// MM_HIGHEST_VAD_ADDRESS + 1; above that, the reserved 64 KiB ReactOS reports.
  public func ntQueryVirtualMemory(baseAddress: UInt64, informationClass: UInt32)
    -> (status: Status, info: NtMemoryBasicInformation)
  {
    guard baseAddress <= NtUserAddresses.highestUserAddress else { return (.invalidParameter, .empty) }
    guard informationClass == MemoryInformationClass.basicInformation.rawValue else {
      return (informationClass <= 14 ? .notImplemented : .invalidInfoClass, .empty)
    }
    let page = baseAddress & ~(UserAddressSpace.pageSize - 1)
    if baseAddress > NtUserAddresses.highestVadAddress && vads.index(containing: page >> 12) == nil {
      return (.success, Self.topReservedRun(at: page, size: freeRun(at: page >> 12).regionSize))
    }
    let found = query(baseAddress)
    guard found.status == .success else { return (found.status, .empty) }
    return (.success, Self.win32Information(found.info))
  }

  /// The 64 KiB above MM_HIGHEST_VAD_ADDRESS (`size` bytes of it from `page`),
  /// which ReactOS reports as one reserved read-only private allocation.
  static func topReservedRun(at page: UInt64, size: UInt64) -> NtMemoryBasicInformation {
    NtMemoryBasicInformation(
      baseAddress: page, allocationBase: NtUserAddresses.highestVadAddress + 1, allocationProtect: .readOnly,
      regionSize: size, state: .reserve, protect: .noAccess, type: .private)
  }

  /// `info` in Win32's terms; a free run that reached the end of the user half
  /// stops at MM_HIGHEST_VAD_ADDRESS + 1, where the reserved top begins.
  static func win32Information(_ info: MemoryBasicInformation) -> NtMemoryBasicInformation {
    switch info.state {
    case .free:
      var size = info.regionSize
      if info.baseAddress + size == UserAddressSpace.end {
        size = NtUserAddresses.highestVadAddress + 1 - info.baseAddress
      }
      return NtMemoryBasicInformation(
        baseAddress: info.baseAddress, allocationBase: 0, allocationProtect: [], regionSize: size, state: .free,
        protect: .noAccess, type: .none)
    case .reserved, .committed:
      let committed = info.state == .committed
      return NtMemoryBasicInformation(
        baseAddress: info.baseAddress, allocationBase: info.allocationBase,
        allocationProtect: NtProtection.win32(fromCode: info.allocationProtection), regionSize: info.regionSize,
        state: committed ? .commit : .reserve, protect: committed ? NtProtection.win32(fromCode: info.protection) : [],
        type: info.type == .mapped ? .mapped : .private)
    }
  }
}
