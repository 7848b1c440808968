#if canImport(GuestABI)
  import GuestABI
#endif

/// What a fault on a view does, decided from the prototype PTE the view's
/// PTE points at (hardware-free: the guest carries it out, host tests check it).
public enum PrototypeFaultDecision: Equatable, Sendable {
  /// The prototype PTE is valid: map the same PFN (its share count goes up).
  case shareValid(pfn: UInt64)
  /// The page is still in memory on standby or modified: take it back, no I/O.
  case reclaim(pfn: UInt64)
  /// Read section pages [firstPage, firstPage + pageCount) from the file in one
  /// request; bytes from `validBytes` (counted from the first page) on are zero.
  case readFile(firstPage: UInt64, pageCount: UInt64, validBytes: UInt64)
  /// A page-file-backed page never touched: a zeroed page.
  case zeroPage
  /// The page is in the page file (the paging issue brings that path).
  case pageFileRead
  /// The view's protection forbids the access.
  case accessViolation
  /// The fault is past the section's last page (a view reaching past the end of its file).
  case beyondSection
}

/// Faults on section views (NT's MiResolveProtoPteFault and the read clustering of MiResolveMappedFileFault).
public enum PrototypeFault {
  /// Pages one file read brings in at most: 64 KiB.
  public static let clusterPages: UInt64 = 16

  /// The decision for `access` at section page `page` through a view of
  /// protection `protection`. `prototype(n)` is the raw prototype PTE of
  /// section page n (SectionLayout's formats): valid, transition, demand zero
  /// (a page-file-backed page never touched), a prototype-format PTE (a file
  /// page still only in its file, NT's subsection PTE), or zero (a page of a
  /// SEC_RESERVE section not committed: an access violation).
  public static func decide(
    page: UInt64, access: MemoryAccess, protection: UInt8, sectionPages: UInt64, fileBacked: Bool,
    validDataLength: UInt64, prototype: (UInt64) -> UInt64
  ) -> PrototypeFaultDecision {
    guard ProtectionRules.allows(protection, access) else { return .accessViolation }
    guard page < sectionPages else { return .beyondSection }
    let raw = prototype(page)
    switch SoftwarePTE(raw: raw) {
    case .valid(let raw): return .shareValid(pfn: (raw & HardwarePTE.frameMask) >> 12)
    case .transition(let pfn, _): return .reclaim(pfn: pfn)
    case .pageFile: return .pageFileRead
    case .demandZero: return .zeroPage
    case .zero: return .accessViolation
    case .prototype:
      guard fileBacked else { return .accessViolation }
      return cluster(
        around: page, sectionPages: sectionPages, validDataLength: validDataLength, inFile: raw, prototype: prototype)
    }
  }

  /// The run of still-in-the-file pages (prototype PTE `inFile`) around `page`
  /// inside its aligned 64 KiB block of the section, stopping at a page
  /// already in memory or in transition.
  static func cluster(
    around page: UInt64, sectionPages: UInt64, validDataLength: UInt64, inFile: UInt64,
    prototype: (UInt64) -> UInt64
  ) -> PrototypeFaultDecision {
    let blockStart = page - page % clusterPages
    let blockEnd = min(blockStart + clusterPages, sectionPages)
    var first = page
    while first > blockStart, prototype(first - 1) == inFile { first -= 1 }
    var end = page + 1
    while end < blockEnd, prototype(end) == inFile { end += 1 }
    let start = first << 12
    let valid = validDataLength > start ? min(validDataLength - start, (end - first) << 12) : 0
    return .readFile(firstPage: first, pageCount: end - first, validBytes: valid)
  }
}
