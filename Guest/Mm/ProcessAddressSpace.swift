import GuestArch

// 4-level paging: the entry that maps a virtual address at level L (1 = PTE
// ... 4 = PML4E) has a fixed virtual address through the self-map slot
// (KernelLayout.selfMapEntryAddress), in whichever address space CR3 holds.
// Editing a process's tables therefore needs its CR3 loaded.

/// One process's page tables, edited through the self-map while its CR3 is
/// loaded, with every change accounted in the PFN database: valid PTEs count
/// as users of their page, nonzero entries as live entries of their table;
/// a page with no user left goes to the free list, a table with no live entry
/// is unlinked and freed.
struct ProcessAddressSpace: AddressSpaceBackend {
  /// No working set yet (the working-sets issue).
  var workingSet = NoWorkingSet()
  var sections = GuestSections()
  let database: KernelFrameDatabase
  let owner: UInt16

  /// The PTE of `virtualAddress`, or 0 when a table on the way is missing.
  func readPTE(_ virtualAddress: UInt64) -> UInt64 {
    for level in stride(from: 4, through: 2, by: -1) {
      let entry = arch_load64(KernelLayout.selfMapEntryAddress(of: virtualAddress, level: level))
      if entry & HardwarePTE.present == 0 { return 0 }
      if entry & HardwarePTE.pageSize != 0 { kernelPanic("ProcessAddressSpace.readPTE", "large page in user half") }
    }
    return arch_load64(KernelLayout.selfMapEntryAddress(of: virtualAddress, level: 1))
  }

  /// Writes the PTE of `virtualAddress` (see `AddressSpaceBackend`); false, with nothing changed, when a table cannot be had.
  mutating func writePTE(_ virtualAddress: UInt64, _ value: UInt64, fate: PageFate) -> Bool {
    if value == 0, readPTE(virtualAddress) == 0 { return true }
    guard ensureTables(for: virtualAddress) else { return false }
    let slot = KernelLayout.selfMapEntryAddress(of: virtualAddress, level: 1)
    let old = arch_load64(slot)
    arch_store64(slot, value)
    let table = tableFrame(of: virtualAddress, level: 1)
    let oldFrame = old & HardwarePTE.present != 0 ? PageTableEntry(raw: old).physicalAddress >> 12 : nil
    let newFrame = value & HardwarePTE.present != 0 ? PageTableEntry(raw: value).physicalAddress >> 12 : nil
    if oldFrame != nil { arch_invlpg(virtualAddress) }
    // Same page, new rights (protect, a guard firing): the page keeps its one user.
    // The hardware's record of a write must not be lost with its PTE (a section page's file copy is stale).
    if let oldFrame, old & HardwarePTE.dirty != 0, oldFrame != newFrame || value & HardwarePTE.dirty == 0 {
      database.noteDirty(oldFrame)
    }
    if oldFrame != newFrame {
      if let newFrame { addUser(newFrame, pteAddress: slot, table: table, replacing: oldFrame == nil ? old : 0) }
      if let oldFrame { releaseUser(oldFrame, fate: fate) }
    }
    if old == 0, value != 0 { adjustLive(table, by: 1) }
    if old != 0, value == 0 { dropEntry(of: virtualAddress, level: 1) }
    return true
  }

  /// A zeroed page, ActiveAndValid with no users yet.
  mutating func allocateZeroedPage(for virtualAddress: UInt64) -> UInt64? {
    guard let pfn = database.allocatePage(zeroed: true) else { return nil }
    database.record(pfn).owner = owner
    return pfn
  }

  /// The PFN of the table at `level` that holds `virtualAddress`'s entry (its parent entry must be present).
  private func tableFrame(of virtualAddress: UInt64, level: Int) -> UInt64 {
    if level == 4 { return arch_read_cr3() >> 12 }
    return PageTableEntry(raw: arch_load64(KernelLayout.selfMapEntryAddress(of: virtualAddress, level: level + 1)))
      .physicalAddress >> 12
  }
}

// MARK: Tables

