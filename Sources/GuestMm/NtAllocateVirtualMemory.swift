#if canImport(GuestABI)
  import GuestABI
#endif

// NtAllocateVirtualMemory with Windows' checks and statuses.

extension VirtualMemory {
  /// NtAllocateVirtualMemory. Checks in WRK allocvm.c's order (ReactOS keeps
  /// it): ZeroBits (_3), AllocationType (_5), MEM_PHYSICAL's protection (_6),
  /// Protect (STATUS_INVALID_PAGE_PROTECTION), base above
  /// MM_HIGHEST_VAD_ADDRESS (_2), size past it or 0 (_4). Then the flags the
  /// Mm lacks are STATUS_NOT_IMPLEMENTED, where ReactOS refuses them too. Base 0
  /// or MEM_RESERVE reserves (MEM_COMMIT too: committed at reservation, one
  /// step); otherwise MEM_COMMIT commits inside an existing reservation.
  /// Out parameters are the rounded range, zero on failure.
  public mutating func ntAllocateVirtualMemory(
    baseAddress: UInt64, zeroBits: UInt64, regionSize: UInt64, allocationType: UInt32, protect: UInt32
  ) -> (status: Status, baseAddress: UInt64, regionSize: UInt64) {
    guard let limit = Self.zeroBitsLimit(zeroBits) else { return (.invalidParameter3, 0, 0) }
    let typeStatus = Self.allocationTypeStatus(allocationType, protect: protect)
    guard typeStatus == .success else { return (typeStatus, 0, 0) }
    guard let code = NtProtection.code(fromWin32: protect) else { return (.invalidPageProtection, 0, 0) }
    guard baseAddress <= NtUserAddresses.highestVadAddress else { return (.invalidParameter2, 0, 0) }
    let room = NtUserAddresses.highestVadAddress + 1 - baseAddress
    guard regionSize != 0, regionSize <= room else { return (.invalidParameter4, 0, 0) }
    let type = MemoryAllocationType(rawValue: allocationType)
    if !type.isDisjoint(with: Self.notImplementedTypes) { return (.notImplemented, 0, 0) }
    if baseAddress == 0 || type.contains(.reserve) {
      return ntReserve(baseAddress, regionSize, limit: limit, type: type, code: code)
    }
    return ntCommit(baseAddress, regionSize, code: code)
  }

  /// MEM_RESET, MEM_RESET_UNDO, MEM_LARGE_PAGES, MEM_PHYSICAL, MEM_WRITE_WATCH:
  /// valid to Windows, beyond this Mm (no page file, no AWE, no large pages).
  static var notImplementedTypes: MemoryAllocationType {
    [.reset, .resetUndo, .largePages, .physical, .writeWatch]
  }

  /// The highest address an allocation placed by the system may end at, for
  /// `zeroBits` (WRK, 64-bit): 0 no constraint; 1...21 count leading zero bits
  /// from bit 31 (bits 63-32 zero too: 32 added); 22...31 and any count past
  /// 53 are _3 (nil); 32 and up is a mask whose leading zeros are the count.
  /// The limit is kept below MM_HIGHEST_VAD_ADDRESS: WRK returns _3 there,
  /// Windows 10 accepts such masks (Wine's tests, run on Windows, and a
  /// published experiment with masks 0x7FFF... succeeding), as done here.
  static func zeroBitsLimit(_ zeroBits: UInt64) -> UInt64? {
    if zeroBits == 0 { return NtUserAddresses.highestVadAddress }
    let count = zeroBits < 32 ? zeroBits + 32 : UInt64(zeroBits.leadingZeroBitCount)
    guard count <= 53 else { return nil }
    return Swift.min(UInt64.max >> count, NtUserAddresses.highestVadAddress)
  }

  /// The AllocationType checks (WRK order, all _5 but one): no unknown bit;
  /// one of MEM_COMMIT, MEM_RESERVE, MEM_RESET; MEM_RESET alone; MEM_LARGE_PAGES
  /// with MEM_COMMIT and without MEM_PHYSICAL or MEM_WRITE_WATCH; MEM_WRITE_WATCH
  /// with MEM_RESERVE, without MEM_PHYSICAL; MEM_PHYSICAL with MEM_RESERVE, at
  /// most MEM_TOP_DOWN beside, and PAGE_READWRITE (else _6). MEM_RESET_UNDO
  /// (Windows 8, after WRK) is accepted alone, as VirtualAlloc documents it.
  static func allocationTypeStatus(_ raw: UInt32, protect: UInt32) -> Status {
    let type = MemoryAllocationType(rawValue: raw)
    if type == .resetUndo { return .success }
    let known: MemoryAllocationType = [.commit, .reserve, .reset, .topDown, .writeWatch, .physical, .largePages]
    guard type.isSubset(of: known), !type.isDisjoint(with: [.commit, .reserve, .reset]) else {
      return .invalidParameter5
    }
    if type.contains(.reset) && type != .reset { return .invalidParameter5 }
    if type.contains(.largePages) {
      return type.contains(.commit) && type.isDisjoint(with: [.physical, .writeWatch]) ? .success : .invalidParameter5
    }
    if type.contains(.writeWatch) {
      return type.contains(.reserve) && !type.contains(.physical) ? .success : .invalidParameter5
    }
    guard type.contains(.physical) else { return .success }
    guard type.contains(.reserve), type.isSubset(of: [.reserve, .topDown, .physical]) else { return .invalidParameter5 }
    return protect == Win32Protection.readWrite.rawValue ? .success : .invalidParameter6
  }

