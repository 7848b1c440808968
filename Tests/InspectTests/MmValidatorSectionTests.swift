import GuestABI
import Inspect
import Machine
import Testing
import X86Paging

/// A guest with sections (`SyntheticGuest+Sections.swift`), and its FAT volume.
private func sectionGuest() -> SyntheticGuest {
  var options = SyntheticGuest.Options()
  options.sections = true
  return SyntheticGuest(options)
}

private let directMap = KernelLayout.directMapBase

@Suite("Mm validator: sections")
struct MmValidatorSectionTests {
  @Test("a guest with a file section, a page-file section and views in two processes validates clean")
  func clean() throws {
    let guest = sectionGuest()
    let volume = try guest.sectionVolume()
    let report = try guest.validate(volume: try volume.open())
    #expect(report.isClean, "\(report.text)")
    try guest.withState { state in
      #expect(state.controlAreas.map(\.slot) == [0, 2])
      #expect(state.views().views.count == 3)
      #expect(state.views().unreadable.isEmpty)
      #expect(state.cacheViews.map(\.slot) == [0] && state.cacheViews[0].lastUse == 7)
      let system = state.systemViews()
      #expect(system.count == 2 && system.allSatisfy { $0.isSystem && $0.root == state.kernelRoot })
      #expect(system[0].isCacheView && !system[1].isCacheView)
      #expect(system[0].vad.start == SystemCacheLayout.base && system[0].pageCount == SystemCacheLayout.viewSize >> 12)
      #expect(state.systemSpaceViews.map(\.slot) == [1])
      #expect(system[1].vad.start == SectionModel.systemViewVA && system[1].pageCount == 4)
      #expect(
        system[1].vad.protection == PageProtection.readOnly && system[1].controlArea == state.controlAreas[0].address)
    }
  }

  @Test("the rules have names and summaries")
  func names() {
    let rules: [MmRule] = [
      .controlAreaStructure, .segmentPage, .prototypePTE, .prototypeBackPointer, .viewSection, .prototypeMismatch,
      .controlAreaCounts, .cleanFilePage,
    ]
    #expect(
      rules.map(\.name) == [
        "control-area-structure", "segment-page", "prototype-pte", "prototype-back-pointer", "view-section",
        "prototype-mismatch", "control-area-counts", "clean-file-page",
      ])
    #expect(rules.allSatisfy { !$0.summary.isEmpty })
  }

  @Test("a prototype PTE's PFN flipped to another section page's is one back-pointer violation")
  func flippedPrototypePFN() throws {
    let guest = sectionGuest()
    let other = guest.sections.fileResident[1]!
    guest.setEntry(guest.sections.filePrototype(0), other << 12 | 1)
    expectFindings(
      try guest.validate(),
      [MmFinding(.prototypeBackPointer, pfn: other, va: directMap + guest.sections.filePrototype(0))])
  }

  @Test("view PTEs mapping each other's section page are prototype mismatches, each at its VA")
  func viewMapsAnotherPage() throws {
    let guest = sectionGuest()
    let ptes = guest.sections.fileViewPTEs
    let (a, b) = (guest.entry(ptes[0]), guest.entry(ptes[1]))
    guest.setEntry(ptes[0], b)
    guest.setEntry(ptes[1], a)
    let base = SectionModel.fileViewBase
    expectFindings(
      try guest.validate(),
      [
        MmFinding(.prototypeMismatch, pfn: guest.sections.fileResident[1]!, va: base, process: 1),
        MmFinding(.prototypeMismatch, pfn: guest.sections.fileResident[0]!, va: base + 4096, process: 1),
      ])
  }

  @Test("a private page in a view is a write-copy view's copy; in a shared view it is a mismatch")
  func writeCopy() throws {
    for protection in [PageProtection.writeCopy, PageProtection.readOnly] {
      let guest = sectionGuest()
      let va = SectionModel.fileViewBase
      let vad = guest.sections.vadTables[1] + UInt64(VadTable.headerSize + VadRecord.size)
      #expect(guest.memory.store(protection, at: vad + UInt64(VadRecord.protection)))
      // Process 2's page 0 becomes a private copy: a page off the free list, accounted as private pages are.
      let copy = guest.lists[Int(PageLocation.free.rawValue)][0]
      guest.unlink(copy, from: .free)
      let pte = guest.sections.secondViewPTE
      guest.setEntry(pte, copy << 12 | 0x7 | 0x40 | 1 << 63)
      guest.setRecord8(copy, PageFrameRecord.location, PageLocation.activeAndValid.rawValue)
      guest.setRecord32(copy, PageFrameRecord.shareCount, 1)
      guest.setRecord16(copy, PageFrameRecord.referenceCount, 1)
      guest.setRecord64(copy, PageFrameRecord.pteAddress, guest.selfMap.pteAddress(mapping: va))
      guest.setRecord32(copy, PageFrameRecord.pteFrame, UInt32(pte >> 12))
      guest.setRecord16(copy, PageFrameRecord.owner, 2)
      let shared = guest.sections.fileResident[0]!
      guest.setRecord32(shared, PageFrameRecord.shareCount, 2)  // process 1's view and the system-space view
      let report = try guest.validate()
      if protection == PageProtection.writeCopy {
        #expect(report.isClean, "\(report.text)")
      } else {
        expectFindings(report, [MmFinding(.prototypeMismatch, pfn: copy, va: va, process: 2)])
      }
    }
  }

  @Test(
    "a system view (Cc's, or a system-space one) mapping another section page than its prototype PTE names is a mismatch"
  )
  func systemViewMismatch() throws {
    // (the view's kernel PTE, its VA, the section page it maps, the one it will map, its PTE bits, the report's words)
    let cases: [(KeyPath<SectionModel, UInt64>, UInt64, UInt64, UInt64, UInt64, String)] = [
      (\.cacheViewPTE, SectionModel.cacheViewVA, 1, 0, 0x3, "Cc's system view"),
      (
        \.systemViewPTE, SectionModel.systemViewVA, 0, 1, 0x1,
        "the system-space view 0xfffffc0000210000-0xfffffc0000214000"
      ),
    ]
    for (pte, va, from, to, bits, words) in cases {
      let guest = sectionGuest()
      let (old, new) = (guest.sections.fileResident[from]!, guest.sections.fileResident[to]!)
      guest.setEntry(guest.sections[keyPath: pte], new << 12 | bits | 1 << 63)
      // The share counts follow the PTE, so only the mismatch is left to find.
      for (pfn, change) in [(old, -1), (new, 1)] {
        let shares = Int(guest.record32(pfn, PageFrameRecord.shareCount)) + change
        guest.setRecord32(pfn, PageFrameRecord.shareCount, UInt32(shares))
        guest.setRecord16(pfn, PageFrameRecord.referenceCount, UInt16(shares))
      }
      let report = try guest.validate()
      expectFindings(report, [MmFinding(.prototypeMismatch, pfn: new, va: va)])
      #expect(report.text.contains(words), "\(report.text)")
    }
  }

  @Test("Cc's view of a page beyond its section, and a share count that leaves Cc's PTE out, are named")
  func cacheViewOutsideSection() throws {
    let guest = sectionGuest()
    #expect(
      guest.memory.store(SystemCacheLayout.viewSize, at: guest.sections.cacheViews + UInt64(CacheViewRecord.fileOffset))
    )
    expectFindings(try guest.validate(), [MmFinding(.viewSection, va: SystemCacheLayout.base)])
    let second = sectionGuest()
    let page1 = second.sections.fileResident[1]!
    second.setRecord32(page1, PageFrameRecord.shareCount, 1)
    expectFindings(try second.validate(), [MmFinding(.shareCount, pfn: page1)])
  }

  @Test("mappedViews that leave Cc's view out is a count violation; userReferences never count it")
  func cacheViewCounts() throws {
    let guest = sectionGuest()
    let area = guest.sections.record(SectionModel.fileSlot)
    #expect(guest.memory.store(UInt32(3), at: area + UInt64(ControlAreaRecord.mappedViews)))
    let report = try guest.validate()
    expectFindings(report, [MmFinding(.controlAreaCounts)])
    #expect(
      report.text.contains("mappedViews 3 but 2 views in processes, 1 of Cc's and 1 other system-space views"),
      "\(report.text)")
    let second = sectionGuest()
    #expect(second.memory.store(UInt32(5), at: area + UInt64(ControlAreaRecord.userReferences)))
    expectFindings(try second.validate(), [MmFinding(.controlAreaCounts)])
  }

  @Test("Cc's view records: more slots than the window holds, short records, or outside RAM are refused")
  func cacheViewDecoding() throws {
    for (field, value, expected) in [
      (DebugBlock.cacheViewCount, UInt32(9), MmDecodeError.cacheViewRecords(count: 9, recordSize: 32)),
      (DebugBlock.cacheViewRecordSize, UInt32(16), MmDecodeError.cacheViewRecords(count: 8, recordSize: 16)),
    ] {
      let guest = sectionGuest()
      guest.setDebugBlock32(field, value)
      #expect(throws: expected) { try guest.withState { _ in () } }
    }
    let guest = sectionGuest()
    guest.setDebugBlock64(DebugBlock.cacheViewsPhysical, 1 << 40)
    #expect(throws: MmDecodeError.cacheViewsOutsideMemory(address: 1 << 40, count: 8)) {
      try guest.withState { _ in () }
    }
  }

  @Test("userReferences or mappedViews that leave a system-space view out are count violations; it is a user reference")
  func systemSpaceViewCounts() throws {
    let area = { (guest: SyntheticGuest) in guest.sections.record(SectionModel.fileSlot) }
    let guest = sectionGuest()
    #expect(guest.memory.store(UInt32(3), at: area(guest) + UInt64(ControlAreaRecord.userReferences)))
    let report = try guest.validate()
    expectFindings(report, [MmFinding(.controlAreaCounts)])
    #expect(
      report.text.contains("userReferences 3 but 1 sections + 2 process views + 1 system-space views = 4"),
      "\(report.text)")
    let second = sectionGuest()
    let record = second.sections.systemViews + UInt64(SystemViewRecord.size)
    #expect(second.memory.store(UInt64(0), at: record + UInt64(SystemViewRecord.controlArea)))
    // The record gone, its PTE is a kernel mapping no view explains; the counts name the missing view.
    #expect(try second.validate().countsByRule[.controlAreaCounts] == 1)
  }

  @Test("system-space view records: more slots than system space holds, short records, or outside RAM are refused")
  func systemSpaceViewDecoding() throws {
    for (field, value, expected) in [
      (DebugBlock.systemViewCount, UInt32(9), MmDecodeError.systemViewRecords(count: 9, recordSize: 32)),
      (DebugBlock.systemViewRecordSize, UInt32(24), MmDecodeError.systemViewRecords(count: 8, recordSize: 24)),
    ] {
      let guest = sectionGuest()
      guest.setDebugBlock32(field, value)
      #expect(throws: expected) { try guest.withState { _ in () } }
    }
    let guest = sectionGuest()
    guest.setDebugBlock64(DebugBlock.systemViewsPhysical, 1 << 40)
    #expect(throws: MmDecodeError.systemViewsOutsideMemory(address: 1 << 40, count: 8)) {
      try guest.withState { _ in () }
    }
    // A version-2 block (it ends before the system-space views) decodes with none.
    let older = sectionGuest()
    older.setDebugBlock32(DebugBlock.size, UInt32(DebugBlock.systemViewsPhysical))
    try older.withState { state in
      #expect(state.systemSpaceViews.isEmpty && state.cacheViews.count == 1 && state.controlAreas.count == 2)
    }
  }

  @Test("a view's prototype-format PTE naming another page's prototype PTE is a mismatch")
  func viewPrototypeFormat() throws {
    let guest = sectionGuest()
    let wrong = SoftwarePTE.prototype(
      address: directMap + guest.sections.filePrototype(3), protection: PageProtection.readOnly, viaVAD: false)
    guest.setEntry(guest.sections.fileViewPTEs[2], wrong.raw)
    expectFindings(
      try guest.validate(), [MmFinding(.prototypeMismatch, va: SectionModel.fileViewBase + 2 * 4096, process: 1)])
  }

  @Test("a section page's share count off by one is a share-count violation: it counts every view")
  func shareCount() throws {
    let guest = sectionGuest()
    let pfn = guest.sections.fileResident[0]!
    #expect(guest.record32(pfn, PageFrameRecord.shareCount) == 3)
    guest.setRecord32(pfn, PageFrameRecord.shareCount, 2)
    expectFindings(try guest.validate(), [MmFinding(.shareCount, pfn: pfn)])
  }

  @Test("pfnReferences, mappedViews or userReferences off by one are control-area-count violations")
  func counts() throws {
    for field in [ControlAreaRecord.pfnReferences, ControlAreaRecord.mappedViews, ControlAreaRecord.userReferences] {
      let guest = sectionGuest()
      let address = guest.sections.record(SectionModel.fileSlot) + UInt64(field)
      let value = guest.memory.load(UInt32.self, at: address)!
      #expect(guest.memory.store(value + 1, at: address))
      let report = try guest.validate()
      expectFindings(report, [MmFinding(.controlAreaCounts)])
    }
  }

  @Test("a segment page with usage general, and a stray segment-usage page, are segment-page violations")
  func segmentPage() throws {
    let guest = sectionGuest()
    let page = guest.sections.filePrototypes >> 12
    guest.setRecord8(page, PageFrameRecord.usage, PageUsage.general.rawValue)
    let stray = guest.sections.vadTables[1] >> 12
    guest.setRecord8(stray, PageFrameRecord.usage, PageUsage.segment.rawValue)
    expectFindings(
      try guest.validate(), [MmFinding(.segmentPage, pfn: page), MmFinding(.segmentPage, pfn: stray)])
  }

  @Test("a section page's record without the prototype flag, or naming another PTE, is a back-pointer violation")
  func backPointer() throws {
    let guest = sectionGuest()
    let standby = guest.sections.fileResident[3]!
    guest.setRecord64(standby, PageFrameRecord.pteAddress, directMap + guest.sections.filePrototype(2))
    let pageFile = guest.sections.pageFileResident
    guest.setRecord8(pageFile, PageFrameRecord.flags, PageFrameFlags.prototype.rawValue)  // modified flag gone
    expectFindings(
      try guest.validate(),
      [
        MmFinding(.prototypeBackPointer, pfn: standby, va: directMap + guest.sections.filePrototype(3)),
        MmFinding(.prototypeBackPointer, pfn: pageFile, va: directMap + guest.sections.pageFilePrototypes),
      ])
  }

  @Test("a prototype PTE of a form its section cannot have is a prototype-pte violation")
  func prototypeFormat() throws {
    let guest = sectionGuest()
    guest.setEntry(guest.sections.filePrototype(2), SoftwarePTE.demandZero(protection: PageProtection.readOnly).raw)
    guest.setEntry(guest.sections.pageFilePrototypes + 8, 0)  // not SEC_RESERVE: every page is committed
    expectFindings(
      try guest.validate(),
      [
        MmFinding(.prototypePTE, va: directMap + guest.sections.filePrototype(2)),
        MmFinding(.prototypePTE, va: directMap + guest.sections.pageFilePrototypes + 8),
      ])
  }

  @Test("a view naming no control area, or running past its section, is a view-section violation")
  func viewSection() throws {
    let guest = sectionGuest()
    let record = guest.sections.vadTables[1] + UInt64(VadTable.headerSize + VadRecord.size)
    #expect(guest.memory.store(UInt64(0x1234_0000), at: record + UInt64(VadRecord.controlArea)))
    // The file view's mappedViews and userReferences drop with it: the counts stay right.
    let area = guest.sections.record(SectionModel.fileSlot)
    #expect(guest.memory.store(UInt32(2), at: area + UInt64(ControlAreaRecord.mappedViews)))
    #expect(guest.memory.store(UInt32(3), at: area + UInt64(ControlAreaRecord.userReferences)))
    let first = guest.sections.vadTables[0] + UInt64(VadTable.headerSize + VadRecord.size)
    #expect(guest.memory.store(UInt64(1), at: first + UInt64(VadRecord.sectionOffsetPages)))
    let report = try guest.validate()
    #expect(report.countsByRule[.viewSection] == 2, "\(report.text)")
    #expect(report.violations(of: .viewSection).map(\.processID) == [1, 2])
  }

  @Test("a byte of a clean file page changed is a clean-file-page violation; without a volume it is not checked")
  func cleanFilePage() throws {
    let guest = sectionGuest()
    let volume = try guest.sectionVolume()
    let pfn = guest.sections.fileResident[1]!
    guest.poke(pfn: pfn, offset: 0x123, 0xAB ^ SectionModel.fileContent[4096 + 0x123])
    expectFindings(try guest.validate(volume: try volume.open()), [MmFinding(.cleanFilePage, pfn: pfn)])
    #expect(try guest.validate().isClean, "no volume, no comparison")
    // A page mapped dirty is not clean: the same change is no violation then.
    guest.setEntry(guest.sections.fileViewPTEs[1], guest.entry(guest.sections.fileViewPTEs[1]) | 0x40)
    #expect(try guest.validate(volume: try volume.open()).isClean)
  }

  @Test("past the file's end a clean page must be zero; bytes past the volume's chain are not compared")
  func cleanFileTail() throws {
    let guest = sectionGuest()
    let tail = guest.sections.fileResident[3]!
    guest.poke(pfn: tail, offset: 4000, 1)  // past the file's 3 * 4096 + 2000 bytes
    let volume = try guest.sectionVolume()
    expectFindings(try guest.validate(volume: try volume.open()), [MmFinding(.cleanFilePage, pfn: tail)])

    let fresh = sectionGuest()
    fresh.poke(pfn: fresh.sections.fileResident[1]!, offset: 0x800, 0xEE)  // in cluster 3 + 12
    let short = try fresh.sectionVolume(chainClusters: 10)  // the chain covers 5,120 bytes only
    #expect(try fresh.validate(volume: try short.open()).isClean)
  }

  @Test("the host's FAT reader finds a file by its first cluster")
  func pathByCluster() throws {
    let volume = try TinyFatVolume(content: SectionModel.fileContent)
    let image = try volume.open()
    #expect(image.path(ofFirstCluster: TinyFatVolume.fileFirstCluster) == "/DATA.BIN")
    #expect(image.path(ofFirstCluster: 999) == nil)
    let extent = image.extent(firstCluster: TinyFatVolume.fileFirstCluster, size: UInt64(SectionModel.fileSize))
    #expect(extent.coveredBytes == UInt64(SectionModel.fileSize))
    #expect(image.read(extent, offset: 4096, count: 4096) == Array(SectionModel.fileContent[4096..<8192]))
  }
}
