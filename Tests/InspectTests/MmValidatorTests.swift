import GuestABI
import Inspect
import Machine
import Testing
import X86Paging

/// What identifies a violation (its message aside).
struct MmFinding: Hashable, CustomStringConvertible {
  var rule: MmRule
  var pfn: UInt64? = nil
  var va: UInt64? = nil
  var process: UInt32? = nil

  init(_ rule: MmRule, pfn: UInt64? = nil, va: UInt64? = nil, process: UInt32? = nil) {
    self.rule = rule
    self.pfn = pfn
    self.va = va
    self.process = process
  }

  init(_ violation: MmViolation) {
    self.init(violation.rule, pfn: violation.pfn, va: violation.virtualAddress, process: violation.processID)
  }

  var description: String {
    MmViolation(rule: rule, pfn: pfn, virtualAddress: va, processID: process, message: "").description
  }
}

extension MmValidationReport {
  var findings: [MmFinding] { violations.map(MmFinding.init) }
}

/// The report has exactly `expected` (in any order), nothing else.
func expectFindings(
  _ report: MmValidationReport, _ expected: [MmFinding], sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(
    Set(report.findings) == Set(expected) && report.violationCount == expected.count,
    "expected \(expected), found:\n\(report.text)", sourceLocation: sourceLocation)
}

private let noExecute: UInt64 = 1 << 63
private let userPage: UInt64 = 0x7  // P, RW, US

@Suite("Mm validator: a consistent guest")
struct MmValidatorCleanTests {
  @Test("the synthetic guest validates clean, every list walked, every table and mapping found")
  func clean() throws {
    let guest = SyntheticGuest()
    let report = try guest.validate()
    #expect(report.isClean, "\(report.text)")
    #expect(report.violations.isEmpty)
    #expect(report.pagesWalked == guest.lists.map { UInt64($0.count) })
    #expect(report.rootsWalked == 3)
    #expect(report.tablesFound == guest.tablePFNs.count)
    #expect(report.accountedLeaves == guest.kernelMappings.count + guest.userMappings.count)
    #expect(report.text.hasPrefix("0 violations"))
  }

  @Test("a bigger guest with the bench region, page tables spanning PTs and shuffled lists validates clean")
  func cleanBigger() throws {
    var options = SyntheticGuest.Options()
    options.ramBytes = 16 << 20
    options.processCount = 3
    options.userPagesPerProcess = 600
    options.zeroedPages = 40
    options.standbyPages = 30
    options.modifiedPages = 20
    options.benchRegion = true
    options.shuffleSeed = 7
    let guest = SyntheticGuest(options)
    let report = try guest.validate()
    #expect(report.isClean, "\(report.text)")
    #expect(report.rootsWalked == 4)
    #expect(report.accountedLeaves == 4 + 1800)
  }

  @Test("the rules have stable, distinct, kebab-case names and a one-line summary each")
  func ruleNames() {
    let names = MmRule.allCases.map(\.name)
    #expect(Set(names).count == names.count)
    #expect(names.allSatisfy { $0.allSatisfy { $0.isLowercase || $0 == "-" } })
    #expect(MmRule.listTotal.name == "list-total")
    #expect(MmRule.shareCount.name == "share-count")
    #expect(MmRule.allCases.allSatisfy { !$0.summary.isEmpty && !$0.summary.contains("\n") })
  }
}

@Suite("Mm validator: planted faults are reported exactly")
struct MmValidatorFaultTests {
  let free = Int(PageLocation.free.rawValue)
  let zeroed = Int(PageLocation.zeroed.rawValue)
  let standby = Int(PageLocation.standby.rawValue)

