import GuestArch

/// Section pages mapped by kernel PTEs in system space, for Cc's views
/// (`SystemCache`) and MmMapViewInSystemSpace's (`SystemViews`): each window
/// is one page table's worth (2 MiB-aligned), and each valid PTE in it is an
/// accounted share of the section page it maps, as a process view's is.
enum SystemSpacePTEs {
  /// The PTE of `va` in the window whose page table is at physical `table`, through the direct map.
  static func pte(_ table: UInt64, _ va: UInt64) -> UnsafeMutablePointer<UInt64> {
    PhysicalWindow.words(table) + Int(va >> 12 & 511)
  }

  /// A fault (or a kernel touch) at `va` on section page `page` of control
  /// area `area`, mapped with protection code `protection`: the page is made
  /// resident as a view fault would (`PrototypeFault`) and the PTE maps it, no
  /// execute, writable when the protection is, D set on a write.
  static func resolve(_ table: UInt64, _ va: UInt64, area: Int, page: UInt64, protection: UInt8, access: MemoryAccess)
    -> FaultResolution
  {
    let entry = pte(table, va)
    if entry.pointee & HardwarePTE.present != 0 { return .resolved(.alreadyValid) }
    let shape = ControlAreas.areas[area]!.shape
    let decision = PrototypeFault.decide(
      page: page, access: access, protection: protection, sectionPages: shape.pages, fileBacked: shape.fileBacked,
      validDataLength: shape.fileSize
    ) { ControlAreas.areas[area]!.segment.read($0) }
    if decision == .accessViolation || decision == .beyondSection { return .accessViolation }
    var sections = GuestSections()
    switch sections.makeResident(ControlAreas.recordPhysical(area), page: page, decision) {
    case .failure(let status): return status == .noMemory ? .noMemory : .inPageError
    case .success(let pfn):
      let database = MemoryManager.booted("SystemSpacePTEs.resolve").database
      database.addMapping(
        pfn, pteAddress: KernelLayout.directMapBase + table + (va >> 12 & 511) * 8, table: table >> 12)
      database.adjustLiveEntries(table >> 12, by: 1)
      let writable = ProtectionRules.allows(protection, .write) ? HardwarePTE.writable : 0
      entry.pointee =
        pfn << 12 | HardwarePTE.present | writable | HardwarePTE.noExecute | HardwarePTE.accessed
        | (access == .write ? HardwarePTE.dirty : 0)
      return .resolved(.prototype)
    }
  }

  /// Takes every valid PTE of `pages` pages from `base` away: each page loses
  /// a share (the last share puts it in transition), a D bit marks it modified first.
  static func unmap(_ table: UInt64, base: UInt64, pages: UInt64) {
    let database = MemoryManager.booted("SystemSpacePTEs.unmap").database
    for page in 0..<pages {
      let va = base + page << 12
      let entry = pte(table, va)
      let old = entry.pointee
      guard old & HardwarePTE.present != 0 else { continue }
      entry.pointee = 0
      arch_invlpg(va)
      let pfn = (old & HardwarePTE.frameMask) >> 12
      if old & HardwarePTE.dirty != 0 { database.noteDirty(pfn) }
      database.removeMapping(pfn, fate: .free)
      database.adjustLiveEntries(table >> 12, by: -1)
    }
  }

  /// Moves the D bits of `pages` pages from `base` into their pages' records (before a flush).
  static func harvestDirtyBits(_ table: UInt64, base: UInt64, pages: UInt64) {
    let database = MemoryManager.booted("SystemSpacePTEs.harvestDirtyBits").database
    for page in 0..<pages {
      let va = base + page << 12
      let entry = pte(table, va)
      guard entry.pointee & (HardwarePTE.present | HardwarePTE.dirty) == HardwarePTE.present | HardwarePTE.dirty
      else { continue }
      entry.pointee &= ~HardwarePTE.dirty
      arch_invlpg(va)
      database.noteDirty((entry.pointee & HardwarePTE.frameMask) >> 12)
    }
  }
}
