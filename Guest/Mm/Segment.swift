import GuestArch

/// A control area's segment (GuestABI `SegmentLayout`): a directory page
/// naming the pages of prototype PTEs, one PTE per page of the section. The
/// pages come from the PFN database with usage segment and are reached
/// through the direct map, so a prototype PTE's address is a direct-map address.
struct Segment {
  /// Physical address of the directory page.
  let directory: UInt64
  private(set) var pages: UInt64

  /// A segment for `pages` pages whose prototype PTEs all hold `initial`; nil
  /// (nothing kept) when the database cannot give the pages or the section is too large.
  static func create(pages: UInt64, initial: UInt64, _ database: KernelFrameDatabase) -> Segment? {
    let tables = SegmentLayout.prototypePages(for: pages)
    guard pages > 0, pages <= SegmentLayout.maximumPages,
      database.total(.zeroed) + database.total(.free) > tables
    else { return nil }
    guard let directory = take(database) else { return nil }
    let entries = PhysicalWindow.words(directory << 12)
    for n in 0..<Int(tables) {
      guard let table = take(database) else { kernelPanic("Segment.create", "free pages went while counted") }
      entries[n] = table << 12
      let ptes = PhysicalWindow.words(table << 12)
      let used = Int(min(SegmentLayout.ptesPerPage, pages - UInt64(n) * SegmentLayout.ptesPerPage))
      for slot in 0..<used { ptes[slot] = initial }
    }
    return Segment(directory: directory << 12, pages: pages)
  }

  /// Grows the segment to `newPages` prototype PTEs, the new ones `initial`
  /// (a file that grew, CcSetFileSizes); false, unchanged, when pages run out.
  mutating func grow(to newPages: UInt64, initial: UInt64, _ database: KernelFrameDatabase) -> Bool {
    guard newPages > pages else { return true }
    guard newPages <= SegmentLayout.maximumPages else { return false }
    let have = SegmentLayout.prototypePages(for: pages)
    let need = SegmentLayout.prototypePages(for: newPages)
    guard database.total(.zeroed) + database.total(.free) >= need - have else { return false }
    let entries = PhysicalWindow.words(directory)
    for n in Int(have)..<Int(need) {
      guard let table = Self.take(database) else { kernelPanic("Segment.grow", "free pages went while counted") }
      entries[n] = table << 12
    }
    let old = pages
    pages = newPages
    for page in old..<newPages { write(page, initial) }
    return true
  }

  /// A zeroed page labelled as a segment page, owned by no process.
  private static func take(_ database: KernelFrameDatabase) -> UInt64? {
    guard let pfn = database.allocatePage(zeroed: true) else { return nil }
    let page = database.record(pfn)
    page.usage = .segment
    page.referenceCount = 0
    page.owner = 0
    return pfn
  }

  /// Physical address of section page `page`'s prototype PTE.
  func entryPhysical(_ page: UInt64) -> UInt64 {
    guard page < pages else { kernelPanic("Segment.entryPhysical", "page past the section") }
    let table = PhysicalWindow.words(directory)[Int(page / SegmentLayout.ptesPerPage)]
    return table + (page % SegmentLayout.ptesPerPage) * 8
  }

  /// The prototype PTE's direct-map address (what PFN records and view PTEs name).
  func entryAddress(_ page: UInt64) -> UInt64 { KernelLayout.directMapBase + entryPhysical(page) }

  func read(_ page: UInt64) -> UInt64 { arch_load64(PhysicalWindow.virtualAddress(entryPhysical(page))) }

  func write(_ page: UInt64, _ value: UInt64) {
    arch_store64(PhysicalWindow.virtualAddress(entryPhysical(page)), value)
  }

  /// Whether the prototype-PTE page at physical `table` is one of this segment's.
  func holds(table: UInt64) -> Bool {
    let entries = PhysicalWindow.words(directory)
    for n in 0..<Int(SegmentLayout.prototypePages(for: pages)) where entries[n] == table { return true }
    return false
  }

  /// Gives the directory and prototype pages back (every section page already gone).
  func destroy(_ database: KernelFrameDatabase) {
    let entries = PhysicalWindow.words(directory)
    for n in 0..<Int(SegmentLayout.prototypePages(for: pages)) { release(entries[n] >> 12, database) }
    release(directory >> 12, database)
  }

  private func release(_ pfn: UInt64, _ database: KernelFrameDatabase) {
    let page = database.record(pfn)
    page.usage = .general
    page.forgetMapping()
    database.insertTail(pfn, into: .free)
  }
}
