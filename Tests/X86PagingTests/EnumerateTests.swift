import Testing
import X86Paging

@Suite("Leaf enumeration and range merging")
struct EnumerateTests {
  static let kernel: UInt64 = 0xFFFF_8000_0000_0000

  /// 4-level: three contiguous user 4 KiB pages, a 2 MiB page, a 1 GiB page and a
  /// supervisor execute-disabled page in the upper half.
  func hierarchy() throws -> PageTableBuilder<SparsePhysicalMemory> {
    var b = makeBuilder(.fourLevel)
    for i in 0..<3 as Range<UInt64> {
      try b.map(0x1000 + i * 0x1000, to: 0x20_0000 + i * 0x1000, size: .size4KiB, flags: [.user, .writable])
    }
    try b.map(0x20_0000, to: 0x40_0000, size: .size2MiB, flags: [.user, .global])
    try b.map(0x4000_0000, to: 0x8000_0000, size: .size1GiB, flags: [.writable])
    try b.map(Self.kernel, to: 0x9000, size: .size4KiB, flags: [.writable, .executeDisable, .global])
    return b
  }

  func collect(
    _ context: PagingContext, _ memory: some PhysicalMemory, limit: Int = 1 << 24,
    tableLimit: Int = 1 << 18
  ) -> ([Leaf], EnumerationSummary) {
    var leaves: [Leaf] = []
    let summary = forEachLeaf(context: context, memory: memory, limit: limit, tableLimit: tableLimit) {
      leaves.append($0)
    }
    return (leaves, summary)
  }

