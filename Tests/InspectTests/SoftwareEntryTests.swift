import Foundation
import GuestABI
import Inspect
import Testing
import X86Paging

/// Tables built with X86Paging's builder, with software PTEs written into not-present slots.
private struct Fixture {
  let memory: SparsePhysicalMemory
  var builder: PageTableBuilder<SparsePhysicalMemory>

  init(mode: PagingMode = .fourLevel, size: UInt64 = 64 << 20) {
    memory = SparsePhysicalMemory(size: size)
    builder = PageTableBuilder(memory: memory, mode: mode, maxPhysicalAddressBits: 46, tableArea: 0x10_0000)
  }

  var context: PagingContext { builder.context }
  var root: UInt64 { builder.root }

  /// Maps one 4 KiB page (creating the tables above it).
  mutating func map(_ va: UInt64, to pa: UInt64 = 0x80_0000) throws {
    try builder.map(va, to: pa, size: .size4KiB, flags: [.writable, .user])
  }

  /// Writes `pte` into the entry of `level` that translates `va`; returns the entry's address.
  @discardableResult
  func write(_ pte: SoftwarePTE, at va: UInt64, level: PagingLevel) throws -> UInt64 {
    let address = try #require(builder.entryAddress(of: va, at: level))
    #expect(memory.load64(address) == 0, "slot \(hex(address)) for \(hex(va)) is already in use")
    #expect(memory.store64(pte.raw, at: address))
    return address
  }

  func entries(limit: Int = 1 << 22, tableLimit: Int = 1 << 18) -> ([SoftwareEntry], SoftwareEntrySummary) {
    var found: [SoftwareEntry] = []
    let summary = forEachSoftwareEntry(context: context, memory: memory, limit: limit, tableLimit: tableLimit) {
      found.append($0)
    }
    return (found, summary)
  }
}

/// 16 hex digits, no prefix, as the text dump prints addresses.
private func padded(_ value: UInt64) -> String {
  let digits = String(value, radix: 16)
  return String(repeating: "0", count: 16 - digits.count) + digits
}

/// Memory that never hands out table pages in place: the enumerator's entry-by-entry path.
private struct EntryByEntryMemory: PhysicalMemory {
  let base: SparsePhysicalMemory
  func load64(_ address: UInt64) -> UInt64? { base.load64(address) }
  func load32(_ address: UInt64) -> UInt32? { base.load32(address) }
}

@Suite("Software PTEs: decoding and round trips")
struct SoftwarePTERoundTripTests {
  static let cases: [SoftwarePTE] = [
    .transition(pfn: 0x1234, protection: PageProtection.readWrite),
    .transition(pfn: 0xF_FFFF_FFFF, protection: PageProtection.executeWriteCopy | PageProtection.writeCombine),
    .transition(pfn: 1, protection: 0),
    .prototype(address: 0x0000_7FFF_FFFF_FFF8, protection: PageProtection.readOnly, viaVAD: false),
    .prototype(address: 0x1000, protection: 0, viaVAD: false),
    .prototype(address: 0xFFFF_8A00_0000_1238, protection: PageProtection.executeRead, viaVAD: false),
    .prototype(address: 0xFFFF_8000_0000_0000, protection: 0x1F, viaVAD: false),
    .prototype(address: UInt64.max, protection: PageProtection.writeCopy, viaVAD: true),
    .prototype(address: UInt64.max, protection: 0, viaVAD: true),
    .pageFile(file: 0, offset: 1, protection: PageProtection.readWrite),
    .pageFile(file: 15, offset: 0xFFFF_FFFF, protection: PageProtection.readWrite | PageProtection.guardPage),
    .pageFile(file: 3, offset: 0x4_2000, protection: PageProtection.executeReadWrite),
    .demandZero(protection: PageProtection.readWrite),
    .demandZero(protection: PageProtection.noAccess | PageProtection.guardPage),
    .demandZero(protection: 0x1F),
    .zero,
  ]

  @Test("decode(encode(x)) == x and encode(decode(raw)) == raw for every format", arguments: cases)
  func roundTrip(_ pte: SoftwarePTE) {
    let raw = pte.raw
    #expect(raw & 1 == 0, "a software PTE must be not present")
    #expect(SoftwarePTE(raw: raw) == pte)
    #expect(SoftwarePTE(raw: raw).raw == raw)
    let entry = SoftwareEntry(virtualAddress: 0, level: .pageTable, entryAddress: 0, raw: raw)
    #expect(entry.otherBits == 0)
  }