  @Test("a next link that skips a page: asymmetric link at the page reached, the total, the skipped page lost")
  func brokenLink() throws {
    let guest = SyntheticGuest()
    let pages = guest.lists[free]
    guest.setRecord32(pages[1], PageFrameRecord.next, UInt32(pages[3]))
    let report = try guest.validate()
    expectFindings(
      report, [MmFinding(.listLinks, pfn: pages[3]), MmFinding(.listTotal), MmFinding(.lostPage, pfn: pages[2])])
    #expect(
      report.violations(of: .listTotal).first?.message
        == "the free list links \(pages.count - 1) pages but its total is \(pages.count)")
  }

  @Test("a wrong total on the modified list breaks only the total")
  func wrongTotal() throws {
    let guest = SyntheticGuest()
    guest.setHead(.modified, total: 3)
    expectFindings(try guest.validate(), [MmFinding(.listTotal)])
  }

  @Test("a wrong total on the free list also breaks available = zeroed + free + standby")
  func wrongFreeTotal() throws {
    let guest = SyntheticGuest()
    guest.setHead(.free, total: guest.headTotal(.free) + 1)
    expectFindings(try guest.validate(), [MmFinding(.listTotal), MmFinding(.availablePages)])
  }

  @Test("a list whose last page links back into it is a cycle, found at the page reached twice")
  func cycle() throws {
    let guest = SyntheticGuest()
    let pages = guest.lists[free]
    guest.setRecord32(pages.last!, PageFrameRecord.next, UInt32(pages[1]))
    expectFindings(try guest.validate(), [MmFinding(.listCycle, pfn: pages[1])])
  }

  @Test("a cycle through a page's own next link ends the walk too")
  func selfLoop() throws {
    let guest = SyntheticGuest()
    let pages = guest.lists[zeroed]
    guest.setRecord32(pages[2], PageFrameRecord.next, UInt32(pages[2]))
    expectFindings(try guest.validate(), [MmFinding(.listCycle, pfn: pages[2])])
  }

  @Test("a bumped share count")
  func bumpedShareCount() throws {
    let guest = SyntheticGuest()
    let mapping = guest.userMappings[0]
    guest.setRecord32(mapping.pfn, PageFrameRecord.shareCount, 2)
    let report = try guest.validate()
    expectFindings(report, [MmFinding(.shareCount, pfn: mapping.pfn)])
    #expect(report.violations.first?.message.hasSuffix("has share count 2 but 1 valid accounted PTEs map it") == true)
  }

  @Test("a kernel-image page with share count 0")
  func kernelShareCount() throws {
    let guest = SyntheticGuest()
    let mapping = guest.kernelMappings[2]
    guest.setRecord32(mapping.pfn, PageFrameRecord.shareCount, 0)
    expectFindings(try guest.validate(), [MmFinding(.shareCount, pfn: mapping.pfn)])
  }

  @Test("mapping a page that is on the free list (the page table accounted right)")
  func mapFreePage() throws {
    let guest = SyntheticGuest()
    let page = guest.lists[free][5]
    let (va, entry) = guest.spareUserSlot(process: 1)
    guest.setEntry(entry, page << 12 | userPage | noExecute)
    let table = entry >> 12
    guest.setRecord32(table, PageFrameRecord.shareCount, guest.record32(table, PageFrameRecord.shareCount) + 1)
    let report = try guest.validate()
    expectFindings(report, [MmFinding(.mapsInactiveFrame, pfn: page, va: va, process: guest.processes[1].id)])
    #expect(report.violations.first?.message.hasSuffix("whose location is free") == true)
  }

  @Test("mapping a free page without counting the PTE in its page table breaks the table's count too")
  func mapFreePageUncounted() throws {
    let guest = SyntheticGuest()
    let page = guest.lists[free][5]
    let (va, entry) = guest.spareUserSlot(process: 0)
    guest.setEntry(entry, page << 12 | userPage)
    expectFindings(
      try guest.validate(),
      [
        MmFinding(.mapsInactiveFrame, pfn: page, va: va, process: guest.processes[0].id),
        MmFinding(.pageTableShareCount, pfn: entry >> 12),
      ])
  }

  @Test("a nonzero byte in a zeroed-list page")
  func dirtyZeroedPage() throws {
    let guest = SyntheticGuest()
    let page = guest.lists[zeroed][3]
    guest.poke(pfn: page, offset: 0x123, 0x5A)
    let report = try guest.validate()
    expectFindings(report, [MmFinding(.zeroedPageNotZero, pfn: page)])
    #expect(report.violations.first?.message.hasSuffix("its byte 0x123 is 0x5a") == true)
  }

  @Test("nonzero last and first bytes are found too")
  func dirtyZeroedPageEdges() throws {
    let guest = SyntheticGuest()
    let pages = guest.lists[zeroed]
    guest.poke(pfn: pages[0], offset: 4095, 1)
    guest.poke(pfn: pages[7], offset: 0, 0x80)
    expectFindings(
      try guest.validate(),
      [MmFinding(.zeroedPageNotZero, pfn: pages[0]), MmFinding(.zeroedPageNotZero, pfn: pages[7])])
  }

  @Test("a standby page linked onto the free list too: wrong location there, on two lists")
  func pageOnTwoLists() throws {
    let guest = SyntheticGuest()
    let page = guest.lists[standby][1]
    guest.append(page, to: .free)
    expectFindings(try guest.validate(), [MmFinding(.listLocation, pfn: page), MmFinding(.pageOnTwoLists, pfn: page)])
  }

  @Test("a page unlinked from the free list but still marked free is lost")
  func lostPage() throws {
    let guest = SyntheticGuest()
    let page = guest.lists[free][10]
    guest.unlink(page, from: .free)
    expectFindings(try guest.validate(), [MmFinding(.lostPage, pfn: page)])
  }

  @Test("a free page moved to the modified list with its location unchanged")
  func wrongLocation() throws {
    let guest = SyntheticGuest()
    let page = guest.lists[free][4]
    guest.unlink(page, from: .free)
    guest.append(page, to: .modified)
    expectFindings(try guest.validate(), [MmFinding(.listLocation, pfn: page)])
  }

  @Test("a wrong PTE address, in a process and in the kernel")
  func wrongPTEAddress() throws {
    let guest = SyntheticGuest()
    let user = guest.userMappings[2]
    let kernel = guest.kernelMappings[1]
    guest.setRecord64(user.pfn, PageFrameRecord.pteAddress, guest.record64(user.pfn, PageFrameRecord.pteAddress) + 8)
    guest.setRecord64(kernel.pfn, PageFrameRecord.pteAddress, 0)
    let report = try guest.validate()
    expectFindings(
      report,
      [
        MmFinding(.pteAddressMismatch, pfn: user.pfn, va: user.va, process: user.process),
        MmFinding(.pteAddressMismatch, pfn: kernel.pfn, va: kernel.va, process: nil),
      ])
    let selfMap = try #require(SelfMap(slot: KernelLayout.selfMapSlot))
    let expected = selfMap.pteAddress(mapping: user.va)
    #expect(
      report.violations.contains {
        $0.message.contains("(self-map address \(hex(expected))) but its PTE address is \(hex(expected + 8))")
      })
  }

  @Test("a wrong PTE frame")
  func wrongPTEFrame() throws {
    let guest = SyntheticGuest()
    let mapping = guest.userMappings[3]
    guest.setRecord32(mapping.pfn, PageFrameRecord.pteFrame, UInt32(guest.kernelMappings[0].tablePFN))
    expectFindings(
      try guest.validate(), [MmFinding(.pteFrameMismatch, pfn: mapping.pfn, va: mapping.va, process: mapping.process)])
  }

  @Test("a page-table share count off by one, below and above")
  func pageTableShareCount() throws {
    let guest = SyntheticGuest()
    let table = guest.userMappings[0].tablePFN
    let root = guest.kernelRoot >> 12
    guest.setRecord32(table, PageFrameRecord.shareCount, guest.record32(table, PageFrameRecord.shareCount) - 1)
    guest.setRecord32(root, PageFrameRecord.shareCount, guest.record32(root, PageFrameRecord.shareCount) + 1)
    let report = try guest.validate()
    expectFindings(report, [MmFinding(.pageTableShareCount, pfn: root), MmFinding(.pageTableShareCount, pfn: table)])
    // Sorted by PFN within a rule.
    #expect(report.violations.map(\.pfn) == [root, table].sorted().map { Optional($0) })
  }

  @Test("the guest's available-pages figure off by one")
  func availableMismatch() throws {
    let guest = SyntheticGuest()
    let available = guest.debugBlock64(DebugBlock.availablePages)
    guest.setDebugBlock64(DebugBlock.availablePages, available + 1)
    let report = try guest.validate()
    expectFindings(report, [MmFinding(.availablePages)])
    #expect(report.violations.first?.message.hasSuffix("but the guest counts \(available + 1) available pages") == true)
  }

  @Test("an unknown location byte is an invalid frame, reported once")
  func invalidLocation() throws {
    let guest = SyntheticGuest()
    let page = guest.lists[free][2]
    guest.setRecord8(page, PageFrameRecord.location, 0x42)
    expectFindings(try guest.validate(), [MmFinding(.invalidFrame, pfn: page)])
  }

  @Test("a hole linked on the free list")
  func holeOnList() throws {
    let guest = SyntheticGuest()
    guest.append(0xA0, to: .free)
    expectFindings(try guest.validate(), [MmFinding(.holeInUse, pfn: 0xA0)])
  }

  @Test("a page table whose usage is general")
  func pageTableUsage() throws {
    let guest = SyntheticGuest()
    let table = guest.userMappings[0].tablePFN
    guest.setRecord8(table, PageFrameRecord.usage, PageUsage.general.rawValue)
    expectFindings(try guest.validate(), [MmFinding(.pageTableUsage, pfn: table)])
  }

  @Test("an active page-table page that no PML4 reaches")
  func unreachablePageTable() throws {
    let guest = SyntheticGuest()
    let page = guest.lists[free][3]
    guest.unlink(page, from: .free)
    guest.setRecord8(page, PageFrameRecord.location, PageLocation.activeAndValid.rawValue)
    guest.setRecord8(page, PageFrameRecord.usage, PageUsage.pageTable.rawValue)
    guest.setEntry(page << 12, 0)  // the page's content is not a table's: clear the first word
    expectFindings(try guest.validate(), [MmFinding(.unreachablePageTable, pfn: page)])
  }

  @Test("a prototype page is not checked against the hardware PTE, but one no prototype PTE names is a stray")
  func prototypeExempt() throws {
    let guest = SyntheticGuest()
    let mapping = guest.userMappings[1]
    guest.setRecord8(mapping.pfn, PageFrameRecord.flags, PageFrameFlags.prototype.rawValue)
    guest.setRecord64(mapping.pfn, PageFrameRecord.pteAddress, 0xFFFF_8000_1234_5678)
    expectFindings(
      try guest.validate(), [MmFinding(.prototypeBackPointer, pfn: mapping.pfn, va: 0xFFFF_8000_1234_5678)])
  }

  @Test("a page mapped twice privately: the second PTE is not the one its record names")
  func mappedTwice() throws {
    let guest = SyntheticGuest()
    let mapping = guest.userMappings[0]
    let (va, entry) = guest.spareUserSlot(process: 0)
    guest.setEntry(entry, mapping.pfn << 12 | userPage)
    guest.setRecord32(
      entry >> 12, PageFrameRecord.shareCount, guest.record32(entry >> 12, PageFrameRecord.shareCount) + 1)
    expectFindings(
      try guest.validate(),
      [
        MmFinding(.pteAddressMismatch, pfn: mapping.pfn, va: va, process: mapping.process),
        MmFinding(.shareCount, pfn: mapping.pfn),
      ])
  }

  @Test("a software PTE is a live entry of its table: clearing one without counting it breaks the count")
  func softwarePTEsAreLive() throws {
    let guest = SyntheticGuest()
    let process = guest.processes[0]
    // The demand-zero PTE at softwarePTEBase: find its PT through the process's tables.
    let pdpt = guest.entry(process.root) & 0x000F_FFFF_FFFF_F000
    let pd = guest.entry(pdpt + ((SyntheticGuest.softwarePTEBase >> 30) & 511) * 8) & 0x000F_FFFF_FFFF_F000
    let pt = guest.entry(pd + ((SyntheticGuest.softwarePTEBase >> 21) & 511) * 8) & 0x000F_FFFF_FFFF_F000
    let slot = pt + ((SyntheticGuest.softwarePTEBase >> 12) & 511) * 8
    #expect(SoftwarePTE(raw: guest.entry(slot)) == .demandZero(protection: PageProtection.readWrite))
    guest.setEntry(slot, 0)
    expectFindings(try guest.validate(), [MmFinding(.pageTableShareCount, pfn: pt >> 12)])
  }

  @Test("a page table whose record names the wrong referencing entry, and a PML4 that names another frame")
  func pageTableLinkage() throws {
    let guest = SyntheticGuest()
    let mapping = guest.userMappings[0]
    let table = mapping.tablePFN
    let root = guest.processes[1].root >> 12
    guest.setRecord64(table, PageFrameRecord.pteAddress, guest.record64(table, PageFrameRecord.pteAddress) + 8)
    guest.setRecord32(root, PageFrameRecord.pteFrame, UInt32(guest.kernelRoot >> 12))
    let report = try guest.validate()
    expectFindings(
      report,
      [
        MmFinding(.pageTableLinkage, pfn: root, va: 0, process: guest.processes[1].id),
        MmFinding(.pageTableLinkage, pfn: table, va: mapping.va & ~0x1F_FFFF, process: mapping.process),
      ])
  }

  @Test("zeroed pages are read back all, only where the dirty bitmap says, or not at all")
  func zeroCheckModes() throws {
    let guest = SyntheticGuest()
    let page = guest.lists[zeroed][4]
    guest.poke(pfn: page, offset: 77, 1)
    let expected = [MmFinding(.zeroedPageNotZero, pfn: page)]
    func validate(_ mode: MmValidator.ZeroCheck) throws -> MmValidationReport {
      try guest.withState { MmValidator(state: $0, zeroCheck: mode).validate() }
    }
    expectFindings(try validate(.everyPage), expected)
    expectFindings(try validate(.none), [])
    var bitmap = [UInt64](repeating: 0, count: Int(guest.pfnCount / 64))
    expectFindings(try validate(.dirtyPages(bitmap: bitmap)), [])
    bitmap[Int(page / 64)] |= 1 << (page % 64)
    expectFindings(try validate(.dirtyPages(bitmap: bitmap)), expected)
    expectFindings(try validate(.dirtyPages(bitmap: [])), expected)  // past the bitmap: read
  }

  @Test("a sound guest takes the fast list walk; one bad link anywhere gives the careful walk's exact findings")
  func listWalksAgree() throws {
    var options = SyntheticGuest.Options()
    options.ramBytes = 8 << 20
    options.zeroedPages = 100
    options.standbyPages = 60
    options.modifiedPages = 30
    options.shuffleSeed = 11
    let guest = SyntheticGuest(options)
    let clean = try guest.validate()
    #expect(clean.isClean, "\(clean.text)")
    #expect(clean.pagesWalked == guest.lists.map { UInt64($0.count) })
    // A break near each end and in the middle of the longest list.
    let pages = guest.lists[free]
    for index in [1, pages.count / 2, pages.count - 3] {
      let broken = SyntheticGuest(options)
      broken.setRecord32(pages[index], PageFrameRecord.next, UInt32(pages[index + 2]))
      expectFindings(
        try broken.validate(),
        [
          MmFinding(.listLinks, pfn: pages[index + 2]), MmFinding(.listTotal),
          MmFinding(.lostPage, pfn: pages[index + 1]),
        ])
    }
  }

  @Test("the report says where the time went")
  func timings() throws {
    let report = try SyntheticGuest().validate()
    #expect(report.timings.total > .zero)
    #expect(report.timings.lists + report.timings.pageTables + report.timings.frames <= report.timings.total)
  }

  @Test("violations come in a deterministic order, and past the limit are counted, not kept")
  func limitAndOrder() throws {
    let guest = SyntheticGuest()
    for mapping in guest.userMappings { guest.setRecord32(mapping.pfn, PageFrameRecord.shareCount, 5) }
    guest.setHead(.modified, total: 9)
    let full = try guest.validate()
    #expect(full.violationCount == guest.userMappings.count + 1)
    #expect(full.violations.first?.rule == .listTotal)
    #expect(full.violations.dropFirst().map(\.pfn) == guest.userMappings.map(\.pfn).sorted().map { Optional($0) })
    #expect(try guest.validate().violations == full.violations)
    let limited = try guest.validate(violationLimit: 3)
    #expect(limited.violations.count == 3)
    #expect(limited.violationCount == full.violationCount)
    #expect(limited.countsByRule == [.listTotal: 1, .shareCount: guest.userMappings.count])
    #expect(limited.text.contains("... and \(full.violationCount - 3) more violations"))
  }
}

