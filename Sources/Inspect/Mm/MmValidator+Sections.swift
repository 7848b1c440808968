import GuestABI
import Machine
import X86Paging

/// One control area as the section rules see it: its segment when readable, what its
/// prototype PTEs hold, and the section pages whose prototype PTE was already reported
/// (views of those pages are not judged again: they would only repeat the finding).
struct SectionScan {
  let area: MmControlArea
  var segment: MmSegment?
  /// The segment could not be read (reported); nothing is judged through it.
  var unreadable = false
  var validPTEs: UInt64 = 0
  var transitionPTEs: UInt64 = 0
  var broken = Set<UInt64>()
  /// Process views found naming the control area.
  var views: UInt64 = 0
  /// Cc's views naming it.
  var systemViews: UInt64 = 0
  /// Views MmMapViewInSystemSpace mapped (user references, unlike Cc's).
  var systemSpaceViews: UInt64 = 0
  /// Clean file pages to compare with the volume: (PFN, section page).
  var cleanPages: [(pfn: Int, page: UInt64)] = []
}

/// Per-PFN marks of the section pass.
enum SectionMark {
  /// Named by a prototype PTE.
  static let named: UInt8 = 1 << 0
  /// Named by a prototype PTE and its record agrees.
  static let agrees: UInt8 = 1 << 1
}

// The section rules: control areas and their segments, prototype PTEs and the pages
// they name, views, the control areas' counts, and clean file pages against the volume.
// Bounded by what the guest can hold: at most `MmState.maxControlAreas` areas of at
// most `SegmentLayout.maximumPages` pages, views clipped to their section.
extension ValidationRun {
  mutating func checkSections() {
    var scans = state.controlAreas.map { SectionScan(area: $0) }
    let (views, unreadable) = state.views()
    if !scans.isEmpty {
      for table in unreadable {
        report(
          .viewSection, process: table.process,
          "process \(table.process)'s views cannot be found: \(table.problem); its views and the counts are not checked"
        )
      }
    }
    var marks = [UInt8](repeating: 0, count: pfnCount)
    for index in scans.indices { checkStructure(&scans[index]) }
    checkSegmentPages(scans)
    // Prototype-PTE pages by physical page: which area and first section page each holds.
    var prototypePages: [UInt64: (area: Int, first: UInt64)] = [:]
    for (index, scan) in scans.enumerated() {
      guard let segment = scan.segment else { continue }
      for (slot, page) in segment.prototypePages.enumerated() {
        prototypePages[page] = (index, UInt64(slot) * SegmentLayout.ptesPerPage)
      }
    }
    for index in scans.indices { checkPrototypePTEs(&scans[index], marks: &marks) }
    checkStrayPrototypePages(scans, prototypePages: prototypePages, marks: marks)
    var byAddress: [UInt64: Int] = [:]
    for (index, scan) in scans.enumerated() { byAddress[scan.area.address] = index }
    for view in views + state.systemViews() { checkView(view, scans: &scans, byAddress: byAddress) }
    for scan in scans { checkCounts(scan, viewsKnown: unreadable.isEmpty) }
    if let volume {
      for scan in scans where scan.area.isFile && !scan.cleanPages.isEmpty { checkCleanPages(scan, volume: volume) }
    }
  }

  // MARK: Control areas

