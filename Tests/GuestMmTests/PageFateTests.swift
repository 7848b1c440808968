import GuestABI
import GuestMm
import Testing

/// Pages that leave their PTE without being freed: the fates GuestMm picks,
/// the lists the database puts them on, and a standby page repurposed
/// through its PTE's frame.
@Suite("Page fates: trimmed pages go to standby or modified, a standby page is repurposed")
struct PageFateTests {
  static let readWrite = PageProtection.readWrite

  @Test("trim: a clean page goes to standby, a dirty one to modified; the PTE becomes its transition PTE")
  func trimPicksTheFate() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x1_0000, protection: Self.readWrite, commit: true)
    #expect(harness.vm.resolveFault(0x5000_0000, access: .read, userMode: true) == .resolved(.demandZero))
    #expect(harness.vm.resolveFault(0x5000_1000, access: .write, userMode: true) == .resolved(.demandZero))
    let clean = FakeBackend.frame(harness.pte(0x5000_0000))
    let dirty = FakeBackend.frame(harness.pte(0x5000_1000))
    let trimmedClean = harness.vm.trim(0x5000_0000)
    let trimmedDirty = harness.vm.trim(0x5000_1FFF)
    #expect(trimmedClean && trimmedDirty)
    #expect(harness.backend.keptPages == [clean: .standby, dirty: .modified])
    #expect(SoftwarePTE(raw: harness.pte(0x5000_0000)) == .transition(pfn: clean, protection: Self.readWrite))
    #expect(SoftwarePTE(raw: harness.pte(0x5000_1000)) == .transition(pfn: dirty, protection: Self.readWrite))
    #expect(harness.backend.workingSet.valid.isEmpty, "the working set heard both pages go")
    #expect(harness.backend.freedPages == 0 && harness.backend.accountingProblems() == [])
    let trimmedInvalid = harness.vm.trim(0x5000_2000)
    #expect(!trimmedInvalid, "a page that is not valid is not trimmed")
    #expect(PageFate.whenDeleted == .free)
  }

  /// A page table at PFN 7 whose entry 3 maps PFN 5, made valid over `original`.
  func mappedPage(_ fixture: DatabaseFixture, original: UInt64) -> UInt64 {
    let table = fixture.memory.bytes(at: 7 << 12)
    table.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
    fixture.database.labelPageTable(7, pteAddress: 0xFFFF_F6FB_7DBE_D000, parent: 2, owner: 1, live: 1)
    let pteAddress: UInt64 = 0xFFFF_F680_0000_0000 | 3 * 8
    fixture.database.addMapping(5, pteAddress: pteAddress, table: 7, originalPTE: original)
    return pteAddress
  }

  @Test("a standby page is repurposed: its PTE gets the original PTE back through the PTE frame")
  func standbyIsRepurposed() {
    let fixture = DatabaseFixture(pages: 8)
    let database = fixture.database
    let original = SoftwarePTE.demandZero(protection: Self.readWrite).raw
    _ = mappedPage(fixture, original: original)
    // Trimmed: the PTE becomes the transition PTE, the page goes to standby.
    let pte = fixture.memory.bytes(at: 7 << 12 + 3 * 8)
    pte.storeBytes(of: SoftwarePTE.transition(pfn: 5, protection: Self.readWrite).raw, as: UInt64.self)
    #expect(database.removeMapping(5, fate: .standby))
    #expect(fixture.walk(.standby) == [5] && database.availableCount == 1)
    #expect(database.record(5).pteFrame == 7 && database.record(5).originalPTE == original)
    fixture.memory.bytes(at: 5 << 12).storeBytes(of: UInt64.max, as: UInt64.self)
    // No free or zeroed page: the allocation takes it.
    #expect(database.allocatePage(zeroed: true) == 5)
    #expect(pte.load(as: UInt64.self) == original, "the old owner's PTE is demand zero again")
    #expect(fixture.memory.bytes(at: 5 << 12).load(as: UInt64.self) == 0, "zeroed for a zeroed request")
    let page = database.record(5)
    #expect(page.location == .activeAndValid && page.pteAddress == 0 && page.originalPTE == 0)
    #expect(page.pteFrame == PageFrameRecord.noPage && database.total(.standby) == 0 && database.availableCount == 0)
    #expect(database.liveEntries(7) == 1, "transition PTE to demand-zero PTE: the table's entry stays live")
  }

  @Test("modified and kept pages are not taken: a modified page must be written first")
  func modifiedAndKeptStay() {
    let fixture = DatabaseFixture(pages: 8)
    _ = mappedPage(fixture, original: SoftwarePTE.demandZero(protection: Self.readWrite).raw)
    #expect(fixture.database.removeMapping(5, fate: .modified))
    #expect(fixture.walk(.modified) == [5] && fixture.database.availableCount == 0)
    #expect(fixture.database.allocatePage(zeroed: false) == nil)
    fixture.database.remove(5)
    fixture.database.record(5).location = .activeAndValid
    fixture.database.addMapping(5, pteAddress: 0xFFFF_F680_0000_0018, table: 7)
    #expect(fixture.database.removeMapping(5, fate: .kept))
    #expect(fixture.database.record(5).location == .activeAndValid && fixture.database.record(5).shareCount == 0)
    #expect(fixture.database.total(.free) == 0 && fixture.database.total(.standby) == 0)
  }
}
