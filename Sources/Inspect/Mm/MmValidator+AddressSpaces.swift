import GuestABI
import Machine
import X86Paging

// The debug windows and the walk of every address space's page tables.
extension ValidationRun {
  // MARK: Windows

  mutating func checkWindows() {
    for (index, window) in state.windows.enumerated() {
      var problem: String?
      if window.kind == nil {
        problem = "unknown kind \(window.rawKind)"
      } else if window.length == 0 {
        problem = "it is empty"
      } else if window.length - 1 > UInt64.max - window.start {
        problem = "it runs past the end of the address space"
      } else if !isCanonical(window.start) || !isCanonical(window.start + (window.length - 1))
        || (window.start ^ (window.start + (window.length - 1))) >> 63 != 0
      {
        problem = "it is not a canonical range of one half"
      }
      if let problem {
        report(
          .debugWindow, va: window.start,
          "debug window \(index) (\(window)): \(problem); its mappings are checked as accounted ones")
      } else {
        windowStarts.append(window.start)
        windowLengths.append(window.length)
      }
    }
  }

  @inline(__always) func isExempt(_ va: UInt64) -> Bool {
    if selfMap.contains(va) { return true }
    for index in windowStarts.indices where va &- windowStarts[index] < windowLengths[index] { return true }
    return false
  }

  // MARK: Address spaces

  mutating func checkAddressSpaces() {
    var context = PagingContext(mode: .fourLevel, cr3: 0, maxPhysicalAddressBits: maxPhysicalAddressBits)
    context.efer.insert(.noExecuteEnable)
    let formats = TableFormats(context: context)
    var seen: [UInt64: UInt32?] = [:]
    var roots: [(root: UInt64, process: UInt32?)] = [(state.kernelRoot, nil)]
    roots += state.processes.map { ($0.root, $0.id) }
    for (root, process) in roots {
      let owner = process.map { "process \($0)'s" } ?? "the kernel's"
      if let other = seen[root] {
        let first = other.map { "process \($0)'s" } ?? "the kernel's"
        report(
          .pageTableStructure, pfn: root >> 12, process: process, "\(owner) PML4 \(hex(root)) is also \(first)")
        continue
      }
      seen[root] = process
      guard root & 0xFFF == 0 else {
        report(
          .pageTableStructure, pfn: root >> 12, process: process, "\(owner) PML4 \(hex(root)) is not page-aligned")
        continue
      }
      guard memory.tablePage(root) != nil else {
        report(
          .pageTableStructure, pfn: root >> 12, process: process, "\(owner) PML4 \(hex(root)) is not in guest RAM")
        continue
      }
      rootsWalked += 1
      scanTable(
        root, level: .pml4, va: 0, process: process, referencedBy: selfMap.selfEntryAddress, in: root >> 12,
        formats: formats)
      if process == nil { kernelSlots = (0..<512).map { memory.load64(root + UInt64($0) * 8) ?? 0 } }
      spaces.append((root, process, leafBudget, tableBudget))
      walkLeaves(spaces[spaces.count - 1], pass: .count, context: context, formats: formats)
    }
  }

  /// The PML4 as the enumeration sees it: without its self-map slot (exempt, and a tour
  /// of every table again) and, for a process, without the slots it shares with the
  /// kernel's PML4 (their leaves were enumerated from the kernel's and count once).
  func overlay(root: UInt64, process: UInt32?) -> RootOverlay {
    let overlay = RootOverlay(memory: memory, root: root)
    overlay.clear(slot: Int(selfMap.slot))
    if process != nil, let kernel = kernelSlots {
      for slot in 0..<512 where kernel[slot] & 1 != 0 && overlay.entry(slot) == kernel[slot] {
        overlay.clear(slot: slot)
      }
    }
    return overlay
  }

