import GuestABI
import Machine
import X86Paging

// The frame rules: each record against the PTEs and lists that name it, zeroed
// pages read back, and the available count.
extension ValidationRun {
  // MARK: Frames

  /// One sequential pass over the database: every record on its own, the accounted
  /// leaves mapping it, its share count, and the content of zeroed-list pages.
  mutating func checkFrames() {
    // PFN ranges wholly in RAM, ascending, with the host address of their first page.
    var ram: [(start: Int, end: Int, host: UnsafeRawPointer)] = []
    for region in memory.regions {
      let start = (region.base &+ 0xFFF) >> 12
      let end = region.end >> 12
      guard start < end, start < UInt64(pfnCount), let base = region.bytes.baseAddress else { continue }
      ram.append(
        (Int(start), Int(min(end, UInt64(pfnCount))), UnsafeRawPointer(base + Int((start << 12) - region.base))))
    }
    ram.sort { $0.start < $1.start }
    var rangeIndex = 0
    let knownLocation = PageLocation.transition.rawValue
    let hole = PageUsage.hole.rawValue
    let lastUsage = PageUsage.segment.rawValue
    let active = PageLocation.activeAndValid.rawValue
    let pageTable = PageUsage.pageTable.rawValue
    let zeroedMarker = PageLocation.zeroed.rawValue + 1

    var zeroBatch = ZeroBatch()
    for pfn in 0..<pfnCount {
      let location = u8(pfn, PageFrameRecord.location)
      let usage = u8(pfn, PageFrameRecord.usage)
      guard location <= knownLocation, usage <= lastUsage else {
        report(
          .invalidFrame, pfn: UInt64(pfn),
          "PFN \(hex(UInt64(pfn))) has \(locationName(location)) and \(usageName(usage))")
        continue
      }
      if usage == hole {
        if onList[pfn] != 0 {
          report(
            .holeInUse, pfn: UInt64(pfn),
            "PFN \(hex(UInt64(pfn))) is a hole (not RAM) but is linked on the "
              + "\(listName(Int(onList[pfn] & ~backwardMark) - 1)) list")
        }
        if mapped[pfn] != 0 { markForDetail(pfn) }
        continue
      }
      while rangeIndex < ram.count && ram[rangeIndex].end <= pfn { rangeIndex += 1 }
      guard rangeIndex < ram.count, ram[rangeIndex].start <= pfn else {
        report(
          .invalidFrame, pfn: UInt64(pfn),
          "PFN \(hex(UInt64(pfn))) has \(usageName(usage)) but is not in guest RAM (a hole must have usage hole)")
        continue
      }
      let page = ram[rangeIndex].host + (pfn - ram[rangeIndex].start) << 12
      let list = onList[pfn] & ~backwardMark
      if location < active && list == 0 {
        report(
          .lostPage, pfn: UInt64(pfn),
          "PFN \(hex(UInt64(pfn))) has location \(locationName(location)) but is on no list")
      }
      if list == zeroedMarker && wantsZeroCheck(pfn) {
        zeroBatch.append(pfn: pfn, page: page)
        if zeroBatch.isFull { checkZeroBatch(&zeroBatch) }
      }

      // The accounted PTEs mapping the page: checked from the record's side when it
      // names one, one by one (`checkLeaves`) when not.
      let count = mapped[pfn]
      var shareChecked = false
      if count != 0 {
        if location != active {
          markForDetail(pfn)
          shareChecked = true  // mapsInactiveFrame says it; the share count says nothing more
        } else if u8(pfn, PageFrameRecord.flags) & PageFrameFlags.prototype.rawValue == 0
          && (count != 1 || !namesCountedPTE(pfn))
        {
          markForDetail(pfn)
        }
      }

      let level = tableLevel[pfn]
      if level != 0 && (usage != pageTable || location != active) {
        let levelName = PagingLevel(rawValue: Int(level)).map { "\($0)" } ?? "?"
        report(
          .pageTableUsage, pfn: UInt64(pfn),
          "PFN \(hex(UInt64(pfn))) is used as a \(levelName) but has location \(locationName(location)) and "
            + usageName(usage))
        continue
      }
      let share = u32(pfn, PageFrameRecord.shareCount)
      if usage == pageTable {
        let live = liveEntries(page)
        if share != live {
          report(
            .pageTableShareCount, pfn: UInt64(pfn),
            "page table PFN \(hex(UInt64(pfn))) has \(live) live (nonzero) entries but share count \(share)")
        }
        if level == 0 && location == active {
          report(
            .unreachablePageTable, pfn: UInt64(pfn),
            "PFN \(hex(UInt64(pfn))) is an active page table (\(live) live entries) that no PML4 reaches")
        }
      } else if !shareChecked && share != count {
        report(
          .shareCount, pfn: UInt64(pfn),
          "PFN \(hex(UInt64(pfn))) (\(usageName(usage)), \(locationName(location))) has share count \(share) but "
            + "\(count) valid accounted PTEs map it")
      }
    }
    checkZeroBatch(&zeroBatch)
    checkLeaves()
  }

