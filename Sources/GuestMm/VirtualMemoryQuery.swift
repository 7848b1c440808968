#if canImport(GuestABI)
  import GuestABI
#endif

// NtProtectVirtualMemory and NtQueryVirtualMemory (MemoryBasicInformation).

/// The state of a run of pages.
public enum MemoryState: UInt8, Sendable {
  case free, reserved, committed
}

/// What `query` says about the run of pages at an address (NT's
/// MEMORY_BASIC_INFORMATION, with protection codes instead of PAGE_* flags).
public struct MemoryBasicInformation: Equatable, Sendable {
  /// The page holding the address.
  public var baseAddress: UInt64
  /// The VAD's first byte; 0 for free memory.
  public var allocationBase: UInt64
  /// The protection given at reservation; 0 for free memory.
  public var allocationProtection: UInt8
  /// Bytes from `baseAddress` with the same state and protection (to the VAD's
  /// end, or for free memory to the next VAD or the end of the user half).
  public var regionSize: UInt64
  public var state: MemoryState
  /// Committed: the page's code; reserved: 0; free: `PageProtection.inaccessible`.
  public var protection: UInt8
  /// The VAD's type; nil for free memory.
  public var type: VadType?

  public init(
    baseAddress: UInt64, allocationBase: UInt64, allocationProtection: UInt8, regionSize: UInt64,
    state: MemoryState, protection: UInt8, type: VadType?
  ) {
    self.baseAddress = baseAddress
    self.allocationBase = allocationBase
    self.allocationProtection = allocationProtection
    self.regionSize = regionSize
    self.state = state
    self.protection = protection
    self.type = type
  }
}

extension VirtualMemory {
  /// The protection code of the committed page holding `va`, nil when none
  /// is committed there (MmProbeAndLockPages' check of one page: no region
  /// walk, unlike NtQueryVirtualMemory).
  public func committedProtection(at va: UInt64) -> UInt8? {
    guard va >= UserAddressSpace.lowest, va < UserAddressSpace.end, let index = vads.index(containing: va >> 12)
    else { return nil }
    let vad = vads[index]
    let pte = backend.readPTE(va & ~(UserAddressSpace.pageSize - 1))
    guard isCommitted(pte, page: va >> 12, in: vad) else { return nil }
    return Self.protection(of: pte, in: vad)
  }

  /// Sets the protection of the pages of [base, base + size), all committed,
  /// in one private VAD; returns the first page's old protection. Valid pages
  /// keep frame, A and D. invalidParameter: size 0, wrap, past the user half;
  /// invalidPageProtection; conflictingAddresses: not inside one VAD;
  /// notSupported: a mapped view; notCommitted: a page is not committed;
  /// noMemory: page tables ran out (rolled back).
  public mutating func protect(base: UInt64, size: UInt64, protection: UInt8) -> (status: Status, oldProtection: UInt8)
  {
    guard let range = Self.userPages(base: base, size: size) else { return (.invalidParameter, 0) }
    guard ProtectionRules.isValidForPrivate(protection) else { return (.invalidPageProtection, 0) }
    guard let index = vadIndex(holding: range) else { return (.conflictingAddresses, 0) }
    let vad = vads[index]
    guard vad.type == .private else { return (.notSupported, 0) }
    guard UInt64(committedPages(in: range, of: vad)) == range.count else { return (.notCommitted, 0) }
    let old = Self.protection(of: backend.readPTE(range.baseAddress), in: vad)
    guard apply(.protect(protection), to: range, vadIndex: index) else { return (.noMemory, 0) }
    return (.success, old)
  }

  /// Describes the run of pages starting at `address`'s page that share its
  /// state and protection. invalidParameter: an address past the user half.
  public func query(_ address: UInt64) -> (status: Status, info: MemoryBasicInformation) {
    let page = address >> 12
    guard address < UserAddressSpace.end else {
      return (
        .invalidParameter,
        MemoryBasicInformation(
          baseAddress: page << 12, allocationBase: 0, allocationProtection: 0, regionSize: 0, state: .free,
          protection: 0, type: nil)
      )
    }
    guard let index = vads.index(containing: page) else { return (.success, freeRun(at: page)) }
    return (.success, vadRun(at: page, in: vads[index]))
  }

  /// The free run from `page` to the next VAD or the end of the user half.
  func freeRun(at page: UInt64) -> MemoryBasicInformation {
    let next = vads.firstIndex(startingAfter: page)
    let end = next < vads.count ? vads[next].startPage : UserAddressSpace.end >> 12
    return MemoryBasicInformation(
      baseAddress: page << 12, allocationBase: 0, allocationProtection: 0, regionSize: (end - page) << 12,
      state: .free, protection: PageProtection.inaccessible, type: nil)
  }

  /// The run from `page` inside `vad` with one state and protection.
  func vadRun(at page: UInt64, in vad: VadEntry) -> MemoryBasicInformation {
    let (committed, protection) = pageState(page, in: vad)
    var last = page
    let nothingCommitted = !vad.isCommittedAtReservation && vad.committedPages == 0
    if nothingCommitted {
      last = vad.endPage
    } else {
      while last < vad.endPage {
        let next = pageState(last + 1, in: vad)
        if next.committed != committed || next.protection != protection { break }
        last += 1
      }
    }
    return MemoryBasicInformation(
      baseAddress: page << 12, allocationBase: vad.startPage << 12, allocationProtection: vad.protection,
      regionSize: (last - page + 1) << 12, state: committed ? .committed : .reserved, protection: protection,
      type: vad.type)
  }

  /// Whether `page` of `vad` is committed, and its protection (0 if not).
  func pageState(_ page: UInt64, in vad: VadEntry) -> (committed: Bool, protection: UInt8) {
    let pte = backend.readPTE(page << 12)
    guard isCommitted(pte, page: page, in: vad) else { return (false, 0) }
    return (true, Self.protection(of: pte, in: vad))
  }

  /// Whether `page` of `vad`, whose PTE is `pte`, is committed. A view page
  /// not mapped yet is committed when its prototype PTE is: a SEC_RESERVE
  /// section's pages are reserved until committed.
  func isCommitted(_ pte: UInt64, page: UInt64, in vad: VadEntry) -> Bool {
    guard Self.isCommitted(pte, in: vad) else { return false }
    guard vad.type == .mapped, pte & 1 == 0 else { return true }
    let sectionPage = Self.sectionPage(of: page << 12, in: vad)
    guard let shape = backend.sections.section(vad.controlArea), sectionPage < shape.pages else { return false }
    return backend.sections.prototypePTE(vad.controlArea, page: sectionPage) != 0
  }
}