  /// Marks the paging structures reachable from `table` (of `level`) and checks their
  /// structure; each table is scanned once, whichever PML4 reaches it first. Page tables
  /// are marked, not scanned: their leaves come from the enumeration.
  /// `entryAddress` is the self-map address of the entry referencing the table, in the
  /// table at PFN `parent`: what the table's record must name.
  mutating func scanTable(
    _ table: UInt64, level: PagingLevel, va: UInt64, process: UInt32?, referencedBy entryAddress: UInt64,
    in parent: UInt64, formats: TableFormats
  ) {
    let pfnValue = table >> 12
    var place: String { "the \(level) at \(hex(table)) (VA \(hex(va)))" }
    guard pfnValue < UInt64(pfnCount) else {
      report(
        .pageTableStructure, pfn: pfnValue, va: va, process: process,
        "\(place) is beyond the PFN database (\(pfnCount) pages)")
      return
    }
    let pfn = Int(pfnValue)
    let existing = tableLevel[pfn]
    if existing == UInt8(level.rawValue) { return }
    if existing != 0 {
      let other = PagingLevel(rawValue: Int(existing)).map { "\($0)" } ?? "?"
      report(.pageTableStructure, pfn: pfnValue, va: va, process: process, "\(place) is also used as a \(other)")
      return
    }
    guard let page = memory.tablePage(table), let bytes = page.baseAddress else {
      report(.pageTableStructure, pfn: pfnValue, va: va, process: process, "\(place) is not in guest RAM")
      return
    }
    tableLevel[pfn] = UInt8(level.rawValue)
    tableVA[pfn] = va
    tablesFound += 1
    // A page whose usage is wrong is reported once, by the frame pass.
    if u8(pfn, PageFrameRecord.usage) == PageUsage.pageTable.rawValue {
      let named = u64(pfn, PageFrameRecord.pteAddress)
      let frame = u32(pfn, PageFrameRecord.pteFrame)
      if named != entryAddress || UInt64(frame) != parent {
        report(
          .pageTableLinkage, pfn: pfnValue, va: va, process: process,
          "\(place) is referenced by the entry at self-map address \(hex(entryAddress)) in PFN \(hex(parent)) "
            + "but its PTE address is \(hex(named)) and its PTE frame \(pfnName(frame))")
      }
    }
    guard let lower = level.lower else { return }
    let format = formats[level]
    let shift = UInt64(format.indexShift)
    for index in 0..<512 {
      let raw = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self))
      guard raw & 1 != 0 else { continue }
      if level == .pml4 && UInt64(index) == selfMap.slot {
        if format.tableAddress(raw) != table {
          report(
            .selfMapEntry, pfn: pfnValue, va: selfMap.base, process: process,
            "the PML4 at \(hex(table)) has self-map slot \(hex(selfMap.slot)) pointing at "
              + "\(hex(format.tableAddress(raw))), not at itself")
        }
        continue
      }
      if format.isPage(raw) { continue }
      let childVA = canonical(va | UInt64(index) << shift)
      scanTable(
        format.tableAddress(raw), level: lower, va: childVA, process: process,
        referencedBy: selfMap.entryAddress(mapping: childVA, level: level.rawValue), in: pfnValue, formats: formats)
    }
  }

  /// Enumerates the leaves of one address space. Counting: checks what a leaf alone
  /// shows and counts each accounted one against the page it maps. Detail: checks the
  /// accounted leaves of the pages the frame pass marked, one by one.
  mutating func walkLeaves(
    _ space: (root: UInt64, process: UInt32?, leafLimit: Int, tableLimit: Int), pass: LeafPass,
    context: PagingContext, formats: TableFormats
  ) {
    let (root, process) = (space.root, space.process)
    var context = context
    context.cr3 = root
    runTable = .max
    let memory = overlay(root: root, process: process)
    defer { memory.deallocate() }
    let summary = forEachLeaf(context: context, memory: memory, limit: space.leafLimit, tableLimit: space.tableLimit) {
      leaf in
      switch pass {
      case .count: visitLeaf(leaf, process: process, formats: formats)
      case .detail: visitLeafInDetail(leaf, process: process)
      }
    }
    guard pass == .count else { return }
    leafBudget -= summary.leafCount
    tableBudget -= summary.tableCount
    for problem in summary.problems {
      // Tables outside memory and tables on their own path are found by `scanTable`;
      // what the enumeration adds is reserved bits in table entries.
      guard case .reservedBits(let level, let entryAddress, let bits, let va) = problem, !selfMap.contains(va),
        reportedEntries.insert(entryAddress).inserted
      else { continue }
      report(
        .pageTableStructure, va: va, process: process,
        "the \(level.entryName) at \(hex(entryAddress)) has reserved bits \(hex(bits)) set")
    }
    if let truncation = summary.truncation {
      let what = truncation == .leafLimit ? "leaves" : "tables"
      report(
        .pageTableStructure, pfn: root >> 12, process: process,
        "the walk of the PML4 at \(hex(root)) stopped at the validator's budget of \(what); "
          + "later mappings were not checked")
    }
  }

  @inline(__always) mutating func visitLeaf(_ leaf: Leaf, process: UInt32?, formats: TableFormats) {
    let va = leaf.virtualAddress
    if isExempt(va) { return }
    let entryAddress = leaf.entryAddress
    if leaf.reservedBits != 0 {
      let own = formats[leaf.level].reservedBits(leaf.entry.rawValue)
      if own != 0, reportedEntries.insert(entryAddress).inserted {
        report(
          .pageTableStructure, va: va, process: process,
          "the \(leaf.level.entryName) at \(hex(entryAddress)) mapping VA \(hex(va)) has reserved bits "
            + "\(hex(own)) set")
      }
    }
    if leaf.pageSize != .size4KiB {
      if reportedEntries.insert(entryAddress).inserted {
        report(
          .largePageOutsideWindow, pfn: leaf.physicalAddress >> 12, va: va, process: process,
          "the \(leaf.level.entryName) at \(hex(entryAddress)) maps a \(leaf.pageSize) page at VA \(hex(va)) "
            + "outside every debug window")
      }
      return
    }

    guard isFirstSight(of: entryAddress, mark: FrameFlag.leavesCounted) else { return }
    accountedLeaves += 1

    let pfnValue = leaf.physicalAddress >> 12
    guard pfnValue < UInt64(pfnCount) else {
      report(
        .mapsInvalidFrame, pfn: pfnValue, va: va, process: process,
        "the PTE at \(hex(entryAddress)) maps VA \(hex(va)) to PFN \(hex(pfnValue)), beyond the PFN database "
          + "(\(pfnCount) pages)")
      return
    }
    mapped[Int(pfnValue)] &+= 1
    // Dirty (D = 1): the page differs from its backing store whatever its record says.
    if leaf.entry.rawValue & 0x40 != 0 { flags[Int(pfnValue)] |= FrameFlag.mappedDirty }
  }

  /// Each physical PTE counts once: a page table's leaves arrive as one run of rising
  /// entry addresses; a run of a table already seen (a table referenced twice) is skipped.
  @inline(__always) mutating func isFirstSight(of entryAddress: UInt64, mark: UInt8) -> Bool {
    let table = entryAddress >> 12
    if table != runTable || entryAddress <= runLastEntry {
      runTable = table
      if table < UInt64(pfnCount) {
        runCounts = flags[Int(table)] & mark == 0
        flags[Int(table)] |= mark
      } else {
        runCounts = true  // reported by scanTable as beyond the database
      }
    }
    runLastEntry = entryAddress
    return runCounts
  }

  /// The second enumeration's view of a leaf: only accounted leaves of marked pages.
  mutating func visitLeafInDetail(_ leaf: Leaf, process: UInt32?) {
    guard !isExempt(leaf.virtualAddress), leaf.pageSize == .size4KiB,
      isFirstSight(of: leaf.entryAddress, mark: FrameFlag.leavesSeenAgain)
    else { return }
    let pfnValue = leaf.physicalAddress >> 12
    guard pfnValue < UInt64(pfnCount), flags[Int(pfnValue)] & FrameFlag.needsDetail != 0 else { return }
    checkLeaf(Int(pfnValue), va: leaf.virtualAddress, entryAddress: leaf.entryAddress, process: process)
  }
}