@Suite("Mm validator: a hostile guest gives errors or violations, never a crash or a hang")
struct MmValidatorHostileTests {
  @Test("a list head pointing outside the database")
  func headOutside() throws {
    let guest = SyntheticGuest()
    guest.setHead(.free, first: 0xFFFF_0000)
    // The rest of the list is still found from its tail: nothing is reported lost.
    expectFindings(try guest.validate(), [MmFinding(.listLinks, pfn: 0xFFFF_0000)])
  }

  @Test("a head whose last is not where the walk ends, and an empty head that names a last page")
  func headLinks() throws {
    let guest = SyntheticGuest()
    let zeroed = guest.lists[Int(PageLocation.zeroed.rawValue)]
    let bad = guest.lists[Int(PageLocation.bad.rawValue)]
    guest.setHead(.zeroed, last: UInt32(zeroed[2]))
    guest.setHead(.bad, first: PageFrameRecord.noPage)
    expectFindings(
      try guest.validate(),
      [
        MmFinding(.listLinks, pfn: zeroed[2]), MmFinding(.listLinks, pfn: bad[0]), MmFinding(.listTotal),
        MmFinding(.lostPage, pfn: bad[0]),
      ])
  }

  @Test("a leaf mapping past the PFN database, and one mapping a hole")
  func mapsInvalidFrames() throws {
    let guest = SyntheticGuest()
    let (va, entry) = guest.spareUserSlot(process: 0)
    guest.setEntry(entry, 0x4000_0000 | userPage)
    guest.setEntry(entry + 8, 0xA0 << 12 | userPage)
    let table = entry >> 12
    guest.setRecord32(table, PageFrameRecord.shareCount, guest.record32(table, PageFrameRecord.shareCount) + 2)
    let process = guest.processes[0].id
    expectFindings(
      try guest.validate(),
      [
        MmFinding(.mapsInvalidFrame, pfn: 0x4_0000, va: va, process: process),
        MmFinding(.mapsInvalidFrame, pfn: 0xA0, va: va + 4096, process: process),
      ])
  }

