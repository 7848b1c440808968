#if canImport(GuestABI)
  import GuestABI
#endif

/// One process's virtual memory with NT semantics: its VAD table and, through
/// `Backend`, its PTEs. Every operation returns a `Status`; one that fails
/// leaves the VAD table and the PTEs as they were.
///
/// PTE conventions (4 KiB pages):
/// - zero: uncommitted, except in a VAD committed at reservation, where it is
///   committed with the VAD's protection (NT's lazy MEM_COMMIT);
/// - demand zero with `PageProtection.decommitted`: decommitted, in such a VAD;
/// - demand zero with a code: committed, not yet touched;
/// - valid: committed and mapped; bits 52-56 keep the protection code.
public struct VirtualMemory<Backend: AddressSpaceBackend> {
  public var backend: Backend
  public let vads: VadTableView

  public init(backend: Backend, vads: VadTableView) {
    self.backend = backend
    self.vads = vads
  }
}

/// An inclusive range of virtual page numbers.
struct PageRange {
  var first: UInt64
  var last: UInt64

  var count: UInt64 { last - first + 1 }
  var baseAddress: UInt64 { first << 12 }
  var byteCount: UInt64 { count << 12 }
}

/// What the range engine does to each PTE of a range.
enum RangeEdit {
  /// Commit with a protection; committed pages take the protection, keep their contents.
  case commit(UInt8)
  /// Change committed pages' protection.
  case protect(UInt8)
  /// Back to reserved.
  case decommit
  /// Back to free: every PTE zero.
  case delete

  /// Whether the pages stay in the VAD (all but `delete`).
  var keepsPages: Bool {
    if case .delete = self { return false }
    return true
  }
}

extension VirtualMemory {
  /// The pages holding bytes [base, base + size): nil when size is 0, the sum
  /// wraps or the range reaches past the user half.
  static func userPages(base: UInt64, size: UInt64) -> PageRange? {
    let (end, wrapped) = base.addingReportingOverflow(size)
    guard size != 0, !wrapped, end <= UserAddressSpace.end else { return nil }
    return PageRange(first: base >> 12, last: (end - 1) >> 12)
  }

  /// Whether `pte`, inside `vad`, is a committed page.
  static func isCommitted(_ pte: UInt64, in vad: VadEntry) -> Bool {
    if pte == 0 || pte == pendingPTE { return vad.isCommittedAtReservation }
    return pte != decommittedPTE
  }

  /// The protection of the committed page whose PTE, inside `vad`, is `pte`.
  static func protection(of pte: UInt64, in vad: VadEntry) -> UInt8 {
    switch SoftwarePTE(raw: pte) {
    case .valid(let raw): return ProtectionRules.protection(ofValid: raw)
    case .zero: return vad.protection
    case .prototype(_, let protection, _): return protection
    case .transition(_, let protection): return protection
    case .pageFile(_, _, let protection): return protection
    case .demandZero(let protection): return protection
    }
  }

  /// The PTE of a decommitted page in a VAD committed at reservation.
  static var decommittedPTE: UInt64 { SoftwarePTE.demandZero(protection: PageProtection.decommitted).raw }

  /// A placeholder the range engine parks in a zero PTE to get its page table
  /// made before it changes anything else; never seen outside an operation
  /// (protection 0x08, no-cache without access, is no valid code).
  static var pendingPTE: UInt64 { SoftwarePTE.demandZero(protection: PageProtection.noCache).raw }

  /// The index of the VAD holding all of `range`, if one does.
  func vadIndex(holding range: PageRange) -> Int? {
    guard let index = vads.index(containing: range.first), range.last <= vads[index].endPage else { return nil }
    return index
  }
}

// MARK: The range engine

