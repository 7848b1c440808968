import GuestArch

/// The PFN database: one `PageFrameRecord` per physical page from PFN 0 to the
/// highest RAM page, reached through the physical window, and the page lists'
/// heads. Record layouts are GuestABI's, so the host decodes the same bytes.
struct PageFrameDatabase {
  /// Physical address of PFN 0's record.
  let recordsPhysical: UInt64
  /// Records in the database.
  let count: UInt64
  /// Physical address of the list heads, in `PageLocation` order.
  let headsPhysical: UInt64
  /// Physical address of the available-pages count the host reads (in the debug block).
  let availableCountPhysical: UInt64

  /// The record of `pfn`; traps on a PFN outside the database.
  func record(_ pfn: UInt64) -> UnsafeMutableRawPointer {
    if pfn >= count { kernelPanic("PageFrameDatabase.record", "PFN beyond the database") }
    let address = PhysicalWindow.virtualAddress(recordsPhysical + pfn * UInt64(PageFrameRecord.size))
    return UnsafeMutableRawPointer(bitPattern: UInt(address))!
  }

  /// The head of `list` (a list location).
  func head(_ list: PageLocation) -> UnsafeMutableRawPointer {
    let address = PhysicalWindow.virtualAddress(headsPhysical + UInt64(Int(list.rawValue) * PageListHead.size))
    return UnsafeMutableRawPointer(bitPattern: UInt(address))!
  }

  func location(_ pfn: UInt64) -> PageLocation {
    PageLocation(rawValue: record(pfn).load(fromByteOffset: PageFrameRecord.location, as: UInt8.self)) ?? .bad
  }

  func total(_ list: PageLocation) -> UInt64 {
    head(list).load(fromByteOffset: PageListHead.total, as: UInt64.self)
  }

  /// zeroed + free + standby: pages an allocation can have without waiting.
  var availablePages: UInt64 { total(.zeroed) + total(.free) + total(.standby) }

  /// Empties every list.
  func resetHeads() {
    for list in 0..<PageLocation.listCount {
      let listHead = head(PageLocation(rawValue: UInt8(list))!)
      listHead.storeBytes(of: PageFrameRecord.noPage, toByteOffset: PageListHead.first, as: UInt32.self)
      listHead.storeBytes(of: PageFrameRecord.noPage, toByteOffset: PageListHead.last, as: UInt32.self)
      listHead.storeBytes(of: UInt64(0), toByteOffset: PageListHead.total, as: UInt64.self)
    }
    adjustAvailable(by: 0, reset: true)
  }

  /// Keeps the available count the host reads in step with the lists it sums.
  private func adjustAvailable(by delta: Int64, reset: Bool = false) {
    let counter = UnsafeMutableRawPointer(bitPattern: UInt(PhysicalWindow.virtualAddress(availableCountPhysical)))!
    let value = reset ? 0 : counter.load(as: UInt64.self)
    counter.storeBytes(of: UInt64(bitPattern: Int64(bitPattern: value) &+ delta), as: UInt64.self)
  }

  fileprivate func countsAsAvailable(_ list: PageLocation) -> Bool {
    list == .zeroed || list == .free || list == .standby
  }

  fileprivate func noteAvailable(_ list: PageLocation, _ delta: Int64) {
    if countsAsAvailable(list) { adjustAvailable(by: delta) }
  }
}

// MARK: Page tables

extension PageFrameDatabase {
  /// Labels `pfn` an ActiveAndValid page table of `owner`, referenced by the
  /// entry at self-map address `pteAddress` in table `parent`, with `live`
  /// live entries, or, when nil, its nonzero entries counted (a software PTE
  /// keeps its table alive as much as a valid one does).
  func labelPageTable(_ pfn: UInt64, pteAddress: UInt64, parent: UInt64, owner: UInt16, live: UInt32? = nil) {
    guard pfn < count else { kernelPanic("PageFrameDatabase.labelPageTable", "PFN beyond the database") }
    var entries = live ?? 0
    if live == nil {
      let words = PhysicalWindow.words(pfn << 12)
      for index in 0..<512 where words[index] != 0 { entries += 1 }
    }
    let page = record(pfn)
    page.storeBytes(of: PageUsage.pageTable.rawValue, toByteOffset: PageFrameRecord.usage, as: UInt8.self)
    page.storeBytes(of: PageLocation.activeAndValid.rawValue, toByteOffset: PageFrameRecord.location, as: UInt8.self)
    page.storeBytes(of: entries, toByteOffset: PageFrameRecord.shareCount, as: UInt32.self)
    page.storeBytes(of: UInt16(1), toByteOffset: PageFrameRecord.referenceCount, as: UInt16.self)
    page.storeBytes(of: owner, toByteOffset: PageFrameRecord.owner, as: UInt16.self)
    page.storeBytes(of: pteAddress, toByteOffset: PageFrameRecord.pteAddress, as: UInt64.self)
    page.storeBytes(of: UInt32(truncatingIfNeeded: parent), toByteOffset: PageFrameRecord.pteFrame, as: UInt32.self)
  }
}