  @Test("The formats' bit positions are the documented ones")
  func bitPositions() {
    // transition: bit 11, protection in 5-9, PFN in 12-47.
    #expect(SoftwarePTE.transition(pfn: 0x12345, protection: 4).raw == 0x1234_5880)
    // page file: file in 1-4, protection in 5-9, offset in 32-63.
    #expect(SoftwarePTE.pageFile(file: 2, offset: 0x77, protection: 4).raw == 0x77_0000_0084)
    // demand zero: protection only.
    #expect(SoftwarePTE.demandZero(protection: 4).raw == 0x80)
    // prototype: bit 10, protection in 11-15, address in 16-63.
    #expect(SoftwarePTE.prototype(address: 0x1000, protection: 1, viaVAD: false).raw == 0x1000_0C00)
    #expect(SoftwarePTE(raw: 0x1234_5880) == .transition(pfn: 0x12345, protection: 4))
    #expect(SoftwarePTE(raw: 0x77_0000_0084) == .pageFile(file: 2, offset: 0x77, protection: 4))
    #expect(SoftwarePTE(raw: 0x80) == .demandZero(protection: 4))
    #expect(SoftwarePTE(raw: 0) == .zero)
    #expect(SoftwarePTE(raw: 0x1003) == .valid(0x1003))
  }

  @Test("The all-ones prototype address means via the VAD, whatever address the case carried")
  func prototypeViaVAD() {
    let raw = SoftwarePTE.prototype(address: 0x1234_5000, protection: 4, viaVAD: true).raw
    #expect(raw >> 16 == SoftwarePTE.prototypeViaVAD)
    #expect(raw == 0xFFFF_FFFF_FFFF_2400)
    #expect(SoftwarePTE(raw: raw) == .prototype(address: UInt64.max, protection: 4, viaVAD: true))
    #expect(SoftwarePTE(raw: raw).raw == raw)
    // One address below all-ones is an ordinary (kernel-half) prototype address.
    let near = SoftwarePTE(raw: 0xFFFF_FFFF_FFFE_0400)
    #expect(near == .prototype(address: 0xFFFF_FFFF_FFFF_FFFE, protection: 0, viaVAD: false))
  }

  @Test("Prototype addresses are sign-extended from bit 47")
  func prototypeSignExtension() {
    let kernel: UInt64 = 0xFFFF_8A00_0000_1238
    let raw = SoftwarePTE.prototype(address: kernel, protection: 1, viaVAD: false).raw
    #expect(raw >> 16 == 0x8A00_0000_1238, "the field holds the low 48 bits")
    #expect(SoftwarePTE(raw: raw) == .prototype(address: kernel, protection: 1, viaVAD: false))
    // The user half stays positive.
    let user = SoftwarePTE(raw: 0x7FFF_FFFF_FFF8_0400)
    #expect(user == .prototype(address: 0x7FFF_FFFF_FFF8, protection: 0, viaVAD: false))
    // A non-canonical address cannot be held: it comes back canonical.
    let odd = SoftwarePTE.prototype(address: 0x0000_8000_0000_0000, protection: 0, viaVAD: false)
    #expect(SoftwarePTE(raw: odd.raw) == .prototype(address: 0xFFFF_8000_0000_0000, protection: 0, viaVAD: false))
  }

  @Test("Protection codes print by name")
  func protectionNames() {
    #expect(pageProtectionName(PageProtection.noAccess) == "noAccess")
    #expect(pageProtectionName(PageProtection.readOnly) == "readOnly")
    #expect(pageProtectionName(PageProtection.execute) == "execute")
    #expect(pageProtectionName(PageProtection.executeRead) == "executeRead")
    #expect(pageProtectionName(PageProtection.readWrite) == "readWrite")
    #expect(pageProtectionName(PageProtection.writeCopy) == "writeCopy")
    #expect(pageProtectionName(PageProtection.executeReadWrite) == "executeReadWrite")
    #expect(pageProtectionName(PageProtection.executeWriteCopy) == "executeWriteCopy")
    #expect(pageProtectionName(PageProtection.readWrite | PageProtection.noCache) == "readWrite+noCache")
    #expect(pageProtectionName(PageProtection.readOnly | PageProtection.guardPage) == "readOnly+guard")
    #expect(pageProtectionName(PageProtection.executeRead | PageProtection.writeCombine) == "executeRead+writeCombine")
    #expect(pageProtectionName(0x24) == "readWrite+0x20")
    let names = Set((0..<32).map { pageProtectionName(UInt8($0)) })
    #expect(names.count == 32)
  }

