#if canImport(GuestABI)
  import GuestABI
#endif

// NtFreeVirtualMemory and NtProtectVirtualMemory with Windows' checks and statuses.

extension VirtualMemory {
  /// NtFreeVirtualMemory. Checks in WRK freevm.c's order (ReactOS the same):
  /// FreeType with a bit other than MEM_DECOMMIT/MEM_RELEASE, neither or both
  /// (_4); base above MM_HIGHEST_USER_ADDRESS (_2); size past it (_3); no VAD
  /// at the base's page (STATUS_MEMORY_NOT_ALLOCATED); the range past the VAD's
  /// end (STATUS_UNABLE_TO_FREE_VM); a mapped view (STATUS_UNABLE_TO_DELETE_
  /// SECTION). The range is the base's page to the page of its last byte.
  public mutating func ntFreeVirtualMemory(baseAddress: UInt64, regionSize: UInt64, freeType: UInt32)
    -> (status: Status, baseAddress: UInt64, regionSize: UInt64)
  {
    let type = MemoryAllocationType(rawValue: freeType)
    guard type == .decommit || type == .release else { return (.invalidParameter4, 0, 0) }
    guard baseAddress <= NtUserAddresses.highestUserAddress else { return (.invalidParameter2, 0, 0) }
    guard regionSize <= NtUserAddresses.highestUserAddress - baseAddress else { return (.invalidParameter3, 0, 0) }
    let firstPage = baseAddress >> 12
    let lastPage = (baseAddress &+ regionSize &- 1) >> 12
    guard let index = vads.index(containing: firstPage) else { return (.memoryNotAllocated, 0, 0) }
    let vad = vads[index]
    if regionSize != 0 && lastPage > vad.endPage { return (.unableToFreeVm, 0, 0) }
    guard vad.type == .private else { return (.unableToDeleteSection, 0, 0) }
    let range = PageRange(first: firstPage, last: regionSize == 0 ? vad.endPage : lastPage)
    if regionSize == 0 && firstPage != vad.startPage { return (.freeVmNotAtBase, 0, 0) }
    if type == .release { return ntRelease(range, vadIndex: index) }
    let result = decommit(base: range.baseAddress, size: range.byteCount)
    guard result.status == .success else { return (result.status, 0, 0) }
    // Windows after 10 1709 reports size 0 for a whole-VAD decommit (Wine's
    // tests on Windows; WRK and older Windows reported the VAD's size).
    return (.success, result.base, regionSize == 0 ? 0 : result.size)
  }

  /// MEM_RELEASE of `range` in the VAD at `index`: the whole VAD, its start,
  /// its end, or its middle, which splits it and needs a second VAD record
  /// (WRK: a failed allocation is STATUS_INSUFFICIENT_RESOURCES).
  mutating func ntRelease(_ range: PageRange, vadIndex index: Int)
    -> (status: Status, baseAddress: UInt64, regionSize: UInt64)
  {
    let vad = vads[index]
    let splits = range.first > vad.startPage && range.last < vad.endPage
    if splits && vads.count == vads.capacity { return (.insufficientResources, 0, 0) }
    let result = release(base: range.baseAddress, size: range.byteCount)
    guard result.status == .success else { return (result.status, 0, 0) }
    return (.success, result.base, result.size)
  }

  /// NtProtectVirtualMemory. Checks (WRK's MiMakeProtectionMask, ReactOS's
  /// NtProtectVirtualMemory and MiProtectVirtualMemory order): the protection
  /// (STATUS_INVALID_PAGE_PROTECTION); base above MM_HIGHEST_USER_ADDRESS (_2);
  /// size past MM_USER_PROBE_ADDRESS or 0 (_3); the rounded range not inside
  /// one VAD (STATUS_CONFLICTING_ADDRESSES); write-copy on private memory (_4,
  /// ReactOS); a page not committed (STATUS_NOT_COMMITTED). OldProtect is the
  /// first page's protection; a mapped view's protection is not implemented.
  public mutating func ntProtectVirtualMemory(baseAddress: UInt64, regionSize: UInt64, newProtect: UInt32)
    -> (status: Status, baseAddress: UInt64, regionSize: UInt64, oldProtect: UInt32)
  {
    guard let code = NtProtection.code(fromWin32: newProtect) else { return (.invalidPageProtection, 0, 0, 0) }
    guard baseAddress <= NtUserAddresses.highestUserAddress else { return (.invalidParameter2, 0, 0, 0) }
    let room = NtUserAddresses.userProbeAddress - baseAddress
    guard regionSize != 0, regionSize <= room else { return (.invalidParameter3, 0, 0, 0) }
    let range = PageRange(first: baseAddress >> 12, last: (baseAddress + regionSize - 1) >> 12)
    guard let index = vadIndex(holding: range) else { return (.conflictingAddresses, 0, 0, 0) }
    guard vads[index].type == .private else { return (.notImplemented, 0, 0, 0) }
    if NtProtection.isWriteCopy(code) { return (.invalidParameter4, 0, 0, 0) }
    let result = protect(base: range.baseAddress, size: range.byteCount, protection: code)
    guard result.status == .success else { return (result.status, 0, 0, 0) }
    let old = NtProtection.win32(fromCode: result.oldProtection).rawValue
    return (.success, range.baseAddress, range.byteCount, old)
  }
}
