#if canImport(GuestABI)
  import GuestABI
#endif

// Section pages in the PFN database (NT's prototype PFNs): the record names
// the page's prototype PTE (`pteAddress`, the direct-map address the host
// decodes, and `pteFrame`, the segment page holding it), not any hardware
// PTE; its share count counts the valid view PTEs mapping it. With none left
// the prototype PTE turns into a transition PTE and the page goes to standby,
// or to modified when its contents differ from the backing store.

extension PageFrameDatabase {
  /// The prototype PTE a section page's record names, in place.
  func prototypeSlot(of page: PageFrame) -> UnsafeMutableRawPointer {
    memory.bytes(at: UInt64(page.pteFrame) << 12 | (page.pteAddress & 0xFF8))
  }

  /// Makes `pfn` (just allocated, no users) section page whose prototype PTE
  /// is at `pteAddress` in segment page `pteFrame`, holding `original` until
  /// now: `mapped`, the prototype PTE becomes valid (the caller maps it
  /// next); otherwise it is a transition PTE and the page joins standby, or
  /// modified when `modified` (a page with no copy in its backing store).
  public func attachPrototype(
    _ pfn: UInt64, pteAddress: UInt64, pteFrame: UInt64, original: UInt64, protection: UInt8, mapped: Bool,
    modified: Bool
  ) {
    let page = record(pfn)
    page.frameFlags = modified ? [.prototype, .modified] : .prototype
    page.usage = .general
    page.owner = 0
    page.shareCount = 0
    page.referenceCount = 0
    page.pteAddress = pteAddress
    page.pteFrame = UInt32(truncatingIfNeeded: pteFrame)
    page.originalPTE = original
    page.location = .activeAndValid
    if mapped {
      prototypeSlot(of: page).storeBytes(of: Self.validPrototype(pfn, protection), as: UInt64.self)
    } else {
      enterTransition(pfn, page, protection: protection)
    }
  }

  /// The valid prototype PTE of section page `pfn` (never used by the hardware: its rights are the section's).
  static func validPrototype(_ pfn: UInt64, _ protection: UInt8) -> UInt64 {
    ProtectionRules.validPTE(frame: pfn, protection: protection, dirty: false)
  }

  /// The section page no valid PTE maps any more goes into transition: its
  /// prototype PTE names it, and it waits on standby (or modified) for a fault
  /// to take it back or an allocation to repurpose it.
  func enterTransition(_ pfn: UInt64, _ page: PageFrame, protection: UInt8) {
    let transition = SoftwarePTE.transition(pfn: pfn, protection: protection).raw
    prototypeSlot(of: page).storeBytes(of: transition, as: UInt64.self)
    insertTail(pfn, into: page.frameFlags.contains(.modified) ? .modified : .standby)
  }

  /// Takes the section page `pfn` back from standby or modified (a soft
  /// fault): its prototype PTE is valid again, the caller maps it next.
  public func reclaimPrototype(_ pfn: UInt64) {
    let page = record(pfn)
    guard page.frameFlags.contains(.prototype), page.location == .standby || page.location == .modified else {
      memory.trap("PageFrameDatabase.reclaimPrototype", "not a section page in transition")
    }
    let slot = prototypeSlot(of: page)
    guard case .transition(let named, let protection) = SoftwarePTE(raw: slot.load(as: UInt64.self)), named == pfn
    else { memory.trap("PageFrameDatabase.reclaimPrototype", "the prototype PTE is not its transition PTE") }
    remove(pfn)
    page.location = .activeAndValid
    slot.storeBytes(of: Self.validPrototype(pfn, protection), as: UInt64.self)
  }

  /// One more valid view PTE maps section page `pfn`.
  func addPrototypeMapping(_ page: PageFrame) {
    let shares = page.shareCount + 1
    page.shareCount = shares
    page.referenceCount = UInt16(truncatingIfNeeded: shares)
  }

  /// One valid view PTE mapping section page `pfn` went; with none left the
  /// page goes into transition. Returns true when it was the last.
  func removePrototypeMapping(_ pfn: UInt64, _ page: PageFrame) -> Bool {
    let shares = page.shareCount
    if shares == 0 { memory.trap("PageFrameDatabase.removeMapping", "share count below zero") }
    page.shareCount = shares - 1
    page.referenceCount = UInt16(truncatingIfNeeded: shares - 1)
    guard shares == 1 else { return false }
    let valid = prototypeSlot(of: page).load(as: UInt64.self)
    enterTransition(pfn, page, protection: ProtectionRules.protection(ofValid: valid))
    return true
  }

  /// A valid PTE mapping `pfn` with D set went or lost D: a section page's
  /// contents now differ from its file (a private page keeps no such record).
  public func noteDirty(_ pfn: UInt64) {
    let page = record(pfn)
    if page.frameFlags.contains(.prototype) { page.frameFlags.insert(.modified) }
  }

  /// A section page's contents were written to its file: clean again. On the
  /// modified list it moves to standby.
  public func noteWritten(_ pfn: UInt64) {
    let page = record(pfn)
    page.frameFlags.remove(.modified)
    if page.location == .modified {
      remove(pfn)
      insertTail(pfn, into: .standby)
    }
  }

  /// The section's segment goes: section page `pfn`, in transition (no view
  /// maps it), leaves its list and its prototype PTE and is freed.
  public func detachPrototype(_ pfn: UInt64) {
    let page = record(pfn)
    guard page.frameFlags.contains(.prototype), page.location == .standby || page.location == .modified else {
      memory.trap("PageFrameDatabase.detachPrototype", "a section page still mapped")
    }
    remove(pfn)
    page.flags = 0
    page.originalPTE = 0
    page.forgetMapping()
    insertTail(pfn, into: .free)
  }
}
