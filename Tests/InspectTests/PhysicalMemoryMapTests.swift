import Foundation
import GuestABI
import Inspect
import Testing

#if canImport(FoundationXML)
  import FoundationXML
#endif

@Suite("Physical memory map (SVG)")
struct PhysicalMemoryMapTests {
  @Test("pages are classed by usage first, then by list")
  func classification() {
    typealias C = PhysicalMemoryMap.PageClass
    #expect(C(location: PageLocation.free.rawValue, usage: PageUsage.general.rawValue) == .free)
    #expect(C(location: PageLocation.zeroed.rawValue, usage: PageUsage.general.rawValue) == .zeroed)
    #expect(C(location: PageLocation.activeAndValid.rawValue, usage: PageUsage.pageTable.rawValue) == .pageTable)
    #expect(C(location: PageLocation.activeAndValid.rawValue, usage: PageUsage.general.rawValue) == .active)
    #expect(C(location: PageLocation.bad.rawValue, usage: PageUsage.hole.rawValue) == .hole)
    #expect(C(location: 99, usage: PageUsage.general.rawValue) == .bad, "a location the guest made up is drawn as bad")
  }

  @Test("runs of one class in a row become one rectangle, and the legend counts pages")
  func runsAndLegend() throws {
    let classes: [PhysicalMemoryMap.PageClass] =
      Array(repeating: .kernelImage, count: 3)
      + Array(repeating: .free, count: 5) + [.pageTable] + Array(repeating: .free, count: 7)
    let svg = PhysicalMemoryMap(classes: classes, columns: 8, cell: 2).svg(caption: "test <map>")
    // Row 0: kernel image (3) + free (5); row 1: page table (1) + free (7).
    #expect(svg.components(separatedBy: "<rect x=").count - 1 == 4 + 3, "4 runs plus 3 legend swatches")
    #expect(svg.contains("free: 12 pages"))
    #expect(svg.contains("kernel image: 3 pages"))
    #expect(svg.contains("page table: 1 pages"))
    #expect(svg.contains("test &lt;map&gt;"))
    #expect(!svg.contains("zeroed:"), "classes with no page stay out of the legend")
    // Well-formed XML.
    let document = try XMLDocument(xmlString: svg)
    #expect(document.rootElement()?.name == "svg")
  }
}