extension VirtualMemory {
  /// The PTE `edit` makes of `old` (a PTE of `vad`; `pendingPTE` reads as zero).
  static func edited(_ old: UInt64, _ edit: RangeEdit, in vad: VadEntry) -> UInt64 {
    let pte = old == pendingPTE ? 0 : old
    switch edit {
    case .delete: return 0
    case .decommit: return vad.isCommittedAtReservation ? decommittedPTE : 0
    case .protect(let code): return reprotected(pte, to: code, in: vad)
    case .commit(let code):
      if isCommitted(pte, in: vad) { return reprotected(pte, to: code, in: vad) }
      return SoftwarePTE.demandZero(protection: code).raw
    }
  }

  /// A committed page's PTE with protection `code`, its state otherwise kept.
  static func reprotected(_ pte: UInt64, to code: UInt8, in vad: VadEntry) -> UInt64 {
    switch SoftwarePTE(raw: pte) {
    case .valid(let raw): return ProtectionRules.reprotect(valid: raw, to: code)
    case .zero: return code == vad.protection ? 0 : SoftwarePTE.demandZero(protection: code).raw
    case .prototype(let address, _, let viaVAD):
      return SoftwarePTE.prototype(address: address, protection: code, viaVAD: viaVAD).raw
    case .transition(let pfn, _): return SoftwarePTE.transition(pfn: pfn, protection: code).raw
    case .pageFile(let file, let offset, _):
      return SoftwarePTE.pageFile(file: file, offset: offset, protection: code).raw
    case .demandZero: return SoftwarePTE.demandZero(protection: code).raw
    }
  }

  /// Applies `edit` to every PTE of `range` (inside the VAD at `vadIndex`) and
  /// updates the VAD's committed count. First it makes sure a page table holds
  /// every zero PTE that becomes nonzero (parking `pendingPTE` in one per
  /// table); if that runs out of memory it takes the placeholders back and
  /// returns false with nothing changed. The second pass writes only into
  /// existing tables, which the backend contract says cannot fail (if one does,
  /// the pages before it stay edited and counted). No edit turns a nonzero PTE
  /// into zero while turning zero into nonzero, so no table goes away in between.
  mutating func apply(_ edit: RangeEdit, to range: PageRange, vadIndex: Int) -> Bool {
    var vad = vads[vadIndex]
    guard prepareTables(for: edit, range, vad) else { return false }
    var committed = Int64(vad.committedPages)
    var page = range.first
    var written = true
    while written {
      let old = backend.readPTE(page << 12)
      let new = Self.edited(old, edit, in: vad)
      written = new == old || replacePTE(page << 12, old, with: new)
      if written {
        let stays = edit.keepsPages && Self.isCommitted(new, in: vad)
        committed += (stays ? 1 : 0) - (Self.isCommitted(old, in: vad) ? 1 : 0)
      }
      if page == range.last { break }
      page += 1
    }
    vad.committedPages = UInt32(clamping: committed)
    vads[vadIndex] = vad
    return written
  }

  /// Pass one of `apply`: a page table for every zero PTE of `range` that `edit`
  /// makes nonzero. False, with the placeholders taken back, when out of memory.
  mutating func prepareTables(for edit: RangeEdit, _ range: PageRange, _ vad: VadEntry) -> Bool {
    guard Self.edited(0, edit, in: vad) != 0 else { return true }
    var page = range.first
    var readyTable = UInt64.max
    while true {
      if page >> 9 != readyTable {
        if backend.readPTE(page << 12) != 0 {
          readyTable = page >> 9
        } else if replacePTE(page << 12, 0, with: Self.pendingPTE) {
          readyTable = page >> 9
        } else {
          if page > range.first { dropPending(PageRange(first: range.first, last: page - 1)) }
          return false
        }
      }
      if page == range.last { return true }
      page += 1
    }
  }

  /// Takes back the placeholders `prepareTables` parked in `range` (at most one per table).
  mutating func dropPending(_ range: PageRange) {
    var page = range.first
    while true {
      if backend.readPTE(page << 12) == Self.pendingPTE { _ = replacePTE(page << 12, Self.pendingPTE, with: 0) }
      if page == range.last { return }
      page += 1
    }
  }
}