  @Test("Decodings read as documented")
  func descriptions() {
    #expect(softwarePTEDescription(.transition(pfn: 0x1234, protection: 4)) == "transition PFN 0x1234, readWrite")
    #expect(
      softwarePTEDescription(.prototype(address: 0xFFFF_8A00_0000_1238, protection: 1, viaVAD: false))
        == "prototype PTE at 0xffff8a0000001238, readOnly")
    #expect(
      softwarePTEDescription(.prototype(address: .max, protection: 0x14, viaVAD: true))
        == "prototype via VAD, readWrite+guard")
    #expect(
      softwarePTEDescription(.pageFile(file: 2, offset: 0x77, protection: 6))
        == "page file 2 offset 0x77, executeReadWrite")
    #expect(softwarePTEDescription(.demandZero(protection: 0xC)) == "demand zero, readWrite+noCache")
    #expect(softwarePTEDescription(.zero) == "zero (not committed here: ask the VAD)")
  }

  @Test("Bits a format does not hold show as other bits")
  func otherBits() {
    // A page-file number with offset 0 is a demand-zero entry; the file bits are extra.
    let noOffset = SoftwareEntry(virtualAddress: 0, level: .pageTable, entryAddress: 0, raw: 0x86)
    #expect(noOffset.pte == .demandZero(protection: 4))
    #expect(noOffset.kind == .demandZero)
    #expect(noOffset.otherBits == 0x6)
    // Bits above the PFN of a transition entry.
    let high = SoftwareEntry(virtualAddress: 0, level: .pageTable, entryAddress: 0, raw: 1 << 60 | 0x1234_5880)
    #expect(high.pte == .transition(pfn: 0x12345, protection: 4))
    #expect(high.otherBits == 1 << 60)
  }
}

@Suite("Software PTEs: enumerating the not-present entries from CR3")
struct SoftwareEntryEnumerationTests {
  @Test("Every kind, at every level, is found at its VA and level with its decoding")
  func everyKindEveryLevel() throws {
    var fixture = Fixture()
    try fixture.map(0x40_0000)  // PML4[0] -> PDPT -> PD[2] -> PT, PT[0] present
    let user: [(UInt64, SoftwarePTE)] = [
      (0x40_1000, .transition(pfn: 0x2345, protection: PageProtection.readWrite)),
      (0x40_2000, .prototype(address: 0x7FFF_0000_1008, protection: PageProtection.readOnly, viaVAD: false)),
      (0x40_3000, .prototype(address: 0xFFFF_8A00_0000_1238, protection: PageProtection.executeRead, viaVAD: false)),
      (0x40_4000, .prototype(address: .max, protection: PageProtection.writeCopy, viaVAD: true)),
      (0x40_5000, .pageFile(file: 3, offset: 0x4_2000, protection: PageProtection.readWrite)),
      (
        0x40_6000,
        .demandZero(protection: PageProtection.readWrite | PageProtection.guardPage)
      ),
      (0x5F_F000, .demandZero(protection: PageProtection.executeReadWrite | PageProtection.noCache)),
    ]
    var expected: [SoftwareEntry] = []
    for (va, pte) in user {
      let address = try fixture.write(pte, at: va, level: .pageTable)
      expected.append(SoftwareEntry(virtualAddress: va, level: .pageTable, entryAddress: address, raw: pte.raw))
    }
    // A paged-out page table (PDE), a trimmed page directory (PDPTE), a kernel-half PML4E.
    let pde = SoftwarePTE.transition(pfn: 0x777, protection: PageProtection.readWrite)
    let pdeAddress = try fixture.write(pde, at: 0x60_0000, level: .pageDirectory)
    expected.append(
      SoftwareEntry(virtualAddress: 0x60_0000, level: .pageDirectory, entryAddress: pdeAddress, raw: pde.raw))
    let pdpte = SoftwarePTE.pageFile(file: 1, offset: 0x99, protection: PageProtection.readWrite)
    let pdpteAddress = try fixture.write(pdpte, at: 0x4000_0000, level: .pageDirectoryPointerTable)
    expected.append(
      SoftwareEntry(
        virtualAddress: 0x4000_0000, level: .pageDirectoryPointerTable, entryAddress: pdpteAddress, raw: pdpte.raw))
    let kernelVA: UInt64 = 0xFFFF_8000_0000_0000
    let pml4e = SoftwarePTE.demandZero(protection: PageProtection.readWrite)
    let pml4eAddress = try fixture.write(pml4e, at: kernelVA, level: .pml4)
    #expect(pml4eAddress == fixture.root + 0x100 * 8)
    expected.append(SoftwareEntry(virtualAddress: kernelVA, level: .pml4, entryAddress: pml4eAddress, raw: pml4e.raw))

    let (found, summary) = fixture.entries()
    #expect(found == expected)
    #expect(found.map(\.pte) == user.map(\.1) + [pde, pdpte, pml4e])
    #expect(summary.entryCount == 10)
    #expect(summary.prototypeCount == 3)
    #expect(summary.transitionCount == 2)
    #expect(summary.pageFileCount == 2)
    #expect(summary.demandZeroCount == 3)
    #expect(summary.entriesWithOtherBits == 0)
    #expect(summary.tableCount == 4)
    #expect(summary.problems.isEmpty)
    #expect(!summary.isTruncated)
    // The present leaf is the hardware's, not listed; zero entries are counted, not listed.
    #expect(!found.contains { $0.virtualAddress == 0x40_0000 })
    #expect(summary.zeroEntries.pml4 == 510)
    #expect(summary.zeroEntries.pageDirectoryPointerTable == 510)
    #expect(summary.zeroEntries.pageDirectory == 510)
    #expect(summary.zeroEntries.pageTable == 504)
    #expect(summary.zeroEntries.total == 510 * 3 + 504)
    #expect(summary.zeroEntries[.pageTable] == 504)

    // The same through load64 alone (no in-place table pages).
    var slow: [SoftwareEntry] = []
    let slowSummary = forEachSoftwareEntry(context: fixture.context, memory: EntryByEntryMemory(base: fixture.memory)) {
      slow.append($0)
    }
    #expect(slow == expected)
    #expect(slowSummary == summary)
  }

