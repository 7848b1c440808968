#if canImport(GuestABI)
  import GuestABI
#endif

/// Where a page goes when the last valid PTE mapping it is replaced. GuestMm
/// decides (`PageFate.whenDeleted`, `.whenTrimmed`); the backend carries it out.
public enum PageFate: Sendable, Equatable {
  /// Back to the free list: its contents are worth nothing (a private page
  /// decommitted or released).
  case free
  /// To the standby list, still holding its contents, its PTE a transition
  /// PTE: a clean page trimmed from a working set. A fault brings it back; an
  /// allocation may take it, restoring its original PTE (`PageFrameDatabase.repurposeStandby`).
  case standby
  /// To the modified list: a dirty page trimmed, to be written out before it can be reused.
  case modified
  /// Kept as it is, off every list: a section's page that its prototype PTE still maps.
  case kept

  /// A private page whose PTE is deleted (decommit, release): nothing keeps it.
  public static let whenDeleted = PageFate.free

  /// A page trimmed from a working set: standby when clean, modified when its valid PTE has D set.
  public static func whenTrimmed(_ validPTE: UInt64) -> PageFate {
    validPTE & HardwarePTE.dirty != 0 ? .modified : .standby
  }
}

extension PageFrameDatabase {
  /// One valid PTE mapping `pfn` went, the page to `fate` when it was the
  /// last. Free: the record forgets the mapping and the page joins the free
  /// list. Standby and modified: the record keeps its PTE's address and
  /// frame and its original PTE (which must be set: repurposing writes it
  /// back), and joins the list. Kept: the page stays where it is. Returns
  /// true when the page left its last mapping; traps below zero.
  @discardableResult
  public func removeMapping(_ pfn: UInt64, fate: PageFate) -> Bool {
    let page = record(pfn)
    // A section page's fate is its section's: transition, kept for the next view.
    if page.frameFlags.contains(.prototype) { return removePrototypeMapping(pfn, page) }
    let shares = page.shareCount
    if shares == 0 { memory.trap("PageFrameDatabase.removeMapping", "share count below zero") }
    page.shareCount = shares - 1
    page.referenceCount = UInt16(truncatingIfNeeded: shares - 1)
    guard shares == 1 else { return false }
    switch fate {
    case .free:
      page.forgetMapping()
      insertTail(pfn, into: .free)
    case .standby, .modified:
      if page.originalPTE == 0 {
        memory.trap("PageFrameDatabase.removeMapping", "a transition page with no original PTE")
      }
      insertTail(pfn, into: fate == .standby ? .standby : .modified)
    case .kept: break
    }
    return true
  }

  /// Takes the first standby page for a new use: its old owner's PTE, a
  /// transition PTE, gets the page's original PTE back, written through the
  /// PTE's frame and offset (`pteFrame`, `pteAddress`) rather than any
  /// self-map, so no address space need be loaded; that PTE was not valid,
  /// so no TLB holds it. The record forgets the mapping. nil when standby is empty.
  public func repurposeStandby() -> UInt64? {
    guard let pfn = removeHead(.standby) else { return nil }
    let page = record(pfn)
    guard page.pteFrame != PageFrameRecord.noPage, page.originalPTE != 0 else {
      memory.trap("PageFrameDatabase.repurposeStandby", "a standby page without its PTE")
    }
    let ptePhysical = UInt64(page.pteFrame) << 12 | (page.pteAddress & 0xFF8)
    let pte = memory.bytes(at: ptePhysical)
    let expected = SoftwarePTE.transition(pfn: pfn, protection: 0).raw & ~(0x1F << 5)
    if pte.load(as: UInt64.self) & ~UInt64(0x1F << 5) != expected {
      memory.trap("PageFrameDatabase.repurposeStandby", "the page's PTE is not its transition PTE")
    }
    pte.storeBytes(of: page.originalPTE, as: UInt64.self)
    if page.frameFlags.contains(.prototype) { memory.prototypePageRepurposed(pteAddress: page.pteAddress) }
    page.flags = 0
    page.forgetMapping()
    page.originalPTE = 0
    return pfn
  }
}

extension VirtualMemory {
  /// The working-set trimmer's step: the valid page at `va` leaves its PTE,
  /// which becomes a transition PTE with the page's protection, and the page
  /// goes to standby or modified by its D bit (`PageFate.whenTrimmed`). False
  /// when the PTE is not valid. (Nothing trims yet: the working-sets issue.)
  public mutating func trim(_ va: UInt64) -> Bool {
    let page = va & ~(UserAddressSpace.pageSize - 1)
    let pte = backend.readPTE(page)
    guard pte & HardwarePTE.present != 0 else { return false }
    let transition = SoftwarePTE.transition(
      pfn: (pte & HardwarePTE.frameMask) >> 12, protection: ProtectionRules.protection(ofValid: pte)
    ).raw
    return replacePTE(page, pte, with: transition, fate: .whenTrimmed(pte))
  }
}