  /// Reads the batch's pages together (their loads overlap) and reports the nonzero ones.
  func checkZeroBatch(_ batch: inout ZeroBatch) {
    guard batch.count > 0 else { return }
    let nonzero = batch.nonzeroPages()
    if nonzero != 0 {
      for index in 0..<batch.count where nonzero & (1 << index) != 0 {
        let (pfn, page) = batch[index]
        if let offset = firstNonzeroByte(page) {
          report(
            .zeroedPageNotZero, pfn: UInt64(pfn),
            "PFN \(hex(UInt64(pfn))) is on the zeroed list but its byte \(hex(UInt64(offset))) is "
              + hex(UInt64(page.load(fromByteOffset: offset, as: UInt8.self))))
        }
      }
    }
    batch.count = 0
  }

  @inline(__always) mutating func markForDetail(_ pfn: Int) {
    flags[pfn] |= FrameFlag.needsDetail
    needsDetail = true
  }

  /// True if the record of `pfn` names, by self-map address and PTE frame, a valid
  /// accounted PTE that maps `pfn`: found from the record, with one read of that PTE.
  @inline(__always) func namesCountedPTE(_ pfn: Int) -> Bool {
    let named = u64(pfn, PageFrameRecord.pteAddress)
    let frame = u32(pfn, PageFrameRecord.pteFrame)
    guard selfMap.contains(named), named & 7 == 0, Int(frame) < pfnCount,
      tableLevel[Int(frame)] == UInt8(PagingLevel.pageTable.rawValue),
      flags[Int(frame)] & FrameFlag.leavesCounted != 0
    else { return false }
    let index = (named >> 3) & 511
    let va = tableVA[Int(frame)] | index << 12
    guard selfMap.pteAddress(mapping: va) == named, !isExempt(va),
      let entry = memory.load(UInt64.self, at: UInt64(frame) << 12 | index << 3)
    else { return false }
    return entry & 1 != 0 && (entry & pageFrameMask) >> 12 == UInt64(pfn)
  }

  /// The leaves of the pages the frame pass could not clear, one by one, in the order
  /// the first enumeration found them.
  mutating func checkLeaves() {
    guard needsDetail else { return }
    var context = PagingContext(mode: .fourLevel, cr3: 0, maxPhysicalAddressBits: maxPhysicalAddressBits)
    context.efer.insert(.noExecuteEnable)
    let formats = TableFormats(context: context)
    for space in spaces { walkLeaves(space, pass: .detail, context: context, formats: formats) }
  }

  /// One accounted leaf of a marked page.
  mutating func checkLeaf(_ pfn: Int, va: UInt64, entryAddress: UInt64, process: UInt32?) {
    if u8(pfn, PageFrameRecord.usage) == PageUsage.hole.rawValue {
      report(
        .mapsInvalidFrame, pfn: UInt64(pfn), va: va, process: process,
        "the PTE at \(hex(entryAddress)) maps VA \(hex(va)) to PFN \(hex(UInt64(pfn))), a hole (not RAM)")
      return
    }
    let location = u8(pfn, PageFrameRecord.location)
    if location != PageLocation.activeAndValid.rawValue {
      // Reported once, at the first PTE found.
      if flags[pfn] & FrameFlag.inactiveReported == 0 {
        flags[pfn] |= FrameFlag.inactiveReported
        report(
          .mapsInactiveFrame, pfn: UInt64(pfn), va: va, process: process,
          "the PTE at \(hex(entryAddress)) maps VA \(hex(va)) to PFN \(hex(UInt64(pfn))), whose location is "
            + locationName(location))
      }
      return
    }
    // A section page names its prototype PTE, not the hardware PTE: the section rules judge it.
    if u8(pfn, PageFrameRecord.flags) & PageFrameFlags.prototype.rawValue != 0 { return }
    let named = u64(pfn, PageFrameRecord.pteAddress)
    let expected = selfMap.pteAddress(mapping: va)
    if named != expected {
      report(
        .pteAddressMismatch, pfn: UInt64(pfn), va: va, process: process,
        "PFN \(hex(UInt64(pfn))) is mapped at VA \(hex(va)) by the PTE at \(hex(entryAddress)) "
          + "(self-map address \(hex(expected))) but its PTE address is \(hex(named))")
    }
    let frame = u32(pfn, PageFrameRecord.pteFrame)
    let table = entryAddress >> 12
    if UInt64(frame) != table {
      report(
        .pteFrameMismatch, pfn: UInt64(pfn), va: va, process: process,
        "PFN \(hex(UInt64(pfn))) is mapped at VA \(hex(va)) by a PTE in the page table at PFN \(hex(table)) "
          + "but its PTE frame is \(pfnName(frame))")
    }
  }

  // MARK: Available pages

  mutating func checkAvailable() {
    let zeroed = state.listHeads[Int(PageLocation.zeroed.rawValue)].total
    let free = state.listHeads[Int(PageLocation.free.rawValue)].total
    let standby = state.listHeads[Int(PageLocation.standby.rawValue)].total
    let (partial, overflow1) = zeroed.addingReportingOverflow(free)
    let (sum, overflow2) = partial.addingReportingOverflow(standby)
    if overflow1 || overflow2 || sum != state.availablePages {
      let total = overflow1 || overflow2 ? "more than 2^64" : "\(sum)"
      report(
        .availablePages,
        "zeroed \(zeroed) + free \(free) + standby \(standby) = \(total), but the guest counts "
          + "\(state.availablePages) available pages")
    }
  }
}
