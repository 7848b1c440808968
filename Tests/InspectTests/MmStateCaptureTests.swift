import GuestABI
import Inspect
import Testing

/// What a failed call must leave as it was: a capture before and after names
/// every change (a PTE, a PFN record, a list head), and nothing when nothing changed.
@Suite("Before-and-after captures of the Mm")
struct MmStateCaptureTests {
  @Test("an unchanged guest shows no change")
  func unchanged() throws {
    let guest = SyntheticGuest()
    let before = try guest.withState { MmStateCapture($0) }
    let after = try guest.withState { MmStateCapture($0) }
    #expect(after.changes(since: before).isEmpty)
    #expect(before.processes.count == 2)
    #expect(before.processes.allSatisfy { !$0.entries.isEmpty && !$0.vadTable.isEmpty })
  }

  @Test("a new user PTE, a changed PFN record and a list head are each named")
  func plantedChanges() throws {
    let guest = SyntheticGuest()
    let before = try guest.withState { MmStateCapture($0) }
    let (va, entry) = guest.spareUserSlot(process: 0)
    guest.setEntry(entry, 0x8000_0000_0000_0006)  // a software PTE where there was none
    guest.setRecord32(5, PageFrameRecord.shareCount, 7)
    guest.setHead(.zeroed, total: guest.headTotal(.zeroed) + 1)
    let changes = try guest.withState { MmStateCapture($0) }.changes(since: before)
    #expect(
      changes.contains { $0.contains("PTE for \(hexString(va)) changed from 0x0 to 0x8000000000000006") }, "\(changes)")
    #expect(changes.contains { $0 == "PFN 0x5's record changed" }, "\(changes)")
    #expect(changes.contains { $0.hasPrefix("the zeroed list head changed") }, "\(changes)")
    #expect(changes.count == 3)
  }

  @Test("a control area's counts and a view in system space, changed, are each named")
  func sectionChanges() throws {
    var options = SyntheticGuest.Options()
    options.sections = true
    let guest = SyntheticGuest(options)
    let before = try guest.withState { MmStateCapture($0) }
    #expect(before.controlAreas.count == 2 && before.systemSpaceViews.count == 1)
    let area = guest.sections.record(SectionModel.fileSlot)
    #expect(guest.memory.store(UInt32(5), at: area + UInt64(ControlAreaRecord.mappedViews)))
    #expect(guest.memory.store(UInt64(0), at: guest.sections.systemViews + UInt64(SystemViewRecord.size)))
    let changes = try guest.withState { MmStateCapture($0) }.changes(since: before)
    #expect(changes == ["control area 0's record changed", "the views in system space changed (1 -> 0 mapped)"])
  }

  func hexString(_ value: UInt64) -> String { "0x" + String(value, radix: 16, uppercase: true) }
}
