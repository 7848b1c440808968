#if canImport(GuestABI)
  import GuestABI
#endif

// Share counts, reference counts and page-table labels: what a valid PTE, a
// live table entry or a page table's life does to the records.

extension PageFrameDatabase {
  /// Labels `pfn` an ActiveAndValid page table of `owner`, referenced by the
  /// entry at self-map address `pteAddress` in table `parent`, with `live`
  /// live entries, or, when nil, its nonzero entries counted (a software PTE
  /// keeps its table alive as much as a valid one does).
  public func labelPageTable(_ pfn: UInt64, pteAddress: UInt64, parent: UInt64, owner: UInt16, live: UInt32? = nil) {
    let page = record(pfn)
    var entries = live ?? 0
    if live == nil {
      let words = memory.bytes(at: pfn << 12)
      for index in 0..<512 where words.load(fromByteOffset: index * 8, as: UInt64.self) != 0 { entries += 1 }
    }
    page.usage = .pageTable
    page.location = .activeAndValid
    page.shareCount = entries
    page.referenceCount = 1
    page.owner = owner
    page.pteAddress = pteAddress
    page.pteFrame = UInt32(truncatingIfNeeded: parent)
  }

  /// A page table's live entries (its share count).
  public func liveEntries(_ table: UInt64) -> UInt32 { record(table).shareCount }

  /// Adds `delta` to a page table's live entries; traps below zero.
  public func adjustLiveEntries(_ table: UInt64, by delta: Int32) {
    let page = record(table)
    let live = Int64(page.shareCount) + Int64(delta)
    if live < 0 { memory.trap("PageFrameDatabase.adjustLiveEntries", "live entries below zero") }
    page.shareCount = UInt32(live)
  }

  /// One more valid PTE, at self-map address `pteAddress` in table `table`,
  /// maps `pfn`. Its first mapping also records `originalPTE`, the software
  /// PTE it replaced, which the PTE gets back if the page is ever repurposed.
  /// A section page (`PageFrameFlags.prototype`) keeps naming its prototype PTE: only its share count grows.
  public func addMapping(_ pfn: UInt64, pteAddress: UInt64, table: UInt64, originalPTE: UInt64 = 0) {
    let page = record(pfn)
    if page.frameFlags.contains(.prototype) { return addPrototypeMapping(page) }
    if page.shareCount == 0 { page.originalPTE = originalPTE }
    let shares = page.shareCount + 1
    page.shareCount = shares
    page.referenceCount = UInt16(truncatingIfNeeded: shares)
    page.location = .activeAndValid
    page.pteAddress = pteAddress
    page.pteFrame = UInt32(truncatingIfNeeded: table)
  }

  /// One valid PTE mapping `pfn` went. With none left the page goes to the
  /// free list (a private page whose PTE is deleted keeps nothing worth a
  /// standby list) and this returns true. Traps below zero.
  @discardableResult
  public func removeMapping(_ pfn: UInt64) -> Bool {
    removeMapping(pfn, fate: .free)
  }

  /// A page table that has no live entry left goes back to the free list.
  public func freePageTable(_ pfn: UInt64) {
    let page = record(pfn)
    page.usage = .general
    page.forgetMapping()
    insertTail(pfn, into: .free)
  }
}
