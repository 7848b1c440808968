import GuestArch

/// The guest's sections as GuestMm's views reach them (`SectionBackend`): the
/// control-area table, named by record address, and the page work of a prototype fault.
struct GuestSections: SectionBackend {
  func section(_ controlArea: UInt64) -> SectionShape? {
    guard let slot = ControlAreas.slot(at: controlArea) else { return nil }
    return ControlAreas.areas[slot]!.shape
  }

  func prototypePTE(_ controlArea: UInt64, page: UInt64) -> UInt64 {
    guard let slot = ControlAreas.slot(at: controlArea) else { kernelPanic("GuestSections.prototypePTE", "no section") }
    return ControlAreas.areas[slot]!.segment.read(page)
  }

  mutating func makeResident(_ controlArea: UInt64, page: UInt64, _ decision: PrototypeFaultDecision)
    -> Result<UInt64, Status>
  {
    guard let slot = ControlAreas.slot(at: controlArea) else { return .failure(.accessViolation) }
    let database = MemoryManager.booted("GuestSections.makeResident").database
    switch decision {
    case .shareValid(let pfn): return .success(pfn)
    case .reclaim(let pfn):
      database.reclaimPrototype(pfn)
      return .success(pfn)
    case .zeroPage: return ControlAreas.zeroPage(slot, page: page)
    case .readFile(let first, let count, let validBytes):
      return ControlAreas.readCluster(slot, first: first, count: count, validBytes: validBytes, faulting: page)
    case .pageFileRead, .accessViolation, .beyondSection: return .failure(.accessViolation)
    }
  }

  mutating func copyPage(_ pfn: UInt64) -> UInt64? {
    let mm = MemoryManager.booted("GuestSections.copyPage")
    guard let copy = mm.database.allocatePage(zeroed: false) else { return nil }
    arch_copy_page(PhysicalWindow.virtualAddress(copy << 12), PhysicalWindow.virtualAddress(pfn << 12))
    if let index = mm.currentProcess { mm.database.record(copy).owner = mm.processes[index].id }
    return copy
  }

  mutating func commitPages(_ controlArea: UInt64, first: UInt64, last: UInt64) -> Status {
    guard let slot = ControlAreas.slot(at: controlArea) else { kernelPanic("GuestSections.commitPages", "no section") }
    return ControlAreas.commitPages(slot, first: first, last: last)
  }

  mutating func viewMapped(_ controlArea: UInt64) -> Bool {
    guard let slot = ControlAreas.slot(at: controlArea) else { return false }
    return ControlAreas.addView(slot, user: true)
  }

  mutating func viewUnmapped(_ controlArea: UInt64) {
    guard let slot = ControlAreas.slot(at: controlArea) else { kernelPanic("GuestSections.viewUnmapped", "no section") }
    ControlAreas.removeView(slot, user: true)
  }
}

extension ControlAreas {
  /// A page-file-backed section page's first touch: a zeroed page, valid in
  /// its prototype PTE and modified (the page file holds no copy of it).
  static func zeroPage(_ slot: Int, page: UInt64) -> Result<UInt64, Status> {
    let database = MemoryManager.booted("ControlAreas.zeroPage").database
    guard let area = areas[slot], let pfn = database.allocatePage(zeroed: true) else { return .failure(.noMemory) }
    database.attachPrototype(
      pfn, pteAddress: area.segment.entryAddress(page), pteFrame: area.segment.entryPhysical(page) >> 12,
      original: area.segment.read(page), protection: area.protection, mapped: true, modified: true)
    addPage(slot)
    return .success(pfn)
  }

  /// MEM_COMMIT in a view of page-file section `slot` (`SectionBackend.commitPages`):
  /// its uncommitted prototype PTEs in `first...last` become demand zero, if
  /// the available pages cover them (this Mm's commit limit), else nothing changes.
  static func commitPages(_ slot: Int, first: UInt64, last: UInt64) -> Status {
    guard let area = areas[slot], area.fileBlock == nil, first <= last, last < area.segment.pages else {
      kernelPanic("ControlAreas.commitPages", "not a page-file section's pages")
    }
    let wanted = (first...last).reduce(UInt64(0)) { $0 + (area.segment.read($1) == 0 ? 1 : 0) }
    guard wanted <= MemoryManager.booted("ControlAreas.commitPages").database.availablePages else {
      return .commitmentLimit
    }
    let demandZero = SoftwarePTE.demandZero(protection: area.protection).raw
    for page in first...last where area.segment.read(page) == 0 { area.segment.write(page, demandZero) }
    return .success
  }

  /// At shutdown: every modified file page written.
  static func flushAll() {
    for slot in 0..<areas.count where areas[slot] != nil {
      _ = flush(slot, first: 0, last: areas[slot]!.segment.pages - 1)
    }
  }

  /// A standby section page whose prototype PTE is at `pteAddress` was repurposed: its section counts it gone.
  static func pageRepurposed(pteAddress: UInt64) {
    let table = (pteAddress - KernelLayout.directMapBase) & ~0xFFF
    for slot in 0..<areas.count where areas[slot]?.segment.holds(table: table) == true {
      return removePage(slot)
    }
    kernelPanic("ControlAreas.pageRepurposed", "a section page of no segment")
  }
}
