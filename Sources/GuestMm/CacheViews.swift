/// Cc's views of cached files' sections in system space (NT's VACBs): each
/// maps 256 KiB of one file's data section at a 256 KiB-aligned offset. A copy
/// read or write takes the view holding its offset (mapping one if none
/// does), uses it, and gives it back; an idle view is kept mapped for the
/// next access and reused, least recently used first, when a new one is
/// needed and no slot is free. A view in use is never taken away.
public struct CacheViews: Sendable {
  /// Bytes one view maps (VACB_MAPPING_GRANULARITY).
  public static let viewSize: UInt64 = 256 << 10

  /// One view slot.
  public struct View: Equatable, Sendable {
    /// Which cached file (its control area), and where in it; nil section: the slot is free.
    public var section: UInt64?
    public var offset: UInt64
    /// Copy operations using the view now.
    public var active: UInt32
    /// When it was last acquired (a tick of this table's clock).
    public var lastUse: UInt64
  }

  public private(set) var views: [View]
  private var clock: UInt64 = 0

  public init(capacity: Int) {
    views = [View](repeating: View(section: nil, offset: 0, active: 0, lastUse: 0), count: capacity)
  }

  /// What `acquire` did.
  public enum Acquired: Equatable, Sendable {
    /// The view in `slot` already maps the offset.
    case mapped(slot: Int)
    /// `slot` must now be mapped at the offset; it held `evicting` (section, offset), which must be unmapped first.
    case mapNew(slot: Int, evicting: (section: UInt64, offset: UInt64)?)
    /// Every view is in use (NT would wait for one; the caller returns a status).
    case exhausted

    public static func == (a: Acquired, b: Acquired) -> Bool {
      switch (a, b) {
      case (.mapped(let x), .mapped(let y)): return x == y
      case (.mapNew(let x, let e), .mapNew(let y, let f)):
        return x == y && e?.section == f?.section && e?.offset == f?.offset
      case (.exhausted, .exhausted): return true
      default: return false
      }
    }
  }

  /// Takes the view of `section` holding file offset `offset` (CcGetVirtualAddress).
  public mutating func acquire(section: UInt64, offset: UInt64) -> Acquired {
    let base = offset - offset % Self.viewSize
    clock += 1
    if let slot = views.firstIndex(where: { $0.section == section && $0.offset == base }) {
      views[slot].active += 1
      views[slot].lastUse = clock
      return .mapped(slot: slot)
    }
    guard let slot = victim() else { return .exhausted }
    let evicting = views[slot].section.map { (section: $0, offset: views[slot].offset) }
    views[slot] = View(section: section, offset: base, active: 1, lastUse: clock)
    return .mapNew(slot: slot, evicting: evicting)
  }

  /// A free slot, else the idle view used least recently; nil when all are active.
  private func victim() -> Int? {
    if let free = views.firstIndex(where: { $0.section == nil }) { return free }
    var best: Int?
    for (slot, view) in views.enumerated() where view.active == 0 {
      if best == nil || view.lastUse < views[best!].lastUse { best = slot }
    }
    return best
  }

  /// Gives back a view taken with `acquire` (CcFreeVirtualAddress); false if it was not in use.
  public mutating func release(slot: Int) -> Bool {
    guard views.indices.contains(slot), views[slot].active > 0 else { return false }
    views[slot].active -= 1
    return true
  }

  /// Unmaps every idle view of `section` (caching ends, or a purge): the offsets
  /// to unmap, or nil with nothing changed while one of them is in use.
  public mutating func drop(section: UInt64) -> [UInt64]? {
    let mine = views.indices.filter { views[$0].section == section }
    guard mine.allSatisfy({ views[$0].active == 0 }) else { return nil }
    let offsets = mine.map { views[$0].offset }
    for slot in mine { views[slot] = View(section: nil, offset: 0, active: 0, lastUse: 0) }
    return offsets
  }
}