  @Test("a 2 MiB page in the user half")
  func largePageOutsideWindow() throws {
    let guest = SyntheticGuest()
    let table = guest.userMappings[0].tablePFN
    let process = guest.processes[0]
    // The user PD is the PT's parent: find the PD entry after the one that references the PT.
    let pml4e = guest.entry(process.root)
    let pdpt = pml4e & 0x000F_FFFF_FFFF_F000
    let pd = guest.entry(pdpt) & 0x000F_FFFF_FFFF_F000
    let index = (SyntheticGuest.userBase >> 21) & 511
    #expect(guest.entry(pd + index * 8) & 0x000F_FFFF_FFFF_F000 == table << 12)
    guest.setEntry(pd + (index + 1) * 8, 0x20_0000 | 0x80 | userPage)
    guest.setRecord32(pd >> 12, PageFrameRecord.shareCount, guest.record32(pd >> 12, PageFrameRecord.shareCount) + 1)
    expectFindings(
      try guest.validate(),
      [MmFinding(.largePageOutsideWindow, pfn: 0x200, va: SyntheticGuest.userBase + (2 << 20), process: process.id)])
  }

  @Test("a process whose self-map slot points at the kernel's PML4")
  func selfMapEntry() throws {
    let guest = SyntheticGuest()
    let process = guest.processes[1]
    guest.setEntry(process.root + KernelLayout.selfMapSlot * 8, guest.kernelRoot | 0x3 | noExecute)
    expectFindings(
      try guest.validate(),
      [MmFinding(.selfMapEntry, pfn: process.root >> 12, va: KernelLayout.selfMapBase, process: process.id)])
  }