  @Test("Tables with only zero entries list nothing and count every slot")
  func zeroEntriesCounted() throws {
    var fixture = Fixture()
    let (none, empty) = fixture.entries()
    #expect(none.isEmpty)
    #expect(empty.tableCount == 1)
    #expect(empty.zeroEntries.pml4 == 512)
    #expect(empty.zeroEntries.total == 512)

    // Two PTs with a present page each: 511 zero entries per PT.
    try fixture.map(0x20_0000)
    try fixture.map(0x40_0000)
    let (still, summary) = fixture.entries()
    #expect(still.isEmpty)
    #expect(summary.tableCount == 5)
    #expect(summary.zeroEntries.pageTable == 2 * 511)
    #expect(summary.zeroEntries.pageDirectory == 510)
  }

  @Test("A committed region of many page tables comes out in VA order, one entry per slot")
  func manyTables() throws {
    var fixture = Fixture()
    let base: UInt64 = 0x7F00_0000_0000
    let tables = 40
    let pte = SoftwarePTE.demandZero(protection: PageProtection.readWrite)
    for table in 0..<tables {
      let va = base + UInt64(table) << 21
      try fixture.map(va)
      let ptBase = try #require(fixture.builder.entryAddress(of: va, at: .pageTable))
      for index in 1..<512 { fixture.memory.store64(pte.raw, at: ptBase + UInt64(index) * 8) }
    }
    let (found, summary) = fixture.entries()
    #expect(found.count == tables * 511)
    #expect(summary.demandZeroCount == tables * 511)
    #expect(summary.zeroEntries.pageTable == 0)
    #expect(zip(found, found.dropFirst()).allSatisfy { $0.virtualAddress < $1.virtualAddress })
    #expect(found.first?.virtualAddress == base + 0x1000)
    #expect(found.last?.virtualAddress == base + UInt64(tables) << 21 - 0x1000)
    #expect(found.allSatisfy { $0.pte == pte && $0.level == .pageTable })
  }

