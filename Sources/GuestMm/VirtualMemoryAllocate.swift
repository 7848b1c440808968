#if canImport(GuestABI)
  import GuestABI
#endif

// NtAllocateVirtualMemory: reserve, and commit.

extension VirtualMemory {
  /// Reserves [base, base + size) (NT's MEM_RESERVE, with `commit` also
  /// MEM_COMMIT): base rounded down to 64 KiB, the end up to a page; base 0
  /// takes the lowest free 64 KiB-aligned gap that fits. Returns the range.
  /// invalidParameter: size 0, wrap, outside [lowest, end); invalidPageProtection;
  /// conflictingAddresses: overlap; noMemory: no gap, table full, or more than
  /// 2^32-1 pages committed at once. With `commit` no PTE is written: the VAD is
  /// marked committedAtReservation and its zero PTEs count as committed.
  public mutating func reserve(base: UInt64, size: UInt64, protection: UInt8, commit: Bool = false)
    -> (status: Status, base: UInt64, size: UInt64)
  {
    guard let wanted = Self.reservationRange(base: base, size: size) else { return (.invalidParameter, 0, 0) }
    guard ProtectionRules.isValidForPrivate(protection) else { return (.invalidPageProtection, 0, 0) }
    guard !commit || wanted.count <= UInt64(UInt32.max) else { return (.noMemory, 0, 0) }
    var range = wanted
    if base == 0 {
      guard let gap = lowestGap(pages: wanted.count) else { return (.noMemory, 0, 0) }
      range = gap
    }
    let index = vads.firstIndex(startingAfter: range.last)
    if index > 0, vads[index - 1].endPage >= range.first { return (.conflictingAddresses, 0, 0) }
    let entry = VadEntry(
      startPage: range.first, endPage: range.last, protection: protection,
      flags: commit ? .committedAtReservation : [], committedPages: commit ? UInt32(range.count) : 0)
    guard vads.insert(entry, at: index) else { return (.noMemory, 0, 0) }
    return (.success, range.baseAddress, range.byteCount)
  }

  /// The pages a reservation of `size` bytes at `base` covers (base 0: from
  /// `UserAddressSpace.lowest`, to be moved to a gap); nil when invalid.
  static func reservationRange(base: UInt64, size: UInt64) -> PageRange? {
    let start = base == 0 ? UserAddressSpace.lowest : base & ~(UserAddressSpace.allocationGranularity - 1)
    let (end, wrapped) = (base == 0 ? start : base).addingReportingOverflow(size)
    guard size != 0, !wrapped, start >= UserAddressSpace.lowest, end <= UserAddressSpace.end else { return nil }
    return PageRange(first: start >> 12, last: (end - 1) >> 12)
  }

  /// The lowest 64 KiB-aligned run of `pages` free pages in the user half.
  func lowestGap(pages: UInt64) -> PageRange? {
    let granule = UserAddressSpace.allocationGranularity >> 12
    var candidate = UserAddressSpace.lowest >> 12
    let limit = UserAddressSpace.end >> 12
    var index = 0
    while true {
      let next = index < vads.count ? vads[index].startPage : limit
      if next >= candidate, next - candidate >= pages {
        return PageRange(first: candidate, last: candidate + pages - 1)
      }
      if index == vads.count { return nil }
      let after = vads[index].endPage + 1
      candidate = max(candidate, (after + granule - 1) / granule * granule)
      index += 1
    }
  }

  /// Commits the pages of [base, base + size) with `protection` (MEM_COMMIT).
  /// The range must lie in one private VAD; uncommitted pages become demand
  /// zero, committed ones keep their contents and take the new protection (as
  /// NT does). Base 0 reserves and commits (NT's MEM_COMMIT without a base).
  /// invalidParameter: size 0, wrap, past the user half; invalidPageProtection;
  /// conflictingAddresses: not inside one VAD; notSupported: a mapped view;
  /// noMemory: page tables ran out (rolled back) or the count would pass 2^32-1.
  public mutating func commit(base: UInt64, size: UInt64, protection: UInt8)
    -> (status: Status, base: UInt64, size: UInt64)
  {
    if base == 0 { return reserve(base: 0, size: size, protection: protection, commit: true) }
    guard let range = Self.userPages(base: base, size: size) else { return (.invalidParameter, 0, 0) }
    guard ProtectionRules.isValidForPrivate(protection) else { return (.invalidPageProtection, 0, 0) }
    guard let index = vadIndex(holding: range) else { return (.conflictingAddresses, 0, 0) }
    let vad = vads[index]
    guard vad.type == .private else { return (.notSupported, 0, 0) }
    guard UInt64(vad.committedPages) + range.count <= UInt64(UInt32.max) else { return (.noMemory, 0, 0) }
    guard apply(.commit(protection), to: range, vadIndex: index) else { return (.noMemory, 0, 0) }
    return (.success, range.baseAddress, range.byteCount)
  }
}
