#if canImport(GuestABI)
  import GuestABI
#endif

// Views of sections in a process (NtMapViewOfSection, NtUnmapViewOfSection)
// and the faults on them. A view is a VAD of type mapped naming its control
// area and first section page; its PTEs start zero ("ask the VAD") and a
// fault makes them valid on the page the prototype PTE names, which every
// view of the section shares. A write-copy view maps the shared page without
// write access; its first write takes a private copy.

extension VirtualMemory {
  /// Maps `plan` (NtMapViewOfSection's checked arguments) of the section at
  /// `controlArea` at `baseAddress` (0: the lowest 64 KiB-aligned gap). Returns
  /// the view's base and size. conflictingAddresses: the range overlaps a VAD;
  /// noMemory: no gap, or the VAD table is full; invalidParameter3: the view
  /// would pass the user half; accessDenied: the section is being deleted.
  public mutating func mapView(controlArea: UInt64, plan: ViewPlan, baseAddress: UInt64)
    -> (status: Status, base: UInt64, size: UInt64)
  {
    let pages = plan.size >> 12
    var range = PageRange(first: baseAddress >> 12, last: (baseAddress >> 12) &+ pages &- 1)
    if baseAddress == 0 {
      guard let gap = lowestGap(pages: pages) else { return (.noMemory, 0, 0) }
      range = gap
    } else {
      guard baseAddress >= UserAddressSpace.lowest, range.last < UserAddressSpace.end >> 12, range.last >= range.first
      else { return (.invalidParameter3, 0, 0) }
    }
    let index = vads.firstIndex(startingAfter: range.last)
    if index > 0, vads[index - 1].endPage >= range.first { return (.conflictingAddresses, 0, 0) }
    guard vads.count < vads.capacity else { return (.noMemory, 0, 0) }
    guard backend.sections.viewMapped(controlArea) else { return (.accessDenied, 0, 0) }
    let entry = VadEntry(
      startPage: range.first, endPage: range.last, protection: plan.protection, type: .mapped,
      flags: .committedAtReservation, committedPages: UInt32(truncatingIfNeeded: pages), controlArea: controlArea,
      sectionOffsetPages: plan.offset >> 12)
    _ = vads.insert(entry, at: index)
    return (.success, range.baseAddress, range.byteCount)
  }

  /// Unmaps the view holding `baseAddress` (NtUnmapViewOfSection): every
  /// valid PTE goes (a section page with no view left enters transition, a
  /// written one as modified; a write-copy view's private copies are freed),
  /// then the VAD, then the view's reference on its section. notMappedView:
  /// the address is in no view. Returns the view's control area.
  public mutating func unmapView(baseAddress: UInt64) -> (status: Status, controlArea: UInt64) {
    guard baseAddress < UserAddressSpace.end, let index = vads.index(containing: baseAddress >> 12),
      vads[index].type == .mapped
    else { return (.notMappedView, 0) }
    let vad = vads[index]
    let range = PageRange(first: vad.startPage, last: vad.endPage)
    _ = apply(.delete, to: range, vadIndex: index)  // writes only zeros: cannot fail
    vads.remove(at: index)
    backend.sections.viewUnmapped(vad.controlArea)
    return (.success, vad.controlArea)
  }

  /// The section page that view page `va` (in `vad`, a view) maps.
  static func sectionPage(of va: UInt64, in vad: VadEntry) -> UInt64 {
    vad.sectionOffsetPages + ((va >> 12) - vad.startPage)
  }