  @Test("5-level paging: PML5 entries are reported, with 57-bit canonical addresses")
  func fiveLevel() throws {
    var fixture = Fixture(mode: .fiveLevel)
    try fixture.map(0x40_0000)
    let transition = SoftwarePTE.transition(pfn: 0x42, protection: PageProtection.readOnly)
    let pteAddress = try fixture.write(transition, at: 0x40_1000, level: .pageTable)
    let highVA: UInt64 = 0xFF00_0000_0000_0000  // PML5 slot 256
    let pml5e = SoftwarePTE.pageFile(file: 2, offset: 5, protection: PageProtection.readWrite)
    let pml5eAddress = try fixture.write(pml5e, at: highVA, level: .pml5)
    #expect(pml5eAddress == fixture.root + 0x100 * 8)

    let (found, summary) = fixture.entries()
    #expect(
      found == [
        SoftwareEntry(virtualAddress: 0x40_1000, level: .pageTable, entryAddress: pteAddress, raw: transition.raw),
        SoftwareEntry(virtualAddress: highVA, level: .pml5, entryAddress: pml5eAddress, raw: pml5e.raw),
      ])
    #expect(summary.tableCount == 5)
    #expect(summary.zeroEntries.pml5 == 510)
    #expect(summary.levels == [.pml5, .pml4, .pageDirectoryPointerTable, .pageDirectory, .pageTable])
  }

  @Test("Modes without the x86-64 formats are not decoded", arguments: [PagingMode.pae, .bit32, .disabled])
  func unsupportedModes(_ mode: PagingMode) {
    let memory = SparsePhysicalMemory(size: 1 << 20)
    memory.store64(0x80, at: 0x1000)
    let context = PagingContext(mode: mode, cr3: 0x1000, maxPhysicalAddressBits: 36)
    let dump = SoftwareEntryDump(context: context, memory: memory)
    #expect(!dump.summary.isSupported)
    #expect(dump.entries.isEmpty)
    #expect(dump.summary.tableCount == 0)
  }
}