  /// The reserve path (base 0 or MEM_RESERVE). Facts (WRK, ReactOS, VirtualAlloc
  /// docs): write-copy is refused for private memory; a given base is rounded
  /// down to 64 KiB and the end up to a page, a chosen base takes the size
  /// rounded up to pages; the VAD record is had first (STATUS_INSUFFICIENT_
  /// RESOURCES), then a gap is found (MEM_TOP_DOWN: the highest; none below
  /// the ZeroBits limit: STATUS_NO_MEMORY) or the range checked for overlap
  /// (STATUS_CONFLICTING_ADDRESSES). Below the first 64 KiB is _2 (no source
  /// names it; the bound the base would break, as above MM_HIGHEST_VAD_ADDRESS).
  mutating func ntReserve(_ base: UInt64, _ size: UInt64, limit: UInt64, type: MemoryAllocationType, code: UInt8)
    -> (status: Status, baseAddress: UInt64, regionSize: UInt64)
  {
    if NtProtection.isWriteCopy(code) { return (.invalidPageProtection, 0, 0) }
    let granule = UserAddressSpace.allocationGranularity
    if base != 0 && base & ~(granule - 1) < UserAddressSpace.lowest { return (.invalidParameter2, 0, 0) }
    if vads.count == vads.capacity { return (.insufficientResources, 0, 0) }
    var start = base & ~(granule - 1)
    var bytes = ((base + size - 1) | (UserAddressSpace.pageSize - 1)) + 1 - start
    if base == 0 {
      bytes = (size + UserAddressSpace.pageSize - 1) & ~(UserAddressSpace.pageSize - 1)
      guard let gap = freeGap(pages: bytes >> 12, limit: limit, topDown: type.contains(.topDown)) else {
        return (.noMemory, 0, 0)
      }
      start = gap.baseAddress
    }
    let result = reserve(base: start, size: bytes, protection: code, commit: type.contains(.commit))
    guard result.status == .success else { return (result.status, 0, 0) }
    return (.success, result.base, result.size)
  }

  /// The lowest (or with `topDown` the highest) 64 KiB-aligned run of `pages`
  /// free pages ending at or below `limit`. The lowest is the first gap that
  /// fits at all: if it ends above the limit, nothing lower can (WRK's order).
  func freeGap(pages: UInt64, limit: UInt64, topDown: Bool) -> PageRange? {
    if topDown { return highestGap(pages: pages, lastPage: limit >> 12) }
    guard let gap = lowestGap(pages: pages), gap.last <= limit >> 12 else { return nil }
    return gap
  }

  /// The highest 64 KiB-aligned run of `pages` free pages at or below
  /// `lastPage`, walking the gaps between VADs from the top down.
  func highestGap(pages: UInt64, lastPage: UInt64) -> PageRange? {
    let granule = UserAddressSpace.allocationGranularity >> 12
    let lowestPage = UserAddressSpace.lowest >> 12
    var top = lastPage
    var index = vads.count
    while true {
      let floor = index > 0 ? Swift.max(vads[index - 1].endPage + 1, lowestPage) : lowestPage
      if top >= floor, top - floor + 1 >= pages {
        let first = (top + 1 - pages) / granule * granule
        if first >= floor { return PageRange(first: first, last: first + pages - 1) }
      }
      if index == 0 { return nil }
      top = Swift.min(top, vads[index - 1].startPage - 1)
      index -= 1
    }
  }

  /// The commit path: MEM_COMMIT at a base inside a reservation. Facts (WRK,
  /// ReactOS, VirtualAlloc docs): the base rounds down to a page, the end up;
  /// the range must lie in one VAD (else STATUS_CONFLICTING_ADDRESSES, which
  /// Win32 reports as ERROR_INVALID_ADDRESS); write-copy is refused for private
  /// memory after that check; committed pages stay committed and take the new
  /// protection. Inside a view, the section's pages commit (`commitView`).
  mutating func ntCommit(_ base: UInt64, _ size: UInt64, code: UInt8)
    -> (status: Status, baseAddress: UInt64, regionSize: UInt64)
  {
    let start = base & ~(UserAddressSpace.pageSize - 1)
    let bytes = ((base + size - 1) | (UserAddressSpace.pageSize - 1)) + 1 - start
    let range = PageRange(first: start >> 12, last: (start + bytes - 1) >> 12)
    guard let index = vadIndex(holding: range) else { return (.conflictingAddresses, 0, 0) }
    guard vads[index].type == .private else { return commitView(range, vads[index], code: code) }
    if NtProtection.isWriteCopy(code) { return (.invalidPageProtection, 0, 0) }
    let result = commit(base: start, size: bytes, protection: code)
    guard result.status == .success else { return (result.status, 0, 0) }
    return (.success, result.base, result.size)
  }
}