  /// A fault on a view page whose PTE is not valid (`old`: zero, or a
  /// prototype PTE that asks the VAD): the prototype PTE decides
  /// (`PrototypeFault`), the section backend brings the page in, and the view
  /// PTE maps it with the view's rights, D set on a write. A write to a
  /// write-copy view then takes a private copy. On failure the PTE is `old` again.
  mutating func viewFault(_ va: UInt64, _ vad: VadEntry, _ access: MemoryAccess, old: UInt64) -> FaultResolution {
    guard let shape = backend.sections.section(vad.controlArea) else { return .accessViolation }
    let page = Self.sectionPage(of: va, in: vad)
    let protection = Self.protection(of: old, in: vad)
    let sections = backend.sections
    let decision = PrototypeFault.decide(
      page: page, access: access, protection: protection, sectionPages: shape.pages, fileBacked: shape.fileBacked,
      validDataLength: shape.fileSize
    ) { sections.prototypePTE(vad.controlArea, page: $0) }
    switch decision {
    case .accessViolation, .beyondSection: return .accessViolation
    case .pageFileRead: return .notSupported(.pageFile)
    default: break
    }
    // The view PTE's page table first, so nothing fails once the page is in.
    let parked = SoftwarePTE.prototype(address: 0, protection: protection, viaVAD: true).raw
    if old != parked, !replacePTE(va, old, with: parked) { return .noMemory }
    let copying = access == .write && SectionRules.isWriteCopy(protection)
    switch backend.sections.makeResident(vad.controlArea, page: page, decision) {
    case .failure(let status):
      if old != parked { _ = replacePTE(va, parked, with: old) }
      return status == .noMemory ? .noMemory : .inPageError
    case .success(let pfn):
      let valid = ProtectionRules.validPTE(frame: pfn, protection: protection, dirty: access == .write && !copying)
      _ = replacePTE(va, parked, with: valid)  // the table exists: cannot fail
      return copying ? copyOnWrite(va, valid) : .resolved(.prototype)
    }
  }

  /// A write to a write-copy view page mapped shared (`pte`): a private copy
  /// replaces it, read-write (execute-read-write for an executable view) and
  /// dirty, and the shared page loses this view's share.
  mutating func copyOnWrite(_ va: UInt64, _ pte: UInt64) -> FaultResolution {
    guard let copy = backend.sections.copyPage((pte & HardwarePTE.frameMask) >> 12) else { return .noMemory }
    let code = ProtectionRules.protection(ofValid: pte)
    let writable =
      code & 7 == PageProtection.executeWriteCopy ? PageProtection.executeReadWrite : PageProtection.readWrite
    let valid = ProtectionRules.validPTE(frame: copy, protection: writable | (code & ~7), dirty: true)
    return replacePTE(va, pte, with: valid) ? .resolved(.prototype) : .noMemory
  }
}

extension VirtualMemory {
  /// What NtFlushVirtualMemory flushes of [base, base + size) (size 0: to the
  /// view's end): the range must lie in one view. The PTEs' dirty bits are
  /// moved into the pages' records (the backend notes a page dirty when its
  /// PTE loses D), so the section can write every modified page. notMappedView:
  /// not in a view; invalidParameter: a range that wraps or leaves the user half.
  public mutating func viewPagesToFlush(baseAddress: UInt64, regionSize: UInt64) -> (
    status: Status, controlArea: UInt64, firstSectionPage: UInt64, lastSectionPage: UInt64, base: UInt64,
    size: UInt64
  ) {
    let none: (Status, UInt64, UInt64, UInt64, UInt64, UInt64) = (.notMappedView, 0, 0, 0, 0, 0)
    guard baseAddress < UserAddressSpace.end, let index = vads.index(containing: baseAddress >> 12),
      vads[index].type == .mapped
    else { return none }
    let vad = vads[index]
    let range: PageRange
    if regionSize == 0 {
      range = PageRange(first: baseAddress >> 12, last: vad.endPage)
    } else {
      guard let asked = Self.userPages(base: baseAddress, size: regionSize) else {
        return (.invalidParameter, 0, 0, 0, 0, 0)
      }
      guard asked.last <= vad.endPage else { return none }
      range = asked
    }
    var page = range.first
    while true {
      let pte = backend.readPTE(page << 12)
      if pte & HardwarePTE.present != 0, pte & HardwarePTE.dirty != 0 {
        _ = replacePTE(page << 12, pte, with: pte & ~HardwarePTE.dirty)  // same frame: cannot fail
      }
      if page == range.last { break }
      page += 1
    }
    return (
      .success, vad.controlArea, Self.sectionPage(of: range.baseAddress, in: vad),
      Self.sectionPage(of: range.last << 12, in: vad), range.baseAddress, range.byteCount
    )
  }
}