// MARK: Page lists

extension PageFrameDatabase {
  /// Appends `pfn`, which must be on no list, to `list` and sets its location.
  func insertTail(_ pfn: UInt64, into list: PageLocation) {
    let page = record(pfn)
    let listHead = head(list)
    let last = listHead.load(fromByteOffset: PageListHead.last, as: UInt32.self)
    page.storeBytes(of: last, toByteOffset: PageFrameRecord.previous, as: UInt32.self)
    page.storeBytes(of: PageFrameRecord.noPage, toByteOffset: PageFrameRecord.next, as: UInt32.self)
    page.storeBytes(of: list.rawValue, toByteOffset: PageFrameRecord.location, as: UInt8.self)
    if last == PageFrameRecord.noPage {
      listHead.storeBytes(of: UInt32(pfn), toByteOffset: PageListHead.first, as: UInt32.self)
    } else {
      record(UInt64(last)).storeBytes(of: UInt32(pfn), toByteOffset: PageFrameRecord.next, as: UInt32.self)
    }
    listHead.storeBytes(of: UInt32(pfn), toByteOffset: PageListHead.last, as: UInt32.self)
    let total = listHead.load(fromByteOffset: PageListHead.total, as: UInt64.self)
    listHead.storeBytes(of: total + 1, toByteOffset: PageListHead.total, as: UInt64.self)
    noteAvailable(list, 1)
  }

  /// Unlinks `pfn` from the list its location names; its links become `noPage`.
  func remove(_ pfn: UInt64) {
    let list = location(pfn)
    if !list.isList { kernelPanic("PageFrameDatabase.remove", "page is on no list") }
    let page = record(pfn)
    let listHead = head(list)
    let next = page.load(fromByteOffset: PageFrameRecord.next, as: UInt32.self)
    let previous = page.load(fromByteOffset: PageFrameRecord.previous, as: UInt32.self)
    if previous == PageFrameRecord.noPage {
      listHead.storeBytes(of: next, toByteOffset: PageListHead.first, as: UInt32.self)
    } else {
      record(UInt64(previous)).storeBytes(of: next, toByteOffset: PageFrameRecord.next, as: UInt32.self)
    }
    if next == PageFrameRecord.noPage {
      listHead.storeBytes(of: previous, toByteOffset: PageListHead.last, as: UInt32.self)
    } else {
      record(UInt64(next)).storeBytes(of: previous, toByteOffset: PageFrameRecord.previous, as: UInt32.self)
    }
    page.storeBytes(of: PageFrameRecord.noPage, toByteOffset: PageFrameRecord.next, as: UInt32.self)
    page.storeBytes(of: PageFrameRecord.noPage, toByteOffset: PageFrameRecord.previous, as: UInt32.self)
    let total = listHead.load(fromByteOffset: PageListHead.total, as: UInt64.self)
    if total == 0 { kernelPanic("PageFrameDatabase.remove", "list total underflow") }
    listHead.storeBytes(of: total - 1, toByteOffset: PageListHead.total, as: UInt64.self)
    noteAvailable(list, -1)
  }

  /// The first page of `list`, unlinked; nil if the list is empty.
  func removeHead(_ list: PageLocation) -> UInt64? {
    let first = head(list).load(fromByteOffset: PageListHead.first, as: UInt32.self)
    guard first != PageFrameRecord.noPage else { return nil }
    remove(UInt64(first))
    return UInt64(first)
  }

  /// A page for a new mapping, taken off its list and marked ActiveAndValid
  /// with no users yet. A zeroed page comes from the zeroed list, else a free
  /// one is zeroed; any page comes free first, then zeroed. (Standby pages
  /// join once their owners can give them up: the paging issue.) nil when none is left.
  func allocatePage(zeroed: Bool) -> UInt64? {
    var pfn = zeroed ? removeHead(.zeroed) : nil
    if pfn == nil, let free = removeHead(.free) {
      if zeroed { PhysicalWindow.zeroFrame(free << 12) }
      pfn = free
    }
    if pfn == nil, !zeroed { pfn = removeHead(.zeroed) }
    guard let pfn else { return nil }
    let page = record(pfn)
    page.storeBytes(of: PageLocation.activeAndValid.rawValue, toByteOffset: PageFrameRecord.location, as: UInt8.self)
    page.storeBytes(of: UInt32(0), toByteOffset: PageFrameRecord.shareCount, as: UInt32.self)
    page.storeBytes(of: UInt16(1), toByteOffset: PageFrameRecord.referenceCount, as: UInt16.self)
    return pfn
  }

  /// Zeroes one free page and moves it to the zeroed list (the idle zeroing
  /// step); false when the free list is empty.
  func zeroOneFreePage() -> Bool {
    guard let pfn = removeHead(.free) else { return false }
    PhysicalWindow.zeroFrame(pfn << 12)
    insertTail(pfn, into: .zeroed)
    return true
  }
}