  mutating func checkStructure(_ scan: inout SectionScan) {
    let area = scan.area
    let known: ControlAreaFlags = [.inUse, .file, .beingDeleted, .reserve]
    var problems: [String] = []
    if !area.flags.contains(.inUse) { problems.append("flags \(hex(UInt64(area.rawFlags))) without in-use") }
    if area.rawFlags & ~known.rawValue != 0 {
      problems.append("unknown flags \(hex(UInt64(area.rawFlags & ~known.rawValue)))")
    }
    if area.reserved != 0 { problems.append("reserved fields \(hex(area.reserved)) not zero") }
    let needed = area.sizeBytes / 4096 + (area.sizeBytes % 4096 == 0 ? 0 : 1)
    if area.segmentPages != needed {
      problems.append("\(area.segmentPages) segment pages for \(area.sizeBytes) bytes (\(needed) pages)")
    }
    if area.isFile {
      if area.fileFirstCluster < 2 { problems.append("a file whose first cluster is \(area.fileFirstCluster)") }
      if area.flags.contains(.reserve) { problems.append("SEC_RESERVE on a file-backed section") }
    } else if area.fileFirstCluster != 0 || area.fileSize != 0 {
      problems.append(
        "page-file-backed but names a file (cluster \(area.fileFirstCluster), \(area.fileSize) bytes)")
    }
    switch state.segment(of: area) {
    case nil: break
    case .failure(let problem)?:
      scan.unreadable = true
      problems.append(problem.description)
    case .success(let segment)?:
      scan.segment = segment
      if let directory = memory.bytes(at: segment.directory, count: 4096) {
        let used = segment.prototypePages.count
        if let extra = (used..<Int(SegmentLayout.directoryEntries)).first(where: {
          directory.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self) != 0
        }) {
          problems.append("segment directory entry \(extra) is not 0 (only \(used) are used)")
        }
      }
    }
    guard !problems.isEmpty else { return }
    report(
      .controlAreaStructure, pfn: area.segmentDirectory == 0 ? nil : area.segmentDirectory >> 12,
      "control area \(area.slot) at \(hex(area.address)) (\(area.flagNames)): " + problems.joined(separator: "; "))
  }

  /// Segment pages: each named by one control area, each with the record a segment page has.
  func checkSegmentPages(_ scans: [SectionScan]) {
    var owners: [UInt64: Int] = [:]
    for scan in scans {
      guard let segment = scan.segment else { continue }
      for address in segment.ownPages {
        let pfn = address >> 12
        if let other = owners[pfn] {
          report(
            .segmentPage, pfn: pfn,
            "PFN \(hex(pfn)) is a segment page of control area \(other) and of control area \(scan.area.slot)")
          continue
        }
        owners[pfn] = scan.area.slot
        guard pfn < UInt64(pfnCount) else {
          report(
            .segmentPage, pfn: pfn,
            "control area \(scan.area.slot)'s segment page PFN \(hex(pfn)) is beyond the PFN database")
          continue
        }
        let index = Int(pfn)
        var problems: [String] = []
        let usage = u8(index, PageFrameRecord.usage)
        let location = u8(index, PageFrameRecord.location)
        if usage != PageUsage.segment.rawValue { problems.append(usageName(usage)) }
        if location != PageLocation.activeAndValid.rawValue { problems.append("location \(locationName(location))") }
        let share = u32(index, PageFrameRecord.shareCount)
        let references = UInt16(truncatingIfNeeded: u32(index, PageFrameRecord.referenceCount))
        if share != 0 || references != 0 { problems.append("share count \(share), reference count \(references)") }
        let owner = UInt16(truncatingIfNeeded: u32(index, PageFrameRecord.owner))
        if owner != 0 { problems.append("owner \(owner)") }
        if !problems.isEmpty {
          report(
            .segmentPage, pfn: pfn,
            "PFN \(hex(pfn)) holds control area \(scan.area.slot)'s segment but has " + problems.joined(separator: ", ")
          )
        }
      }
    }
    let segment = PageUsage.segment.rawValue
    for pfn in 0..<pfnCount where u8(pfn, PageFrameRecord.usage) == segment && owners[UInt64(pfn)] == nil {
      report(
        .segmentPage, pfn: UInt64(pfn),
        "PFN \(hex(UInt64(pfn))) has usage segment but no in-use control area's segment names it")
    }
  }

  // MARK: Prototype PTEs and their pages

  mutating func checkPrototypePTEs(_ scan: inout SectionScan, marks: inout [UInt8]) {
    guard let segment = scan.segment else { return }
    let area = scan.area
    for page in 0..<segment.pages {
      let raw = state.prototypePTE(segment, page)
      let place =
        "control area \(area.slot)'s section page \(page) (prototype PTE at \(hex(segment.prototypeVirtualAddress(page))))"
      let software = SoftwarePTE(raw: raw)
      var format: String?
      switch software {
      case .valid:
        scan.validPTEs += 1
        checkResident(&scan, segment: segment, page: page, pfn: (raw & pageFrameMask) >> 12, valid: true, marks: &marks)
      case .transition(let pfn, _):
        scan.transitionPTEs += 1
        checkResident(&scan, segment: segment, page: page, pfn: pfn, valid: false, marks: &marks)
      case .prototype(let address, _, let viaVAD):
        if !area.isFile {
          format = "a subsection PTE, but the section is page-file-backed"
        } else if viaVAD || address != area.virtualAddress {
          format =
            "a subsection PTE naming \(viaVAD ? "the VAD" : hex(address)), not its control area at \(hex(area.virtualAddress))"
        }
      case .demandZero, .pageFile:
        if area.isFile { format = "\(software), but the section is file-backed (its pages come from the file)" }
      case .zero:
        if area.isFile || !area.flags.contains(.reserve) {
          format = "0 (not committed), but only a SEC_RESERVE page-file section has uncommitted pages"
        }
      }
      if let format {
        scan.broken.insert(page)
        report(.prototypePTE, va: segment.prototypeVirtualAddress(page), "\(place) is \(hex(raw)): \(format)")
      }
    }
  }

  /// A page a valid (or transition) prototype PTE names: its record must point back.
  mutating func checkResident(
    _ scan: inout SectionScan, segment: MmSegment, page: UInt64, pfn: UInt64, valid: Bool, marks: inout [UInt8]
  ) {
    let area = scan.area
    let prototypeVA = segment.prototypeVirtualAddress(page)
    let kind = valid ? "valid" : "transition"
    let place = "control area \(area.slot)'s section page \(page): its \(kind) prototype PTE at \(hex(prototypeVA))"
    guard pfn < UInt64(pfnCount), u8(Int(pfn), PageFrameRecord.usage) != PageUsage.hole.rawValue else {
      scan.broken.insert(page)
      report(.prototypePTE, pfn: pfn, va: prototypeVA, "\(place) names PFN \(hex(pfn)), which is no RAM page")
      return
    }
    let index = Int(pfn)
    marks[index] |= SectionMark.named
    let flagsByte = u8(index, PageFrameRecord.flags)
    let location = u8(index, PageFrameRecord.location)
    let share = u32(index, PageFrameRecord.shareCount)
    let references = UInt16(truncatingIfNeeded: u32(index, PageFrameRecord.referenceCount))
    var problems: [String] = []
    if flagsByte & PageFrameFlags.prototype.rawValue == 0 { problems.append("no prototype flag") }
    let usage = u8(index, PageFrameRecord.usage)
    if usage != PageUsage.general.rawValue { problems.append(usageName(usage)) }
    let owner = UInt16(truncatingIfNeeded: u32(index, PageFrameRecord.owner))
    if owner != 0 { problems.append("owner \(owner)") }
    let named = u64(index, PageFrameRecord.pteAddress)
    if named != prototypeVA { problems.append("PTE address \(hex(named))") }
    let frame = u32(index, PageFrameRecord.pteFrame)
    let prototypePage = segment.prototypeAddress(page) >> 12
    if UInt64(frame) != prototypePage { problems.append("PTE frame \(pfnName(frame)), not \(hex(prototypePage))") }
    if valid {
      if location != PageLocation.activeAndValid.rawValue { problems.append("location \(locationName(location))") }
    } else {
      if location != PageLocation.standby.rawValue && location != PageLocation.modified.rawValue {
        problems.append("location \(locationName(location)) (a transition page is on standby or modified)")
      }
      if share != 0 || references != 0 { problems.append("share count \(share), reference count \(references)") }
    }
    let original = SoftwarePTE(raw: u64(index, PageFrameRecord.originalPTE))
    if area.isFile {
      if original != .prototype(address: area.virtualAddress, protection: originalProtection(original), viaVAD: false) {
        problems.append("original PTE \(original), not a subsection PTE naming \(hex(area.virtualAddress))")
      }
    } else {
      switch original {
      case .demandZero, .pageFile: break
      default: problems.append("original PTE \(original), not demand zero or page file")
      }
      if flagsByte & PageFrameFlags.modified.rawValue == 0 {
        problems.append("not modified (a page-file-backed page has no other copy)")
      }
    }
    guard problems.isEmpty else {
      scan.broken.insert(page)
      report(
        .prototypeBackPointer, pfn: pfn, va: prototypeVA,
        "\(place) names PFN \(hex(pfn)), whose record has " + problems.joined(separator: ", "))
      return
    }
    marks[index] |= SectionMark.agrees
    if valid && mapped[index] == 0 {
      scan.broken.insert(page)
      report(
        .prototypePTE, pfn: pfn, va: prototypeVA,
        "\(place) maps PFN \(hex(pfn)), but no valid PTE maps the page (it would be in transition)")
    }
    let busy =
      PageFrameFlags.modified.rawValue | PageFrameFlags.readInProgress.rawValue
      | PageFrameFlags.writeInProgress.rawValue
    if area.isFile && flagsByte & busy == 0 && flags[index] & FrameFlag.mappedDirty == 0 {
      scan.cleanPages.append((index, page))
    }
  }

  func originalProtection(_ pte: SoftwarePTE) -> UInt8 {
    if case .prototype(_, let protection, _) = pte { return protection }
    return 0
  }

  /// Pages in memory with the prototype flag that no prototype PTE names (the other side
  /// of `checkResident`), unless the prototype PTE their record names was already reported.
  func checkStrayPrototypePages(
    _ scans: [SectionScan], prototypePages: [UInt64: (area: Int, first: UInt64)], marks: [UInt8]
  ) {
    let inMemory: [UInt8] = [
      PageLocation.activeAndValid.rawValue, PageLocation.standby.rawValue, PageLocation.modified.rawValue,
      PageLocation.modifiedNoWrite.rawValue, PageLocation.transition.rawValue,
    ]
    let prototype = PageFrameFlags.prototype.rawValue
    // With a segment that cannot be read, a page naming no known prototype PTE may be its (already reported).
    let someUnreadable = scans.contains { $0.unreadable }
    for pfn in 0..<pfnCount where u8(pfn, PageFrameRecord.flags) & prototype != 0 && marks[pfn] == 0 {
      let location = u8(pfn, PageFrameRecord.location)
      guard inMemory.contains(location), u8(pfn, PageFrameRecord.usage) != PageUsage.hole.rawValue else { continue }
      let named = u64(pfn, PageFrameRecord.pteAddress)
      let physical = named &- KernelLayout.directMapBase
      var what = "names no prototype PTE"
      if let (area, first) = prototypePages[physical & ~0xFFF], named & 7 == 0 {
        let page = first + (physical & 0xFFF) / 8
        if scans[area].broken.contains(page) { continue }
        if page < scans[area].segment?.pages ?? 0 {
          let raw = state.prototypePTE(scans[area].segment!, page)
          what =
            "names control area \(scans[area].area.slot)'s section page \(page), whose prototype PTE is \(hex(raw))"
        } else {
          what = "points past control area \(scans[area].area.slot)'s last section page"
        }
      } else if someUnreadable {
        continue
      }
      report(
        .prototypeBackPointer, pfn: UInt64(pfn), va: named,
        "PFN \(hex(UInt64(pfn))) (\(locationName(location))) has the prototype flag, but its PTE address "
          + "\(hex(named)) \(what)")
    }
  }
}