extension ProcessAddressSpace {
  /// Maps a page of a debug window (not accounted to the page it maps): the
  /// table gets a live entry, the page no user. False when out of pages.
  mutating func mapWindowPage(_ virtualAddress: UInt64, entry: UInt64) -> Bool {
    guard ensureTables(for: virtualAddress) else { return false }
    let slot = KernelLayout.selfMapEntryAddress(of: virtualAddress, level: 1)
    if arch_load64(slot) == 0 { adjustLive(tableFrame(of: virtualAddress, level: 1), by: 1) }
    arch_store64(slot, entry)
    return true
  }
}

extension ProcessAddressSpace {
  /// Makes the PDPT, PD and PT that hold `virtualAddress`'s PTE present;
  /// false when out of pages, with the tables it made (empty) taken away again.
  fileprivate func ensureTables(for virtualAddress: UInt64) -> Bool {
    for level in stride(from: 4, through: 2, by: -1) {
      let slot = KernelLayout.selfMapEntryAddress(of: virtualAddress, level: level)
      if arch_load64(slot) & HardwarePTE.present != 0 { continue }
      guard let pfn = database.allocatePage(zeroed: true) else {
        pruneIfEmpty(virtualAddress, level: level)
        return false
      }
      let parent = tableFrame(of: virtualAddress, level: level)
      arch_store64(slot, (pfn << 12) | HardwarePTE.present | HardwarePTE.writable | HardwarePTE.user)
      markTable(pfn, pteAddress: slot, parent: parent)
      adjustLive(parent, by: 1)
    }
    return true
  }

  /// Labels a new page-table page: no live entries yet, referenced from `pteAddress` in `parent`.
  fileprivate func markTable(_ pfn: UInt64, pteAddress: UInt64, parent: UInt64) {
    database.labelPageTable(pfn, pteAddress: pteAddress, parent: parent, owner: owner, live: 0)
  }

  /// Adds `delta` to a table's live entries (its share count).
  fileprivate func adjustLive(_ table: UInt64, by delta: Int32) {
    database.adjustLiveEntries(table, by: delta)
  }

  /// An entry at `level` became zero: its table loses a live entry and, with
  /// none left (and below the PML4), is unlinked from its parent and freed.
  fileprivate func dropEntry(of virtualAddress: UInt64, level: Int) {
    adjustLive(tableFrame(of: virtualAddress, level: level), by: -1)
    pruneIfEmpty(virtualAddress, level: level)
  }

  /// Unlinks and frees the table at `level` holding `virtualAddress`'s entry
  /// if it has no live entry (the PML4 stays), then looks at its parent.
  fileprivate func pruneIfEmpty(_ virtualAddress: UInt64, level: Int) {
    let table = tableFrame(of: virtualAddress, level: level)
    guard level < 4, database.liveEntries(table) == 0 else { return }
    let parentSlot = KernelLayout.selfMapEntryAddress(of: virtualAddress, level: level + 1)
    arch_store64(parentSlot, 0)
    // The table was visible as a page through the self-map: that translation goes.
    arch_invlpg(KernelLayout.selfMapEntryAddress(of: virtualAddress, level: level) & ~0xFFF)
    database.freePageTable(table)
    dropEntry(of: virtualAddress, level: level + 1)
  }
}

// MARK: Users of a page

extension ProcessAddressSpace {
  /// One more valid PTE (at `pteAddress`, in `table`) maps `pfn`, replacing the software PTE `original`.
  fileprivate func addUser(_ pfn: UInt64, pteAddress: UInt64, table: UInt64, replacing original: UInt64) {
    guard pfn < database.count else { kernelPanic("ProcessAddressSpace.addUser", "PFN beyond RAM") }
    database.addMapping(pfn, pteAddress: pteAddress, table: table, originalPTE: original)
  }

  /// One valid PTE mapping `pfn` went; with none left the page goes to `fate`.
  fileprivate func releaseUser(_ pfn: UInt64, fate: PageFate) {
    database.removeMapping(pfn, fate: fate)
  }
}