@Suite("Software PTEs: hostile tables")
struct SoftwareEntryHostileTests {
  @Test("The self-map slot is reported and not followed: each entry is listed once")
  func selfMap() throws {
    var fixture = Fixture()
    try fixture.map(0x40_0000)
    let root = fixture.root
    let slotAddress = root + KernelLayout.selfMapSlot * 8
    fixture.memory.store64(root | 0x3, at: slotAddress)
    let pml4e = SoftwarePTE.demandZero(protection: PageProtection.readWrite)
    let pml4eAddress = try fixture.write(pml4e, at: 0x180_0000_0000, level: .pml4)  // slot 3
    let pte = SoftwarePTE.transition(pfn: 0x55, protection: PageProtection.readWrite)
    let pteAddress = try fixture.write(pte, at: 0x40_1000, level: .pageTable)

    let (found, summary) = fixture.entries()
    #expect(
      found == [
        SoftwareEntry(virtualAddress: 0x40_1000, level: .pageTable, entryAddress: pteAddress, raw: pte.raw),
        SoftwareEntry(virtualAddress: 0x180_0000_0000, level: .pml4, entryAddress: pml4eAddress, raw: pml4e.raw),
      ])
    #expect(summary.ancestorReferences == 1)
    #expect(
      summary.problems == [
        .ancestorReference(
          level: .pml4, entryAddress: slotAddress, tableAddress: root, virtualAddress: KernelLayout.selfMapBase)
      ])
    #expect(summary.tableCount == 4)
    #expect(summary.zeroEntries.pml4 == 509)

    // The hardware walk follows the slot (bounded depth); the two walks stay independent.
    let leaves = forEachLeaf(context: fixture.context, memory: fixture.memory) { _ in }
    #expect(leaves.leafCount > 1)
  }

  @Test("Entries pointing back at any ancestor, at any level, are not followed")
  func ancestorsAtEveryLevel() throws {
    var fixture = Fixture()
    try fixture.map(0x40_0000)
    let root = fixture.root
    let pdpt = try #require(fixture.builder.entryAddress(of: 0, at: .pageDirectoryPointerTable)) & ~0xFFF
    let pd = try #require(fixture.builder.entryAddress(of: 0, at: .pageDirectory)) & ~0xFFF
    // PDPT[5] -> PML4, PD[7] -> PDPT, PD[8] -> PD itself.
    fixture.memory.store64(root | 1, at: pdpt + 5 * 8)
    fixture.memory.store64(pdpt | 1, at: pd + 7 * 8)
    fixture.memory.store64(pd | 1, at: pd + 8 * 8)
    let (found, summary) = fixture.entries()
    #expect(found.isEmpty)
    #expect(summary.ancestorReferences == 3)
    #expect(summary.tableCount == 4)
    #expect(
      Set(summary.problems) == [
        .ancestorReference(
          level: .pageDirectoryPointerTable, entryAddress: pdpt + 40, tableAddress: root, virtualAddress: 5 << 30),
        .ancestorReference(level: .pageDirectory, entryAddress: pd + 56, tableAddress: pdpt, virtualAddress: 7 << 21),
        .ancestorReference(level: .pageDirectory, entryAddress: pd + 64, tableAddress: pd, virtualAddress: 8 << 21),
      ])
  }

  @Test("Tables outside memory are reported and the walk goes on")
  func tablesOutsideMemory() throws {
    var fixture = Fixture(size: 16 << 20)
    try fixture.map(0x40_0000)
    let root = fixture.root
    // PML4[1] -> a PDPT far beyond the 16 MiB of memory.
    fixture.memory.store64(0x7FFF_F000 | 3, at: root + 8)
    // PML4[2] -> a software entry after it: still found.
    let after = SoftwarePTE.demandZero(protection: PageProtection.readOnly)
    fixture.memory.store64(after.raw, at: root + 16)
    let (found, summary) = fixture.entries()
    #expect(found == [SoftwareEntry(virtualAddress: 2 << 39, level: .pml4, entryAddress: root + 16, raw: after.raw)])
    #expect(
      summary.problems == [
        .tableOutsideMemory(
          level: .pageDirectoryPointerTable, tableAddress: 0x7FFF_F000, entryAddress: root + 8,
          virtualAddress: 1 << 39)
      ])

    // CR3 itself outside memory.
    let lost = PagingContext(mode: .fourLevel, cr3: 0x4000_0000, maxPhysicalAddressBits: 46)
    let nothing = SoftwareEntryDump(context: lost, memory: fixture.memory)
    #expect(nothing.entries.isEmpty)
    #expect(
      nothing.summary.problems == [
        .tableOutsideMemory(level: .pml4, tableAddress: 0x4000_0000, entryAddress: nil, virtualAddress: 0)
      ])
  }

  @Test("A table cut by the end of memory yields the entries before the cut")
  func tableCutByEndOfMemory() throws {
    let memory = SparsePhysicalMemory(size: 0x2800)
    let context = PagingContext(mode: .fourLevel, cr3: 0x2000, maxPhysicalAddressBits: 46)
    let pte = SoftwarePTE.demandZero(protection: PageProtection.readWrite)
    memory.store64(pte.raw, at: 0x2000 + 3 * 8)
    let dump = SoftwareEntryDump(context: context, memory: memory)
    #expect(dump.entries == [SoftwareEntry(virtualAddress: 3 << 39, level: .pml4, entryAddress: 0x2018, raw: pte.raw)])
    #expect(dump.summary.zeroEntries.pml4 == 255)
    #expect(
      dump.summary.problems == [
        .tableOutsideMemory(level: .pml4, tableAddress: 0x2000, entryAddress: nil, virtualAddress: 0)
      ])
  }

  /// Every entry of every level points at one table: 512^3 paths to a PT of 512 entries.
  private func fanOut() -> (SparsePhysicalMemory, PagingContext) {
    let memory = SparsePhysicalMemory(size: 1 << 20)
    let (pml4, pdpt, pd, pt): (UInt64, UInt64, UInt64, UInt64) = (0x1000, 0x2000, 0x3000, 0x4000)
    let demandZero = SoftwarePTE.demandZero(protection: PageProtection.readWrite).raw
    for index in 0..<UInt64(512) {
      memory.store64(pdpt | 3, at: pml4 + index * 8)
      memory.store64(pd | 3, at: pdpt + index * 8)
      memory.store64(pt | 3, at: pd + index * 8)
      memory.store64(demandZero, at: pt + index * 8)
    }
    return (memory, PagingContext(mode: .fourLevel, cr3: pml4, maxPhysicalAddressBits: 46))
  }

  @Test("Shared tables are scanned once and reported once")
  func sharedTables() {
    let (memory, context) = fanOut()
    let dump = SoftwareEntryDump(context: context, memory: memory)
    #expect(dump.entries.count == 512)
    #expect(dump.summary.tableCount == 4)
    #expect(dump.summary.truncation == nil)
    #expect(dump.summary.sharedTableReferences == 3 * 511)
    #expect(
      dump.summary.problems == [
        .sharedTable(level: .pageDirectory, entryAddress: 0x3008, tableAddress: 0x4000, virtualAddress: 1 << 21),
        .sharedTable(
          level: .pageDirectoryPointerTable, entryAddress: 0x2008, tableAddress: 0x3000, virtualAddress: 1 << 30),
        .sharedTable(level: .pml4, entryAddress: 0x1008, tableAddress: 0x2000, virtualAddress: 1 << 39),
      ])
    #expect(dump.summary.description.contains("1533 references to tables already scanned"))
    #expect(!dump.summary.description.contains("problems"))
  }

  @Test("The entry limit stops the walk")
  func entryLimit() {
    let (memory, context) = fanOut()
    let dump = SoftwareEntryDump(context: context, memory: memory, limit: 100)
    #expect(dump.entries.count == 100)
    #expect(dump.summary.truncation == .entryLimit)
    #expect(dump.entries[99].virtualAddress == 99 << 12)
  }

  @Test("The table limit stops the walk")
  func tableLimit() {
    let (memory, context) = fanOut()
    let dump = SoftwareEntryDump(context: context, memory: memory, limit: 1 << 30, tableLimit: 3)
    #expect(dump.summary.truncation == .tableLimit)
    #expect(dump.summary.tableCount == 3)
    #expect(dump.entries.isEmpty)
  }
}

