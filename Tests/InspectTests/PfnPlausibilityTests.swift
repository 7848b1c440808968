import GuestABI
import Inspect
import Testing

@Suite("pfn flags numbers the guest cannot hold")
struct PfnPlausibilityTests {
  @Test("a healthy guest has nothing flagged")
  func healthy() throws {
    let guest = SyntheticGuest()
    let corrupt = try guest.withState { PfnReport(state: $0).corruptions }
    #expect(corrupt.isEmpty)
  }

  @Test("list totals of 2^64-1 are flagged in text and JSON, not printed as page counts")
  func allOnesTotals() throws {
    let guest = SyntheticGuest()
    for list in PageLocation.allCases where list.rawValue < PageLocation.listCount {
      guest.setHead(list, total: .max)
    }
    try guest.withState { state in
      let report = PfnReport(state: state)
      let fields = report.corruptions.map(\.field)
      #expect(fields.contains("lists.free.total") && fields.contains("lists.zeroed.total"))
      #expect(report.summaryText().contains("18446744073709551615 pages (CORRUPT: more than the guest has)"))
      #expect(report.summaryText().contains("! lists.free.total = 18446744073709551615: corrupt, more than the"))
      let json = try #require(report.summaryJSON()["corrupt"] as? [[String: Any]])
      #expect(json.contains { $0["field"] as? String == "lists.free.total" && $0["value"] as? UInt64 == .max })
    }
  }

  @Test("a list end past the database and an impossible available count are each named")
  func endsAndAvailable() throws {
    let guest = SyntheticGuest()
    guest.setHead(.standby, first: 0x7FFF_FFF0)
    guest.setDebugBlock64(DebugBlock.availablePages, guest.debugBlock64(DebugBlock.pfnCount) + 1)
    let fields = try guest.withState { PfnReport(state: $0).corruptions.map(\.field) }
    #expect(fields == ["lists.standby.first", "availablePages"])
  }
}
