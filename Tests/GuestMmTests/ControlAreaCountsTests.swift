import Testing

@testable import GuestMm

@Suite("A control area's reference counts")
struct ControlAreaCountsTests {
  func trap(_ reason: StaticString) -> Never { fatalError("\(reason)") }

  @Test("views outlive their section object; the control area goes with the last view when no page remains")
  func viewsOutliveTheSection() {
    var counts = ControlAreaCounts()
    let r1 = counts.addSection()
    #expect(r1)
    let r2 = counts.addView(user: true)
    #expect(r2)
    let r3 = counts.addView(user: false)
    #expect(r3)
    #expect(counts.userReferences == 2 && counts.mappedViews == 2)
    let r4 = counts.removeSection(trap)
    #expect(r4 == .none, "two views still map it")
    let r5 = counts.removeView(user: true, trap)
    #expect(r5 == .none)
    let r6 = counts.removeView(user: false, trap)
    #expect(r6 == .controlArea)
    #expect(counts.beingDeleted && !counts.inUse)
  }

  @Test("pages in memory keep the control area after the segment goes, until the last page leaves")
  func pagesKeepTheControlArea() {
    var counts = ControlAreaCounts()
    _ = counts.addSection()
    counts.addPage()
    counts.addPage()
    let r7 = counts.removeSection(trap)
    #expect(r7 == .segment)
    let r8 = counts.addSection()
    #expect(!r8, "a control area being deleted takes no new section")
    let r9 = counts.addView(user: true)
    #expect(!r9)
    let r10 = counts.removePage(trap)
    #expect(r10 == .none)
    let r11 = counts.removePage(trap)
    #expect(r11 == .controlArea)
  }

  @Test("a second section object on the same file shares the counts")
  func secondSection() {
    var counts = ControlAreaCounts()
    _ = counts.addSection()
    _ = counts.addSection()
    #expect(counts.sections == 2)
    let r12 = counts.removeSection(trap)
    #expect(r12 == .none)
    let r13 = counts.removeSection(trap)
    #expect(r13 == .controlArea)
  }

  @Test("pages coming and going while users remain free nothing")
  func pagesWhileInUse() {
    var counts = ControlAreaCounts()
    _ = counts.addSection()
    counts.addPage()
    let r14 = counts.removePage(trap)
    #expect(r14 == .none)
    #expect(counts.inUse)
  }

  @Test("a count taken below zero traps with its reason (a broken invariant, not a status)")
  func underflowTraps() async {
    await #expect(processExitsWith: .failure) {
      var counts = ControlAreaCounts()
      _ = counts.removeView(user: true) { reason in fatalError("\(reason)") }
    }
  }
}
