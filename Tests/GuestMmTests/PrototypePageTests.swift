import GuestABI
import Testing

@testable import GuestMm

/// Section pages in the PFN database: they name their prototype PTE, count
/// the view PTEs mapping them, and with none left wait in transition.
@Suite("Section pages in the PFN database: prototype PTE, shares, transition, reclaim, repurpose")
struct PrototypePageTests {
  /// Segment page 9 holds the prototype PTEs; entry 2 is the one under test.
  static let segmentFrame: UInt64 = 9
  static let pteAddress = KernelLayout.directMapBase + (9 << 12) + 2 * 8
  static let inFile = SoftwarePTE.prototype(address: 0xFFFF_8800_0000_0800, protection: 4, viaVAD: false).raw
  static let readWrite = PageProtection.readWrite

  func prototype(_ fixture: DatabaseFixture) -> UInt64 {
    fixture.memory.bytes(at: (Self.segmentFrame << 12) + 16).load(as: UInt64.self)
  }

  func attached(_ fixture: DatabaseFixture, mapped: Bool, modified: Bool = false) -> UInt64 {
    fixture.memory.bytes(at: (Self.segmentFrame << 12) + 16).storeBytes(of: Self.inFile, as: UInt64.self)
    fixture.database.attachPrototype(
      5, pteAddress: Self.pteAddress, pteFrame: Self.segmentFrame, original: Self.inFile, protection: Self.readWrite,
      mapped: mapped, modified: modified)
    return 5
  }

  @Test("a mapped section page: its prototype PTE valid, shares counted, the record still naming the prototype")
  func sharesKeepThePrototype() {
    let fixture = DatabaseFixture()
    let pfn = attached(fixture, mapped: true)
    #expect(SoftwarePTE(raw: prototype(fixture)) == .valid(prototype(fixture)))
    #expect((prototype(fixture) & HardwarePTE.frameMask) >> 12 == pfn)
    fixture.database.addMapping(pfn, pteAddress: 0xFFFF_F680_0000_0008, table: 3)
    fixture.database.addMapping(pfn, pteAddress: 0xFFFF_F680_0000_0010, table: 4)
    let page = fixture.database.record(pfn)
    #expect(page.shareCount == 2 && page.referenceCount == 2 && page.location == .activeAndValid)
    #expect(page.pteAddress == Self.pteAddress && page.pteFrame == UInt32(Self.segmentFrame))
    #expect(page.frameFlags == .prototype && page.originalPTE == Self.inFile && page.owner == 0)
    #expect(fixture.database.removeMapping(pfn, fate: .free) == false)
    #expect(page.location == .activeAndValid && page.shareCount == 1)
  }

  @Test("the last share goes: the prototype PTE turns transition, the page waits on standby, or modified when dirty")
  func lastShareEntersTransition() {
    let clean = DatabaseFixture()
    let pfn = attached(clean, mapped: true)
    clean.database.addMapping(pfn, pteAddress: 0xFFFF_F680_0000_0008, table: 3)
    #expect(clean.database.removeMapping(pfn, fate: .free))
    #expect(SoftwarePTE(raw: prototype(clean)) == .transition(pfn: pfn, protection: Self.readWrite))
    #expect(clean.walk(.standby) == [pfn] && clean.walk(.free).isEmpty)

    let dirty = DatabaseFixture()
    _ = attached(dirty, mapped: true)
    dirty.database.addMapping(pfn, pteAddress: 0xFFFF_F680_0000_0008, table: 3)
    dirty.database.noteDirty(pfn)
    #expect(dirty.database.removeMapping(pfn, fate: .free))
    #expect(dirty.walk(.modified) == [pfn] && dirty.database.record(pfn).frameFlags == [.prototype, .modified])
    dirty.database.noteWritten(pfn)
    #expect(dirty.walk(.modified).isEmpty && dirty.walk(.standby) == [pfn], "written: clean, on standby")
  }

  @Test("a page read beside the faulting one starts in transition; a fault takes it back without I/O")
  func reclaim() {
    let fixture = DatabaseFixture()
    let pfn = attached(fixture, mapped: false)
    #expect(fixture.walk(.standby) == [pfn])
    fixture.database.reclaimPrototype(pfn)
    #expect(fixture.walk(.standby).isEmpty && fixture.database.record(pfn).location == .activeAndValid)
    #expect((prototype(fixture) & HardwarePTE.frameMask) >> 12 == pfn && prototype(fixture) & 1 == 1)
  }

  @Test("repurposing a standby section page restores its subsection PTE and tells the section")
  func repurpose() {
    let fixture = DatabaseFixture()
    let pfn = attached(fixture, mapped: false)
    #expect(fixture.database.allocatePage(zeroed: false) == pfn)
    #expect(prototype(fixture) == Self.inFile)
    #expect(fixture.memory.repurposed == [Self.pteAddress])
    #expect(fixture.database.record(pfn).flags == 0 && fixture.database.record(pfn).pteAddress == 0)
  }

  @Test("when the segment goes, a section page in transition is freed and forgets its prototype")
  func detach() {
    let fixture = DatabaseFixture()
    let pfn = attached(fixture, mapped: false, modified: true)
    #expect(fixture.walk(.modified) == [pfn])
    fixture.database.detachPrototype(pfn)
    #expect(fixture.walk(.modified).isEmpty && fixture.walk(.free) == [pfn])
    let page = fixture.database.record(pfn)
    #expect(page.flags == 0 && page.pteAddress == 0 && page.originalPTE == 0)
    #expect(fixture.memory.repurposed.isEmpty)
  }

  @Test("noteDirty marks only section pages (a private page's file is the page file, written by the pager)")
  func dirtyOnlyForSections() {
    let fixture = DatabaseFixture()
    fixture.database.record(6).flags = 0
    fixture.database.noteDirty(6)
    #expect(fixture.database.record(6).flags == 0)
  }
}
