import GuestABI
import Inspect
import Testing

@Suite("Section reports: mmlab sections, a section page's owner in pfn, the map's classes")
struct SectionReportTests {
  private func guest() -> SyntheticGuest {
    var options = SyntheticGuest.Options()
    options.sections = true
    return SyntheticGuest(options)
  }

  @Test("each control area with its file, counts, resident pages and views; the file by path with a volume")
  func report() throws {
    let guest = guest()
    let volume = try guest.sectionVolume()
    try guest.withState { state in
      let report = SectionReport(state: state, volume: try volume.open())
      #expect(report.areas.map(\.area.slot) == [0, 2])
      let file = report.areas[0]
      #expect(file.path == "/DATA.BIN")
      #expect((file.valid, file.standby, file.modified) == (2, 1, 0))
      #expect(file.views.map(\.process) == [1, 2, 0, 0] && file.views.map(\.system) == [false, false, true, true])
      #expect(file.views.map(\.cache) == [false, false, true, false])
      #expect(file.views.map(\.pagesMapped) == [2, 1, 1, 1])
      #expect(report.areas[1].valid == 1 && report.areas[1].views.map(\.pagesMapped) == [1])
      let text = report.text
      #expect(text.contains("2 control areas in \(ControlAreaTable.slots) slots"), "\(text)")
      #expect(text.contains("view: Cc system 0xfffffc0000000000-0xfffffc0000040000 section offset 0x0"), "\(text)")
      #expect(
        text.contains("view: system space 0xfffffc0000210000-0xfffffc0000214000 section offset 0x0 protection 0x1"),
        "\(text)")
      #expect(text.contains("/DATA.BIN (cluster 3)"), "\(text)")
      #expect(text.contains("view: process 2 0x50000000-0x50001000 section offset 0x0 protection 0x1 pages mapped 1"))
      let header = try #require(text.split(separator: "\n").first { $0.hasPrefix("slot") })
      #expect(header.contains("sections") && header.contains("standby"))
      let areas = try #require(report.json["controlAreas"] as? [[String: Any]])
      #expect((areas[0]["file"] as? [String: Any])?["path"] as? String == "/DATA.BIN")
      #expect((areas[1]["resident"] as? [String: UInt64])?["valid"] == 1)
      // Without a volume the file is its cluster.
      #expect(SectionReport(state: state).text.contains("  cluster 3  "))
    }
  }

  @Test("pfn names a section page's owner as section + offset, with the file's path when known")
  func pfnOwner() throws {
    let guest = guest()
    let volume = try guest.sectionVolume()
    try guest.withState { state in
      let page = guest.sections.fileResident[3]!
      let detail = try #require(PfnReport(state: state, volume: try volume.open()).detail(pfn: page))
      #expect(detail.text.contains("owner: section 0 + offset 0x3000 (/DATA.BIN)"), "\(detail.text)")
      #expect((detail.json["section"] as? [String: Any])?["offset"] as? String == "0x3000")
      let anonymous = try #require(PfnReport(state: state).detail(pfn: guest.sections.pageFileResident))
      #expect(anonymous.text.contains("owner: section 2 + offset 0x0 (page-file-backed)"), "\(anonymous.text)")
      let classes = PfnReport(state: state).pageClasses
      #expect(classes[Int(page)] == .section)
      #expect(classes[Int(guest.sections.fileDirectory >> 12)] == .segment)
    }
  }

  @Test("the map classes section pages in memory and segment pages, with legend names")
  func mapClasses() {
    typealias C = PhysicalMemoryMap.PageClass
    let prototype = PageFrameFlags.prototype.rawValue
    #expect(C(location: PageLocation.activeAndValid.rawValue, usage: 0, flags: prototype) == .section)
    #expect(C(location: PageLocation.standby.rawValue, usage: 0, flags: prototype) == .section)
    #expect(C(location: PageLocation.free.rawValue, usage: 0, flags: prototype) == .free)
    #expect(C(location: PageLocation.activeAndValid.rawValue, usage: PageUsage.segment.rawValue) == .segment)
    let svg = PhysicalMemoryMap(classes: [.section, .segment, .free]).svg(caption: "sections")
    #expect(svg.contains("section page (through a prototype PTE): 1 pages"))
    #expect(svg.contains("segment (prototype PTEs): 1 pages"))
  }
}