@Suite("Software PTEs in the page-table dump")
struct SoftwareEntryDumpRenderingTests {
  private func parse(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
  }

  private func fixture() throws -> Fixture {
    var fixture = Fixture()
    try fixture.map(0x40_0000)
    try fixture.write(.transition(pfn: 0x2345, protection: PageProtection.readWrite), at: 0x40_1000, level: .pageTable)
    try fixture.write(
      .prototype(address: .max, protection: PageProtection.readOnly, viaVAD: true), at: 0x40_2000, level: .pageTable)
    try fixture.write(
      .pageFile(file: 1, offset: 0x99, protection: PageProtection.executeRead), at: 0x40_3000, level: .pageTable)
    try fixture.write(
      .prototype(address: 0xFFFF_8A00_0000_1238, protection: 0, viaVAD: false), at: 0x40_4000, level: .pageTable)
    try fixture.write(.demandZero(protection: PageProtection.readWrite), at: 0x60_0000, level: .pageDirectory)
    let root = fixture.root
    fixture.memory.store64(root | 3, at: root + KernelLayout.selfMapSlot * 8)
    return fixture
  }

  @Test("Without the flag the dump is unchanged; with it, a section follows")
  func text() throws {
    let fixture = try fixture()
    let plain = PageTableDump(context: fixture.context, memory: fixture.memory, includeLeaves: false)
    #expect(plain.softwareEntries == nil)
    let before = PageTableDumpReport(context: fixture.context, memory: fixture.memory, options: .init())
      .text(source: "test")
    let after = PageTableDumpReport(
      context: fixture.context, memory: fixture.memory, options: .init(softwareEntries: true)
    ).text(source: "test")
    #expect(!before.contains("not-present"))
    #expect(after.hasPrefix(before))
    let section = after.dropFirst(before.count).split(separator: "\n").map(String.init)
    let pt = try #require(fixture.builder.entryAddress(of: 0x40_1000, at: .pageTable))
    #expect(
      section.contains(
        "0000000000401000 PT    \(padded(pt)) 0000000002345880 transition PFN 0x2345, readWrite"))
    #expect(section.contains { $0.hasPrefix("0000000000402000 PT ") && $0.hasSuffix("prototype via VAD, readOnly") })
    #expect(section.contains { $0.hasSuffix("page file 1 offset 0x99, executeRead") })
    #expect(section.contains { $0.hasSuffix("prototype PTE at 0xffff8a0000001238, noAccess") })
    #expect(section.contains { $0.hasPrefix("0000000000600000 PD ") && $0.hasSuffix("demand zero, readWrite") })
    // The self-map is already shown by the hardware walk; the summary says it was not followed.
    let last = try #require(section.last)
    #expect(last.hasPrefix("# 5 not-present entries (2 prototype, 1 transition, 1 pageFile, 1 demandZero) in 4 tables"))
    #expect(last.contains("1 self-reference not followed"))
    #expect(last.contains("PT 507"))
    #expect(section.filter { !$0.hasPrefix("#") }.count == 5)
  }

  @Test("Text lines: columns, every level name, extreme values and other bits")
  func textLines() throws {
    let memory = SparsePhysicalMemory(size: 1 << 20)
    let context = PagingContext(mode: .fiveLevel, cr3: 0x1000, maxPhysicalAddressBits: 46)
    memory.store64(0x86, at: 0x1000 + 0x1FF * 8)  // PML5[511]: demand zero with a file number
    memory.store64(0x2000 | 3, at: 0x1000)
    memory.store64(0xFFFF_FFFF_FFFF_F800, at: 0x2000)  // PML4[0]: transition, all ones above
    memory.store64(0x3000 | 3, at: 0x2008)
    memory.store64(SoftwarePTE.pageFile(file: 15, offset: 0xFFFF_FFFF, protection: 0x1F).raw, at: 0x3000)
    let dump = PageTableDump(context: context, memory: memory, includeLeaves: false, includeSoftwareEntries: true)
    let report = PageTableDumpReport(context: context, memory: memory, options: .init(softwareEntries: true))
    let lines = report.text(source: "t").split(separator: "\n").map(String.init)
    let entries = lines.filter { !$0.hasPrefix("#") && !$0.hasPrefix("~") && !$0.hasPrefix("!") }
    #expect(
      entries == [
        "0000000000000000 PML4  0000000000002000 fffffffffffff800 transition PFN 0xfffffffff, noAccess"
          + " (other bits 0xffff000000000000)",
        "0000008000000000 PDPT  0000000000003000 ffffffff000003fe page file 15 offset 0xffffffff,"
          + " executeWriteCopy+writeCombine",
        "ffff000000000000 PML5  0000000000001ff8 0000000000000086 demand zero, readWrite (other bits 0x6)",
      ])
    #expect(dump.softwareEntries?.summary.entriesWithOtherBits == 2)
    let object = try parse(report.json(source: "t"))
    let json = try #require(object["softwareEntries"] as? [[String: Any]])
    #expect(json.map { $0["otherBits"] as? String } == ["0xffff000000000000", nil, "0x6"])
    #expect(json.map { $0["level"] as? String } == ["PML4", "PDPT", "PML5"])
    #expect(json.first?["pfn"] as? Int == 0xF_FFFF_FFFF)
  }

  @Test("JSON: softwareEntries and zeroEntries follow the documented schema")
  func json() throws {
    let fixture = try fixture()
    let plainObject = try parse(
      PageTableDumpReport(context: fixture.context, memory: fixture.memory, options: .init(leaves: true))
        .json(source: "test"))
    #expect(plainObject["softwareEntries"] == nil)
    #expect(plainObject["zeroEntries"] == nil)

    let report = PageTableDumpReport(
      context: fixture.context, memory: fixture.memory, options: .init(leaves: true, softwareEntries: true))
    let parsed = try parse(report.json(source: "test"))
    let entries = try #require(parsed["softwareEntries"] as? [[String: Any]])
    #expect(entries.count == 5)
    let byVA = Dictionary(uniqueKeysWithValues: entries.map { ($0["va"] as? String ?? "?", $0) })
    let transition = try #require(byVA["0x401000"])
    #expect(transition["kind"] as? String == "transition")
    #expect(transition["level"] as? String == "PT")
    #expect(transition["pfn"] as? Int == 0x2345)
    #expect(transition["protection"] as? String == "readWrite")
    #expect(transition["entry"] as? String == "0x2345880")
    let pt = try #require(fixture.builder.entryAddress(of: 0x40_1000, at: .pageTable))
    #expect(transition["entryAddress"] as? String == hex(pt))
    let viaVAD = try #require(byVA["0x402000"])
    #expect(viaVAD["kind"] as? String == "prototype")
    #expect(viaVAD["viaVAD"] as? Bool == true)
    #expect(viaVAD["prototypeAddress"] == nil)
    let pageFile = try #require(byVA["0x403000"])
    #expect(pageFile["pageFile"] as? Int == 1)
    #expect(pageFile["offset"] as? Int == 0x99)
    #expect(pageFile["protection"] as? String == "executeRead")
    let prototype = try #require(byVA["0x404000"])
    #expect(prototype["prototypeAddress"] as? String == "0xffff8a0000001238")
    #expect(prototype["viaVAD"] as? Bool == false)
    let demandZero = try #require(byVA["0x600000"])
    #expect(demandZero["kind"] as? String == "demandZero")
    #expect(demandZero["level"] as? String == "PD")
    #expect(demandZero["pfn"] == nil)
    let zeros = try #require(parsed["zeroEntries"] as? [String: Int])
    #expect(zeros == ["PML4": 510, "PDPT": 511, "PD": 510, "PT": 507])
    let summary = try #require(parsed["softwareSummary"] as? [String: Any])
    #expect(summary["entries"] as? Int == 5)
    #expect(summary["ancestorReferences"] as? Int == 1)
    #expect((summary["kinds"] as? [String: Int])?["prototype"] == 2)
  }
}