  @Test("a PD entry pointing back at the PML4: reported, and the walk ends")
  func tableLoop() throws {
    let guest = SyntheticGuest()
    let process = guest.processes[0]
    let pdpt = guest.entry(process.root) & 0x000F_FFFF_FFFF_F000
    let pd = guest.entry(pdpt) & 0x000F_FFFF_FFFF_F000
    guest.setEntry(pd + 100 * 8, process.root | userPage)
    guest.setEntry(process.root + 8, process.root | userPage)  // and a second recursive PML4 slot
    let report = try guest.validate()
    #expect(report.violations(of: .pageTableStructure).count == 2, "\(report.text)")
    #expect(report.violations(of: .pageTableStructure).allSatisfy { $0.message.contains("is also used as a PML4") })
  }

  @Test("a kernel PML4 outside RAM: reported, processes still walked")
  func rootOutsideRAM() throws {
    let guest = SyntheticGuest()
    guest.setDebugBlock64(DebugBlock.kernelRoot, 1 << 40)
    let report = try guest.validate()
    #expect(report.findings.contains(MmFinding(.pageTableStructure, pfn: 1 << 28)))
    #expect(report.findings.contains(MmFinding(.unreachablePageTable, pfn: guest.kernelRoot >> 12)))
    #expect(report.violations(of: .shareCount).isEmpty, "the kernel half is still reached through the processes")
    #expect(report.rootsWalked == 2)
  }

