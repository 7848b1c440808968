#if canImport(GuestABI)
  import GuestABI
#endif

/// Views mapped in system space outside Cc (MmMapViewInSystemSpace): which
/// piece of `SystemViewLayout`'s window each view holds. A view takes whole
/// 64 KiB pieces, the lowest run that fits, and one of a fixed number of
/// records; system space running out of either is STATUS_NO_MEMORY, as NT's
/// MiInsertInSystemSpace failing is. The kernel carries the plan out in the
/// window's page table.
public struct SystemViewSpace: Sendable {
  /// One view: `pages` pages of the section at `controlArea` from byte
  /// `sectionOffset`, mapped at `base` with protection code `protection`.
  public struct View: Equatable, Sendable {
    public var controlArea: UInt64
    public var base: UInt64
    public var sectionOffset: UInt64
    public var pages: UInt64
    public var protection: UInt8

    public func contains(_ address: UInt64) -> Bool { address >= base && address - base < pages << 12 }
    /// The section page the view maps at `address` (inside it).
    public func sectionPage(of address: UInt64) -> UInt64 { sectionOffset >> 12 + (address - base) >> 12 }
  }

  public private(set) var views: [View?]
  /// Bit n set: piece n of the window belongs to a view.
  private var usedPieces: UInt64 = 0

  public init(capacity: Int = SystemViewLayout.views) {
    views = [View?](repeating: nil, count: capacity)
  }

  /// The system-space checks of an NtMapViewOfSection whose ProcessHandle is
  /// "System", after the ones every view gets (`SectionRules.mapView`): system
  /// space chooses the address (a BaseAddress is STATUS_INVALID_PARAMETER_3),
  /// reserves no room past the section (MEM_RESERVE is STATUS_INVALID_PARAMETER_9),
  /// and maps kernel PTEs, which are read-only or read/write and never execute
  /// or copy on write (STATUS_INVALID_PAGE_PROTECTION). nil when they pass.
  public static func refusal(of plan: ViewPlan, baseAddress: UInt64, allocationType: UInt32) -> Status? {
    if baseAddress != 0 { return .invalidParameter3 }
    if allocationType & MemoryAllocationType.reserve.rawValue != 0 { return .invalidParameter9 }
    guard plan.protection == PageProtection.readOnly || plan.protection == PageProtection.readWrite else {
      return .invalidPageProtection
    }
    return nil
  }

  /// Places a view of `plan` (checked) of the section at `controlArea`: its
  /// record slot and the view, or STATUS_NO_MEMORY with nothing changed when
  /// no record is free or no run of free pieces is long enough.
  public mutating func map(controlArea: UInt64, plan: ViewPlan) -> Result<(slot: Int, view: View), Status> {
    let pieces = (plan.size + SystemViewLayout.granularity - 1) / SystemViewLayout.granularity
    guard plan.size > 0, let slot = views.firstIndex(where: { $0 == nil }), let first = freeRun(Int(pieces)) else {
      return .failure(.noMemory)
    }
    usedPieces |= Self.mask(first: UInt64(first), pieces: pieces)
    let view = View(
      controlArea: controlArea, base: SystemViewLayout.base + UInt64(first) * SystemViewLayout.granularity,
      sectionOffset: plan.offset, pages: plan.size >> 12, protection: plan.protection)
    views[slot] = view
    return .success((slot, view))
  }

  /// Bits `first` ..< `first + pieces`.
  private static func mask(first: UInt64, pieces: UInt64) -> UInt64 {
    (pieces >= 64 ? ~UInt64(0) : (UInt64(1) << pieces) - 1) << first
  }

  /// The lowest piece starting `count` free pieces, or nil.
  private func freeRun(_ count: Int) -> Int? {
    guard count > 0, count <= SystemViewLayout.pieces else { return nil }
    var run = 0
    for piece in 0..<SystemViewLayout.pieces {
      run = usedPieces & (1 << UInt64(piece)) == 0 ? run + 1 : 0
      if run == count { return piece - count + 1 }
    }
    return nil
  }

  /// The slot of the view holding `address`, or nil.
  public func slot(containing address: UInt64) -> Int? {
    views.firstIndex { $0?.contains(address) == true }
  }

  /// Frees view `slot`'s record and pieces (the caller has taken its PTEs away); returns the view.
  public mutating func unmap(slot: Int) -> View? {
    guard slot >= 0, slot < views.count, let view = views[slot] else { return nil }
    let first = (view.base - SystemViewLayout.base) / SystemViewLayout.granularity
    let pieces = ((view.pages << 12) + SystemViewLayout.granularity - 1) / SystemViewLayout.granularity
    usedPieces &= ~Self.mask(first: first, pieces: pieces)
    views[slot] = nil
    return view
  }
}
