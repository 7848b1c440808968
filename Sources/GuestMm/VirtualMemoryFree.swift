#if canImport(GuestABI)
  import GuestABI
#endif

// NtFreeVirtualMemory: decommit, and release.

extension VirtualMemory {
  /// Decommits the pages of [base, base + size) (MEM_DECOMMIT); size 0 means
  /// from base's page to the end of its VAD. Mapped pages are freed (the
  /// backend frees a page whose last valid PTE goes); pages that were not
  /// committed are fine, as on NT. Returns the range.
  /// invalidParameter: base past the user half, wrap; memoryNotAllocated: base
  /// in no VAD; unableToFreeVm: the range runs past its VAD; unableToDeleteSection: a
  /// mapped view; noMemory: page tables ran out (VADs committed at
  /// reservation need a decommitted marker in each PTE; rolled back).
  public mutating func decommit(base: UInt64, size: UInt64) -> (status: Status, base: UInt64, size: UInt64) {
    let found = freeRange(base: base, size: size)
    guard found.status == .success else { return (found.status, 0, 0) }
    guard vads[found.index].type == .private else { return (.unableToDeleteSection, 0, 0) }
    guard apply(.decommit, to: found.range, vadIndex: found.index) else { return (.noMemory, 0, 0) }
    return (.success, found.range.baseAddress, found.range.byteCount)
  }

  /// Releases [base, base + size) (MEM_RELEASE): size 0 releases the whole VAD
  /// starting at base's page; otherwise the range is cut out of its VAD, which
  /// shrinks, splits in two or goes, as NT allows. Its pages are decommitted
  /// first. invalidParameter: base past the user half, wrap; memoryNotAllocated:
  /// base in no VAD; freeVmNotAtBase: size 0 and base not a VAD's start;
  /// unableToFreeVm: past the VAD's end; unableToDeleteSection: a mapped view; noMemory:
  /// a split with the table full.
  public mutating func release(base: UInt64, size: UInt64) -> (status: Status, base: UInt64, size: UInt64) {
    let found = freeRange(base: base, size: size)
    guard found.status == .success else { return (found.status, 0, 0) }
    let vad = vads[found.index]
    let range = found.range
    if size == 0, range.first != vad.startPage { return (.freeVmNotAtBase, 0, 0) }
    guard vad.type == .private else { return (.unableToDeleteSection, 0, 0) }
    let split = range.first > vad.startPage && range.last < vad.endPage
    if split, vads.count == vads.capacity { return (.noMemory, 0, 0) }
    let rightCommitted = split ? committedPages(in: PageRange(first: range.last + 1, last: vad.endPage), of: vad) : 0
    _ = apply(.delete, to: range, vadIndex: found.index)  // writes only zeros: cannot fail
    cut(range, fromVadAt: found.index, rightCommitted: rightCommitted)
    return (.success, range.baseAddress, range.byteCount)
  }

  /// The range and VAD a decommit or release of (base, size) works on; size 0
  /// runs to the VAD's end. A status other than success says why there is none.
  func freeRange(base: UInt64, size: UInt64) -> (status: Status, range: PageRange, index: Int) {
    let none = PageRange(first: 0, last: 0)
    guard base < UserAddressSpace.end else { return (.invalidParameter, none, 0) }
    let asked = size == 0 ? PageRange(first: base >> 12, last: base >> 12) : Self.userPages(base: base, size: size)
    guard let asked else { return (.invalidParameter, none, 0) }
    guard let index = vads.index(containing: asked.first) else { return (.memoryNotAllocated, none, 0) }
    let vad = vads[index]
    if size == 0 { return (.success, PageRange(first: asked.first, last: vad.endPage), index) }
    guard asked.last <= vad.endPage else { return (.unableToFreeVm, none, 0) }
    return (.success, asked, index)
  }

  /// Committed pages of `range`, which lies in `vad` (a read-only scan).
  func committedPages(in range: PageRange, of vad: VadEntry) -> UInt32 {
    if !vad.isCommittedAtReservation && vad.committedPages == 0 { return 0 }
    var count: UInt32 = 0
    var page = range.first
    while true {
      if Self.isCommitted(backend.readPTE(page << 12), in: vad) { count += 1 }
      if page == range.last { return count }
      page += 1
    }
  }

  /// Takes `range` (its PTEs already zero) out of the VAD at `index`: the VAD
  /// goes, shrinks from either end, or splits, the right part holding
  /// `rightCommitted` of its committed pages. A split needs a free record.
  func cut(_ range: PageRange, fromVadAt index: Int, rightCommitted: UInt32) {
    var vad = vads[index]
    if range.first == vad.startPage && range.last == vad.endPage {
      vads.remove(at: index)
    } else if range.first == vad.startPage {
      vad.startPage = range.last + 1
      vads[index] = vad
    } else if range.last == vad.endPage {
      vad.endPage = range.first - 1
      vads[index] = vad
    } else {
      var right = vad
      right.startPage = range.last + 1
      right.committedPages = rightCommitted
      vad.endPage = range.first - 1
      vad.committedPages -= rightCommitted
      vads[index] = vad
      _ = vads.insert(right, at: index + 1)
    }
  }
}