  @Test("two processes with one PML4")
  func sharedRoot() throws {
    let guest = SyntheticGuest()
    let slot1 = guest.debugBlock + SyntheticGuest.processTableOffset + UInt64(2 * ProcessRecord.size)
    guest.setEntry(slot1 + UInt64(ProcessRecord.root), guest.processes[0].root)
    let report = try guest.validate()
    #expect(report.findings.contains(MmFinding(.pageTableStructure, pfn: guest.processes[0].root >> 12, process: 2)))
  }

  @Test("a window of unknown kind is reported and not honoured")
  func badWindow() throws {
    let guest = SyntheticGuest()
    let window = guest.debugBlock + SyntheticGuest.windowsOffset
    guest.setEntry(window + UInt64(DebugWindow.kind), 9)
    let report = try guest.validate()
    #expect(report.findings.contains(MmFinding(.debugWindow, va: KernelLayout.directMapBase)))
    #expect(report.violations(of: .largePageOutsideWindow).count == 2)
  }

  @Test("reserved bits in a leaf under a narrow MAXPHYADDR")
  func reservedBits() throws {
    let guest = SyntheticGuest()
    let mapping = guest.userMappings[0]
    guest.setEntry(mapping.entryAddress, guest.entry(mapping.entryAddress) | 1 << 45)
    let report = try guest.withState { MmValidator(state: $0, maxPhysicalAddressBits: 40).validate() }
    #expect(report.findings.contains(MmFinding(.pageTableStructure, va: mapping.va, process: mapping.process)))
  }

