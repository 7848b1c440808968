import GuestABI
import Testing

@testable import GuestMm

/// Views of sections in VirtualMemory: mapping, the prototype fault path,
/// write-copy, unmapping and the flush's dirty-bit harvest, against FakeSections.
@Suite("Section views: map, fault through the prototype PTE, write-copy, unmap")
struct ViewTests {
  static let controlArea: UInt64 = 0x1_0800
  static let readWrite = PageProtection.readWrite

  /// A harness with a 64-page section at `controlArea` (file backed unless told).
  func harness(fileBacked: Bool = true, sections: FakeSections = FakeSections()) -> Harness {
    let harness = Harness()
    harness.backend.sections = sections
    if sections.store.shapes.isEmpty { sections.add(Self.controlArea, pages: 64, fileBacked: fileBacked) }
    return harness
  }

  func plan(offset: UInt64 = 0, size: UInt64 = 64 << 12, protection: UInt8 = readWrite) -> ViewPlan {
    ViewPlan(offset: offset, size: size, protection: protection, commitSize: 0)
  }

  @Test("a view is a mapped VAD naming its control area and first page; the section counts it")
  func mapsAVad() {
    let h = harness()
    let r = h.vm.mapView(controlArea: Self.controlArea, plan: plan(offset: 0x1_0000, size: 0x2_0000), baseAddress: 0)
    #expect(r.status == .success && r.base == UserAddressSpace.lowest && r.size == 0x2_0000)
    #expect(
      h.vads == [
        VadEntry(
          startPage: 0x10, endPage: 0x2F, protection: Self.readWrite, type: .mapped, flags: .committedAtReservation,
          committedPages: 32, controlArea: Self.controlArea, sectionOffsetPages: 16)
      ])
    #expect(h.backend.sections.store.views[Self.controlArea] == 1)
    #expect(h.backend.ptes.isEmpty, "no PTE is written until a fault")
  }

  @Test("a view over a VAD, past the user half, or of a section being deleted changes nothing")
  func refusedMaps() {
    let h = harness()
    _ = h.vm.reserve(base: 0x2000_0000, size: 0x1_0000, protection: Self.readWrite)
    h.expectRefused(.conflictingAddresses) {
      $0.vm.mapView(controlArea: Self.controlArea, plan: plan(), baseAddress: 0x1FFF_0000).status
    }
    h.expectRefused(.invalidParameter3) {
      $0.vm.mapView(controlArea: Self.controlArea, plan: plan(), baseAddress: UserAddressSpace.end - 0x1_0000).status
    }
    h.backend.sections.store.beingDeleted.insert(Self.controlArea)
    h.expectRefused(.accessDenied) {
      $0.vm.mapView(controlArea: Self.controlArea, plan: plan(), baseAddress: 0x4000_0000).status
    }
    #expect(h.backend.sections.store.views[Self.controlArea] == nil)
  }

  @Test("a read fault reads the file cluster and maps the page the prototype PTE names; a second view shares it")
  func faultsShareOnePage() {
    let sections = FakeSections()
    sections.add(Self.controlArea, pages: 64, fileBacked: true)
    let a = harness(sections: sections)
    let b = harness(sections: sections)
    _ = a.vm.mapView(controlArea: Self.controlArea, plan: plan(), baseAddress: 0x4000_0000)
    _ = b.vm.mapView(
      controlArea: Self.controlArea, plan: plan(offset: 0x1_0000, size: 0x1_0000), baseAddress: 0x5000_0000)
    #expect(a.vm.resolveFault(0x4001_3000, access: .read, userMode: true) == .resolved(.prototype))
    #expect(sections.store.decisions == [.readFile(firstPage: 16, pageCount: 16, validBytes: 16 << 12)])
    let frame = FakeBackend.frame(a.pte(0x4001_3000))
    #expect(sections.store.frames.contains(frame))
    #expect(a.pte(0x4001_3000) & HardwarePTE.writable != 0 && a.pte(0x4001_3000) & HardwarePTE.dirty == 0)
    #expect(b.vm.resolveFault(0x5000_3000, access: .write, userMode: true) == .resolved(.prototype))
    #expect(sections.store.decisions.last == .shareValid(pfn: frame))
    #expect(FakeBackend.frame(b.pte(0x5000_3000)) == frame)
    #expect(b.pte(0x5000_3000) & HardwarePTE.dirty != 0, "a write fault maps the page dirty")
  }

  @Test("the view's protection rules: a read-only view refuses writes, pages past the section fault")
  func protections() {
    let h = harness()
    _ = h.vm.mapView(
      controlArea: Self.controlArea, plan: plan(offset: 0x3_0000, size: 0x2_0000, protection: PageProtection.readOnly),
      baseAddress: 0x4000_0000)
    h.expectRefused(.accessViolation) { $0.vm.resolveFault(0x4000_0000, access: .write, userMode: true).status }
    #expect(h.vm.resolveFault(0x4000_0000, access: .read, userMode: true) == .resolved(.prototype))
    #expect(h.pte(0x4000_0000) & HardwarePTE.writable == 0)
    // The view reaches 16 pages past the 64-page section (a MEM_RESERVE view of a data section may).
    h.expectRefused(.accessViolation) { $0.vm.resolveFault(0x4001_0000, access: .read, userMode: true).status }
  }

  @Test("a failed read or no page leaves the view PTE as it was")
  func failuresChangeNothing() {
    let h = harness()
    _ = h.vm.mapView(controlArea: Self.controlArea, plan: plan(), baseAddress: 0x4000_0000)
    h.backend.sections.store.failNext = .inPageError
    h.expectRefused(.inPageError) { $0.vm.resolveFault(0x4000_0000, access: .read, userMode: true).status }
    h.backend.sections.store.failNext = .noMemory
    h.expectRefused(.noMemory) { $0.vm.resolveFault(0x4000_0000, access: .read, userMode: true).status }
    h.backend.limit = 0
    h.expectRefused(.noMemory) { $0.vm.resolveFault(0x4000_0000, access: .read, userMode: true).status }
  }

  @Test("write-copy: reads share the section's page without write access; the first write takes a private copy")
  func writeCopy() {
    let h = harness()
    _ = h.vm.mapView(
      controlArea: Self.controlArea, plan: plan(protection: PageProtection.writeCopy), baseAddress: 0x4000_0000)
    #expect(h.vm.resolveFault(0x4000_0000, access: .read, userMode: true) == .resolved(.prototype))
    let shared = FakeBackend.frame(h.pte(0x4000_0000))
    #expect(h.pte(0x4000_0000) & HardwarePTE.writable == 0 && h.pte(0x4000_0000) & HardwarePTE.copyOnWrite != 0)
    #expect(h.vm.resolveFault(0x4000_0000, access: .write, userMode: true) == .resolved(.prototype))
    let copy = FakeBackend.frame(h.pte(0x4000_0000))
    #expect(copy != shared && h.backend.sections.store.copies[copy] == shared)
    #expect(ProtectionRules.protection(ofValid: h.pte(0x4000_0000)) == Self.readWrite)
    #expect(h.pte(0x4000_0000) & (HardwarePTE.writable | HardwarePTE.dirty) == HardwarePTE.writable | HardwarePTE.dirty)
    #expect(h.backend.users[shared] == nil, "the shared page lost this view's share")
    // A first touch that writes copies at once.
    #expect(h.vm.resolveFault(0x4000_1000, access: .write, userMode: true) == .resolved(.prototype))
    #expect(h.backend.sections.store.copies[FakeBackend.frame(h.pte(0x4000_1000))] != nil)
  }

  @Test("unmap takes every PTE and the VAD away and tells the section; frees and decommits of a view are refused")
  func unmap() {
    let h = harness(fileBacked: false)
    _ = h.vm.mapView(controlArea: Self.controlArea, plan: plan(), baseAddress: 0x4000_0000)
    _ = h.vm.reserve(base: 0x6000_0000, size: 0x1_0000, protection: Self.readWrite)
    #expect(h.vm.resolveFault(0x4000_5000, access: .write, userMode: true) == .resolved(.prototype))
    #expect(h.backend.sections.store.decisions == [.zeroPage])
    h.expectRefused(.unableToDeleteSection) { $0.vm.release(base: 0x4000_0000, size: 0).status }
    h.expectRefused(.unableToDeleteSection) { $0.vm.decommit(base: 0x4000_0000, size: 0x1000).status }
    h.expectRefused(.notMappedView) { $0.vm.unmapView(baseAddress: 0x6000_0000).status }
    h.expectRefused(.notMappedView) { $0.vm.unmapView(baseAddress: 0x7000_0000).status }
    let r = h.vm.unmapView(baseAddress: 0x4000_FFFF)
    #expect(r.status == .success && r.controlArea == Self.controlArea)
    #expect(h.backend.ptes.isEmpty && h.vads.count == 1 && h.backend.sections.store.views[Self.controlArea] == 0)
    #expect(h.backend.accountingProblems() == [])
  }

  @Test("a flush harvests the view's dirty bits and names the section pages of the range")
  func flushHarvestsDirtyBits() {
    let h = harness()
    _ = h.vm.mapView(
      controlArea: Self.controlArea, plan: plan(offset: 0x1_0000, size: 0x3_0000), baseAddress: 0x4000_0000)
    #expect(h.vm.resolveFault(0x4000_2000, access: .write, userMode: true) == .resolved(.prototype))
    let r = h.vm.viewPagesToFlush(baseAddress: 0x4000_1000, regionSize: 0x2000)
    #expect(r.status == .success && r.controlArea == Self.controlArea)
    #expect(r.firstSectionPage == 17 && r.lastSectionPage == 18 && r.base == 0x4000_1000 && r.size == 0x2000)
    #expect(h.pte(0x4000_2000) & HardwarePTE.dirty == 0 && h.pte(0x4000_2000) & HardwarePTE.present != 0)
    let whole = h.vm.viewPagesToFlush(baseAddress: 0x4000_0000, regionSize: 0)
    #expect(whole.firstSectionPage == 16 && whole.lastSectionPage == 63 && whole.size == 0x3_0000)
    #expect(h.vm.viewPagesToFlush(baseAddress: 0x4000_0000, regionSize: 0x4_0000).status == .notMappedView)
    #expect(h.vm.viewPagesToFlush(baseAddress: 0x7000_0000, regionSize: 0).status == .notMappedView)
  }

  @Test("a SEC_RESERVE view's uncommitted pages query as MEM_RESERVE; a committed page as MEM_COMMIT")
  func reservedViewQuery() {
    let sections = FakeSections()
    sections.add(Self.controlArea, pages: 64, fileBacked: false)
    for page in UInt64(0)..<64 where page != 5 { sections.store.prototypes[Self.controlArea]![page] = 0 }
    let h = harness(sections: sections)
    let base = h.vm.mapView(controlArea: Self.controlArea, plan: plan(), baseAddress: 0x4000_0000).base
    let first = h.vm.query(base).info
    #expect(first.state == .reserved && first.protection == 0 && first.regionSize == 5 << 12)
    #expect(first.allocationProtection == Self.readWrite && first.type == .mapped)
    let committed = h.vm.query(base + 5 << 12).info
    #expect(committed.state == .committed && committed.protection == Self.readWrite && committed.regionSize == 4096)
    #expect(h.vm.committedProtection(at: base) == nil && h.vm.committedProtection(at: base + 5 << 12) == Self.readWrite)
  }
  @Test("MEM_COMMIT in a SEC_RESERVE view commits the section's pages, seen by every view; refusals change nothing")
  func commitInReservedView() {
    let sections = FakeSections()
    sections.add(Self.controlArea, pages: 64, fileBacked: false)
    for page in UInt64(0)..<64 { sections.store.prototypes[Self.controlArea]![page] = 0 }
    let h = harness(sections: sections)
    let base = h.vm.mapView(
      controlArea: Self.controlArea, plan: plan(offset: 0x1_0000, size: 0x2_0000), baseAddress: 0x4000_0000
    ).base
    let other = h.vm.mapView(controlArea: Self.controlArea, plan: plan(), baseAddress: 0x5000_0000).base
    let commit = MemoryAllocationType.commit.rawValue
    let readWrite = Win32Protection.readWrite.rawValue
    func allocate(_ address: UInt64, _ size: UInt64, protect: UInt32 = readWrite) -> (Status, UInt64, UInt64) {
      let r = h.vm.ntAllocateVirtualMemory(
        baseAddress: address, zeroBits: 0, regionSize: size, allocationType: commit, protect: protect)
      return (r.status, r.baseAddress, r.regionSize)
    }
    let before = sections.store.prototypes[Self.controlArea]!
    #expect(allocate(base + 0x1800, 0x1000, protect: Win32Protection.readOnly.rawValue) == (.notImplemented, 0, 0))
    sections.store.commitLimit = 1
    #expect(allocate(base + 0x1800, 0x1000) == (.commitmentLimit, 0, 0))
    #expect(sections.store.prototypes[Self.controlArea]! == before, "a refused commit changed a prototype PTE")
    sections.store.commitLimit = .max
    #expect(allocate(base + 0x1800, 0x1000) == (.success, base + 0x1000, 0x2000))
    let demandZero = SoftwarePTE.demandZero(protection: Self.readWrite).raw
    let committed = sections.store.prototypes[Self.controlArea]!.filter { $0.value == demandZero }.keys.sorted()
    #expect(committed == [17, 18], "section pages 17 and 18 (view pages 1 and 2)")
    let mine = h.vm.query(base + 0x1000).info
    #expect(mine.state == .committed && mine.regionSize == 0x2000 && mine.protection == Self.readWrite)
    #expect(h.vm.query(other + 17 << 12).info.state == .committed, "the other view sees the commit")
    #expect(h.vm.query(other + 16 << 12).info.state == .reserved)
    #expect(allocate(base + 0x1800, 0x1000) == (.success, base + 0x1000, 0x2000), "committing twice is no error")
    #expect(allocate(base + 0x1_F000, 0x2000) == (.conflictingAddresses, 0, 0), "past the view's VAD")
  }

  @Test("MEM_COMMIT in a view of a data file is STATUS_ALREADY_COMMITTED")
  func commitInFileView() {
    let h = harness()
    let base = h.vm.mapView(controlArea: Self.controlArea, plan: plan(), baseAddress: 0x4000_0000).base
    let r = h.vm.ntAllocateVirtualMemory(
      baseAddress: base, zeroBits: 0, regionSize: 0x1000, allocationType: MemoryAllocationType.commit.rawValue,
      protect: Win32Protection.readWrite.rawValue)
    #expect(r.status == .alreadyCommitted && h.backend.sections.store.commits.isEmpty)
  }
}