  @Test func findsEveryLeaf() throws {
    let b = try hierarchy()
    var context = b.context
    context.efer.insert(.noExecuteEnable)
    let (leaves, summary) = collect(context, b.memory)
    #expect(leaves.map(\.virtualAddress) == [0x1000, 0x2000, 0x3000, 0x20_0000, 0x4000_0000, Self.kernel])
    #expect(leaves.map(\.physicalAddress) == [0x20_0000, 0x20_1000, 0x20_2000, 0x40_0000, 0x8000_0000, 0x9000])
    #expect(leaves.map(\.pageSize) == [.size4KiB, .size4KiB, .size4KiB, .size2MiB, .size1GiB, .size4KiB])
    #expect(
      leaves.map(\.level) == [
        .pageTable, .pageTable, .pageTable, .pageDirectory, .pageDirectoryPointerTable, .pageTable,
      ])
    #expect(leaves.map(\.user) == [true, true, true, true, false, false])
    #expect(leaves.map(\.writable) == [true, true, true, false, true, true])
    #expect(leaves.map(\.executable) == [true, true, true, true, true, false])
    #expect(leaves.map(\.global) == [false, false, false, true, false, true])
    #expect(leaves.allSatisfy { $0.reservedBits == 0 })
    #expect(summary.leafCount == 6)
    #expect(summary.problemCount == 0 && summary.truncation == nil)
    // Every leaf agrees with a translation of its address.
    for leaf in leaves {
      let t = translate(leaf.virtualAddress, access: .supervisorRead, context: context, memory: b.memory)
      #expect(t.physicalAddress == leaf.physicalAddress)
      #expect(t.walk.steps.last?.entryAddress == leaf.entryAddress)
    }
    // Without NXE nothing is execute-disabled (and bit 63 is flagged as reserved).
    let (plain, _) = collect(b.context, b.memory)
    #expect(plain.last?.executable == true)
    #expect(plain.last?.reservedBits == 1 << 63)
  }

  @Test func fallbackWithoutTablePageGivesTheSameLeaves() throws {
    let b = try hierarchy()
    let (fast, fastSummary) = collect(b.context, b.memory)
    let (slow, slowSummary) = collect(b.context, LoadOnlyMemory(base: b.memory))
    #expect(fast == slow)
    #expect(fastSummary == slowSummary)
  }

  @Test func reservedBitsAreFlaggedNotDropped() throws {
    let b = try hierarchy()
    let pde = b.entryAddress(of: 0x1000, at: .pageDirectory)!
    setBits(b.memory, pde, 1 << 50)  // >= MAXPHYADDR (46)
    let leafPTE = b.entryAddress(of: 0x4000_0000, at: .pageDirectoryPointerTable)!
    setBits(b.memory, leafPTE, 1 << 13)  // reserved in a 1 GiB page entry
    var context = b.context
    context.efer.insert(.noExecuteEnable)  // so the kernel page's XD bit is not reserved
    let (leaves, summary) = collect(context, b.memory)
    #expect(leaves.count == 6)
    #expect(leaves.prefix(3).allSatisfy { $0.reservedBits == 1 << 50 })
    #expect(leaves[3].reservedBits == 0)
    #expect(leaves[4].reservedBits == 1 << 13)
    #expect(summary.leavesWithReservedBits == 4)
    #expect(
      summary.problems == [.reservedBits(level: .pageDirectory, entryAddress: pde, bits: 1 << 50, virtualAddress: 0)])
  }

  @Test func tableOutsideMemoryIsReported() throws {
    let b = try hierarchy()
    let pdpte = b.entryAddress(of: 0x1000, at: .pageDirectoryPointerTable)!
    // PDPT entry 2 (VA 0x8000_0000) points to a PD at 1 GiB, beyond the 64 MiB memory.
    b.memory.store64(0x4000_0000 | 0x7, at: pdpte + 2 * 8)
    let (leaves, summary) = collect(b.context, b.memory)
    #expect(leaves.count == 6)
    #expect(
      summary.problems == [
        .tableOutsideMemory(
          level: .pageDirectory, tableAddress: 0x4000_0000,
          entryAddress: pdpte + 16, virtualAddress: 0x8000_0000)
      ])
  }

  @Test func selfMapIsNotedAndBounded() throws {
    let b = try hierarchy()
    let slot = b.root + 510 * 8
    b.memory.store64(b.root | 0x3, at: slot)  // the classic recursive PML4 slot
    let (leaves, summary) = collect(b.context, b.memory)
    let selfMap = leaves.filter {
      $0.virtualAddress >= 0xFFFF_FF00_0000_0000 && $0.virtualAddress < 0xFFFF_FF80_0000_0000
    }
    #expect(leaves.count == 6 + selfMap.count)
    #expect(!selfMap.isEmpty)
    #expect(
      summary.problems.first
        == .ancestorReference(
          level: .pml4, entryAddress: slot, tableAddress: b.root,
          virtualAddress: 0xFFFF_FF00_0000_0000))
    // Through the self-map the PML4 itself appears as a 4 KiB page at VA 0xFFFF_FF7F_BFDF_E000.
    #expect(selfMap.contains { $0.virtualAddress == 0xFFFF_FF7F_BFDF_E000 && $0.physicalAddress == b.root })
    #expect(summary.truncation == nil)
  }

  @Test func leafLimitBoundsHostileTables() throws {
    let memory = SparsePhysicalMemory(size: 1 << 20)
    // Every PML4 entry points at the PML4 itself: 512^4 "leaves" down the recursion.
    for i in 0..<512 as Range<UInt64> { memory.store64(0x1000 | 0x7, at: 0x1000 + i * 8) }
    let context = makeContext(.fourLevel, cr3: 0x1000)
    var delivered = 0
    let summary = forEachLeaf(context: context, memory: memory, limit: 1000) { _ in delivered += 1 }
    #expect(delivered == 1000)
    #expect(summary.leafCount == 1000)
    #expect(summary.truncation == .leafLimit)
    // The PML4 is reported once, however many paths reach it again.
    #expect(
      summary.problems == [
        .ancestorReference(level: .pml4, entryAddress: 0x1000, tableAddress: 0x1000, virtualAddress: 0)
      ])
    #expect(summary.repeatedTableReferences > 1)
    // What was not listed is counted exactly, without walking the 512^4 paths.
    #expect(summary.totalLeaves == 512 * 512 * 512 * 512)
    #expect(summary.unlistedLeaves == 512 * 512 * 512 * 512 - 1000)
  }

  @Test func sharedTableIsReportedOnceAndListedPerPath() throws {
    let memory = SparsePhysicalMemory(size: 1 << 20)
    // One PDPT behind all 512 PML4 entries, full of 1 GiB leaves: 262,144 real translations.
    for i in 0..<512 as Range<UInt64> {
      memory.store64(0x2000 | 0x7, at: 0x1000 + i * 8)
      memory.store64(i << 30 | 0x87, at: 0x2000 + i * 8)
    }
    let context = makeContext(.fourLevel, cr3: 0x1000)
    let (leaves, summary) = collect(context, memory)
    #expect(leaves.count == 512 * 512)
    #expect(summary.truncation == nil && summary.totalLeaves == nil)
    #expect(summary.tableCount == 513)
    #expect(
      summary.problems == [
        .sharedTable(level: .pml4, entryAddress: 0x1008, tableAddress: 0x2000, virtualAddress: 1 << 39)
      ])
    #expect(summary.sharedTables == 1 && summary.repeatedTableReferences == 511)
    #expect(leaves.last?.virtualAddress == 0xFFFF_FFFF_C000_0000)
  }

  @Test func tableLimitBoundsLeaflessFanOut() throws {
    let memory = SparsePhysicalMemory(size: 1 << 20)
    // PML4 -> all to one PDPT -> all to one PD -> all to one empty PT: 512^3 tables, no leaf.
    for i in 0..<512 as Range<UInt64> {
      memory.store64(0x2000 | 0x7, at: 0x1000 + i * 8)
      memory.store64(0x3000 | 0x7, at: 0x2000 + i * 8)
      memory.store64(0x4000 | 0x7, at: 0x3000 + i * 8)
    }
    let context = makeContext(.fourLevel, cr3: 0x1000)
    let summary = forEachLeaf(context: context, memory: memory, tableLimit: 5000) { _ in }
    #expect(summary.leafCount == 0)
    // A subtree known to hold no leaf is not scanned again: four tables, each reported once.
    #expect(summary.tableCount == 4)
    #expect(summary.truncation == nil)
    #expect(summary.sharedTables == 3 && summary.repeatedTableReferences == 3 * 511)
  }

  @Test func tableLimitStopsTheWalkAndCountsTheRest() throws {
    let b = try hierarchy()
    let (leaves, summary) = collect(b.context, b.memory, tableLimit: 3)
    #expect(summary.tableCount == 3)
    #expect(summary.truncation == .tableLimit)
    #expect(summary.totalLeaves == 6)
    #expect(summary.unlistedLeaves == 6 - leaves.count)
  }

  @Test func bit32AndPAEEnumeration() throws {
    var b32 = makeBuilder(.bit32, maxPhysicalAddressBits: 36)
    try b32.map(0x1000, to: 0x7000, size: .size4KiB, flags: [.user])
    try b32.map(0xC000_0000, to: 0x2_0000_0000, size: .size4MiB, flags: [.writable])
    let (l32, s32) = collect(b32.context, b32.memory)
    #expect(l32.map(\.virtualAddress) == [0x1000, 0xC000_0000])
    #expect(l32.map(\.physicalAddress) == [0x7000, 0x2_0000_0000])
    #expect(l32.map(\.pageSize) == [.size4KiB, .size4MiB])
    #expect(s32.tableCount == 2)

    var pae = makeBuilder(.pae, maxPhysicalAddressBits: 36)
    try pae.map(0x4000_1000, to: 0x7000, size: .size4KiB, flags: [.user, .writable])
    try pae.map(0xC020_0000, to: 0x8_0000_0000, size: .size2MiB, flags: [.executeDisable])
    var context = pae.context
    context.efer.insert(.noExecuteEnable)
    let (lp, sp) = collect(context, pae.memory)
    #expect(lp.map(\.virtualAddress) == [0x4000_1000, 0xC020_0000])
    #expect(lp.map(\.physicalAddress) == [0x7000, 0x8_0000_0000])
    #expect(lp.map(\.executable) == [true, false])
    #expect(lp.map(\.user) == [true, false])
    #expect(sp.tableCount == 4)  // PDPT, two PDs, one PT
    // A PDPTE with reserved bits is reported and its leaves flagged.
    setBits(pae.memory, pae.root + 1 * 8, 1 << 2)
    let (flagged, fs) = collect(context, pae.memory)
    #expect(flagged.first?.reservedBits == 1 << 2)
    #expect(
      fs.problems == [
        .reservedBits(
          level: .pageDirectoryPointerTable, entryAddress: pae.root + 8, bits: 4,
          virtualAddress: 0x4000_0000)
      ])
  }

  @Test func fiveLevelEnumerationCanonicalizes() throws {
    var b = makeBuilder(.fiveLevel, maxPhysicalAddressBits: 52)
    try b.map(0xFF00_0000_0000_0000, to: 0x1000, size: .size4KiB, flags: [])
    try b.map(0x0080_0000_0000_0000, to: 0x2000, size: .size4KiB, flags: [])
    let (leaves, _) = collect(b.context, b.memory)
    #expect(leaves.map(\.virtualAddress) == [0x0080_0000_0000_0000, 0xFF00_0000_0000_0000])
  }

  @Test func rangeMergerMergesAndSplits() throws {
    var b = makeBuilder(.fourLevel)
    // 0x1000-0x4000: three user RW pages, physically contiguous.
    for i in 0..<3 as Range<UInt64> {
      try b.map(0x1000 + i * 0x1000, to: 0x1000_0000 + i * 0x1000, size: .size4KiB, flags: [.user, .writable])
    }
    // 0x4000: same rights, not physically contiguous: still merges.
    try b.map(0x4000, to: 0x9000, size: .size4KiB, flags: [.user, .writable])
    // 0x5000: read-only: splits.
    try b.map(0x5000, to: 0xA000, size: .size4KiB, flags: [.user])
    // gap, then 0x7000: read-only again: a new range.
    try b.map(0x7000, to: 0xB000, size: .size4KiB, flags: [.user])
    // 0x1F_F000 then a 2 MiB page at 0x20_0000: contiguous VAs, same rights, different size: splits.
    try b.map(0x1F_F000, to: 0xC000, size: .size4KiB, flags: [.user])
    try b.map(0x20_0000, to: 0x60_0000, size: .size2MiB, flags: [.user])
    try b.map(0x40_0000, to: 0x80_0000, size: .size2MiB, flags: [.user])

    var merger = MappingRangeMerger()
    _ = forEachLeaf(context: b.context, memory: b.memory) { merger.add($0) }
    let ranges = merger.finish()
    #expect(ranges.map(\.start) == [0x1000, 0x5000, 0x7000, 0x1F_F000, 0x20_0000])
    #expect(ranges.map(\.size) == [0x4000, 0x1000, 0x1000, 0x1000, 0x40_0000])
    #expect(ranges.map(\.pageCount) == [4, 1, 1, 1, 2])
    #expect(ranges.map(\.writable) == [true, false, false, false, false])
    #expect(ranges.map(\.pageSize) == [.size4KiB, .size4KiB, .size4KiB, .size4KiB, .size2MiB])
    #expect(ranges[0].physicallyContiguous == false)
    #expect(ranges[4].physicallyContiguous == true)
    #expect(ranges[4].end == 0x60_0000)
    #expect(ranges[1].description == "0000000000005000-0000000000006000 0000000000001000 ur-x 1x4K")
  }
}