  @Test("a database, list heads and page tables of random bytes: the validation ends with violations")
  func randomGarbage() throws {
    for seed in UInt64(1)...4 {
      let guest = SyntheticGuest()
      var random = SyntheticGuest.Random(seed: seed)
      let database = guest.databaseAddress
      for offset in stride(from: UInt64(0), to: guest.pfnCount * UInt64(PageFrameRecord.size), by: 8) {
        var value = random.next()
        // Keep some values plausible so the walks go somewhere.
        if seed & 1 == 0 { value &= 0x0000_0007_0000_03FF }
        guest.setEntry(database + offset, value)
      }
      for list in PageLocation.allCases.prefix(6) {
        guest.setHead(
          list, first: UInt32(random.next() % 1100), last: UInt32(random.next() % 1100), total: random.next())
      }
      for table in guest.tablePFNs {
        for index in UInt64(0)..<512 where random.next() % 4 == 0 {
          guest.setEntry(table << 12 + index * 8, random.next() & (seed & 1 == 0 ? 0x3F_F0FF : .max))
        }
      }
      let report = try guest.validate()
      #expect(report.violationCount > 0)
      #expect(report.violations.count <= 10_000)
    }
  }

  @Test("lists that chain through every page, each linking to another list's pages")
  func tangledLists() throws {
    let guest = SyntheticGuest()
    // Every record's next is PFN + 1 and previous PFN - 1: one chain through the database,
    // which every list head enters somewhere.
    for pfn in UInt64(0)..<guest.pfnCount {
      guest.setRecord32(pfn, PageFrameRecord.next, UInt32(pfn + 1))
      guest.setRecord32(pfn, PageFrameRecord.previous, pfn == 0 ? PageFrameRecord.noPage : UInt32(pfn - 1))
    }
    for (index, list) in PageLocation.allCases.prefix(6).enumerated() {
      guest.setHead(list, first: UInt32(index * 150), last: 5)
    }
    let report = try guest.validate()
    #expect(report.violations(of: .pageOnTwoLists).count == 5)
    #expect(!report.violations(of: .listLinks).isEmpty)
  }
}
