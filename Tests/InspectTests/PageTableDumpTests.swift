import GuestABI
import Inspect
import Testing
import X86Paging

@Suite("Page-table dump rendering")
struct PageTableDumpTests {
  @Test("QEMU-style flag letters name XD, G, PAT, D, A, PCD, PWT, U, W in order")
  func leafFlagLetters() throws {
    let memory = SparsePhysicalMemory(size: 1 << 30)
    var builder = PageTableBuilder(memory: memory, mode: .fourLevel, maxPhysicalAddressBits: 48, tableArea: 0x10_0000)
    _ = try builder.map(
      0x40_0000, to: 0x20_0000, size: .size4KiB,
      flags: [.present, .writable, .user, .accessed, .dirty, .global, .executeDisable])
    var context = builder.context
    context.efer.insert(.noExecuteEnable)  // XD means something only with NXE
    let dump = PageTableDump(context: context, memory: memory, includeLeaves: true)
    let leaf = try #require(dump.leaves?.first)
    #expect(leafFlags(leaf) == "XG-DA--UW")
    #expect(dump.ranges.count == 1)
    #expect(rangeRights(dump.ranges[0]) == "urw-")
  }
}
