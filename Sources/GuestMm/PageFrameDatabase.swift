#if canImport(GuestABI)
  import GuestABI
#endif

/// The PFN database: one `PageFrameRecord` per physical page from PFN 0 to
/// the highest RAM page, the page lists' heads, and the available-pages count
/// the host reads. The one place that writes records, list links, totals and
/// share counts: the guest's builder, its address spaces and its calls go
/// through it; host tests drive it over a buffer.
public struct PageFrameDatabase<Memory: PhysicalMemoryAccess> {
  public let memory: Memory
  /// Physical address of PFN 0's record.
  public let recordsPhysical: UInt64
  /// Records in the database.
  public let count: UInt64
  /// Physical address of the list heads, in `PageLocation` order.
  public let headsPhysical: UInt64
  /// Physical address of the available-pages count (in the debug block).
  public let availableCountPhysical: UInt64

  public init(
    memory: Memory, recordsPhysical: UInt64, count: UInt64, headsPhysical: UInt64, availableCountPhysical: UInt64
  ) {
    self.memory = memory
    self.recordsPhysical = recordsPhysical
    self.count = count
    self.headsPhysical = headsPhysical
    self.availableCountPhysical = availableCountPhysical
  }

  /// The record of `pfn`; traps on a PFN outside the database.
  public func record(_ pfn: UInt64) -> PageFrame {
    if pfn >= count { memory.trap("PageFrameDatabase.record", "PFN beyond the database") }
    return PageFrame(bytes: memory.bytes(at: recordsPhysical + pfn * UInt64(PageFrameRecord.size)))
  }

  func head(_ list: PageLocation) -> UnsafeMutableRawPointer {
    memory.bytes(at: headsPhysical + UInt64(Int(list.rawValue) * PageListHead.size))
  }

  public func location(_ pfn: UInt64) -> PageLocation { record(pfn).location }

  public func total(_ list: PageLocation) -> UInt64 {
    head(list).load(fromByteOffset: PageListHead.total, as: UInt64.self)
  }

  /// The first page of `list`, or nil when it is empty.
  public func first(_ list: PageLocation) -> UInt64? {
    let first = head(list).load(fromByteOffset: PageListHead.first, as: UInt32.self)
    return first == PageFrameRecord.noPage ? nil : UInt64(first)
  }

  /// zeroed + free + standby: pages an allocation can have without waiting.
  public var availablePages: UInt64 { total(.zeroed) + total(.free) + total(.standby) }

  /// The available count as the host reads it.
  public var availableCount: UInt64 { memory.bytes(at: availableCountPhysical).load(as: UInt64.self) }

  /// Empties every list.
  public func resetHeads() {
    for list in 0..<PageLocation.listCount {
      let listHead = head(PageLocation(rawValue: UInt8(list))!)
      listHead.storeBytes(of: PageFrameRecord.noPage, toByteOffset: PageListHead.first, as: UInt32.self)
      listHead.storeBytes(of: PageFrameRecord.noPage, toByteOffset: PageListHead.last, as: UInt32.self)
      listHead.storeBytes(of: UInt64(0), toByteOffset: PageListHead.total, as: UInt64.self)
    }
    memory.bytes(at: availableCountPhysical).storeBytes(of: UInt64(0), as: UInt64.self)
  }

  /// Keeps the available count the host reads in step with the lists it sums.
  func noteAvailable(_ list: PageLocation, _ delta: Int64) {
    guard list == .zeroed || list == .free || list == .standby else { return }
    let counter = memory.bytes(at: availableCountPhysical)
    let value = Int64(bitPattern: counter.load(as: UInt64.self)) &+ delta
    counter.storeBytes(of: UInt64(bitPattern: value), as: UInt64.self)
  }

  func adjustTotal(_ list: PageLocation, by delta: Int64) {
    let listHead = head(list)
    let total = listHead.load(fromByteOffset: PageListHead.total, as: UInt64.self)
    if delta < 0 && total == 0 { memory.trap("PageFrameDatabase.remove", "list total underflow") }
    listHead.storeBytes(
      of: UInt64(bitPattern: Int64(bitPattern: total) &+ delta), toByteOffset: PageListHead.total, as: UInt64.self)
    noteAvailable(list, delta)
  }
}

// MARK: Page lists

extension PageFrameDatabase {
  /// Appends `pfn`, which must be on no list, to `list` and sets its location.
  public func insertTail(_ pfn: UInt64, into list: PageLocation) {
    let page = record(pfn)
    let listHead = head(list)
    let last = listHead.load(fromByteOffset: PageListHead.last, as: UInt32.self)
    page.previous = last
    page.next = PageFrameRecord.noPage
    page.location = list
    if last == PageFrameRecord.noPage {
      listHead.storeBytes(of: UInt32(pfn), toByteOffset: PageListHead.first, as: UInt32.self)
    } else {
      record(UInt64(last)).next = UInt32(pfn)
    }
    listHead.storeBytes(of: UInt32(pfn), toByteOffset: PageListHead.last, as: UInt32.self)
    adjustTotal(list, by: 1)
  }

  /// Unlinks `pfn` from the list its location names; its links become `noPage`.
  public func remove(_ pfn: UInt64) {
    let list = location(pfn)
    if !list.isList { memory.trap("PageFrameDatabase.remove", "page is on no list") }
    let page = record(pfn)
    let listHead = head(list)
    let (next, previous) = (page.next, page.previous)
    if previous == PageFrameRecord.noPage {
      listHead.storeBytes(of: next, toByteOffset: PageListHead.first, as: UInt32.self)
    } else {
      record(UInt64(previous)).next = next
    }
    if next == PageFrameRecord.noPage {
      listHead.storeBytes(of: previous, toByteOffset: PageListHead.last, as: UInt32.self)
    } else {
      record(UInt64(next)).previous = previous
    }
    page.next = PageFrameRecord.noPage
    page.previous = PageFrameRecord.noPage
    adjustTotal(list, by: -1)
  }

  /// The first page of `list`, unlinked; nil if the list is empty.
  public func removeHead(_ list: PageLocation) -> UInt64? {
    guard let first = first(list) else { return nil }
    remove(first)
    return first
  }

  /// A page for a new mapping, taken off its list and marked ActiveAndValid
  /// with no users yet. A zeroed page comes from the zeroed list, else a free
  /// one is zeroed; any page comes free first, then zeroed. Last, a standby
  /// page is repurposed (`repurposeStandby`), zeroed if asked. nil when none is left.
  public func allocatePage(zeroed: Bool) -> UInt64? {
    var pfn = zeroed ? removeHead(.zeroed) : nil
    if pfn == nil, let free = removeHead(.free) {
      if zeroed { memory.zeroFrame(free << 12) }
      pfn = free
    }
    if pfn == nil, !zeroed { pfn = removeHead(.zeroed) }
    if pfn == nil, let standby = repurposeStandby() {
      if zeroed { memory.zeroFrame(standby << 12) }
      pfn = standby
    }
    guard let pfn else { return nil }
    let page = record(pfn)
    page.location = .activeAndValid
    page.flags = 0
    page.shareCount = 0
    page.referenceCount = 1
    return pfn
  }

  /// Zeroes one free page and moves it to the zeroed list (the idle zeroing
  /// step); false when the free list is empty.
  public func zeroOneFreePage() -> Bool {
    guard let pfn = removeHead(.free) else { return false }
    memory.zeroFrame(pfn << 12)
    insertTail(pfn, into: .zeroed)
    return true
  }
}
