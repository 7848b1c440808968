import GuestABI
import Machine
import X86Paging

// The section rules' second half: each view's PTEs against the prototype PTEs, the
// control areas' counts, and clean file pages against the FAT volume.
extension ValidationRun {
  // MARK: Views

  mutating func checkView(_ view: MmView, scans: inout [SectionScan], byAddress: [UInt64: Int]) {
    let start = view.vad.start
    let owner =
      view.isCacheView ? "Cc's system view" : view.isSystem ? "the system-space view" : "process \(view.process)'s view"
    let process: UInt32? = view.isSystem ? nil : view.process
    var place: String { "\(owner) \(hex(start))-\(hex(view.vad.end))" }
    guard let index = byAddress[view.controlArea] else {
      report(
        .viewSection, va: start, process: process,
        "\(place) names control area \(hex(view.controlArea)), which is no in-use control area")
      return
    }
    if view.isCacheView {
      scans[index].systemViews += 1
    } else if view.isSystem {
      scans[index].systemSpaceViews += 1
    } else {
      scans[index].views += 1
    }
    let area = scans[index].area
    guard let segment = scans[index].segment else {
      if !scans[index].unreadable {
        report(
          .viewSection, va: start, process: process,
          "\(place) maps control area \(area.slot), whose segment is deleted")
      }
      return
    }
    let offset = view.vad.sectionOffsetPages
    // Cc's last view of a file reaches past its end: only the section's pages are judged.
    var pages =
      view.isCacheView && offset < segment.pages ? min(view.pageCount, segment.pages - offset) : view.pageCount
    if pages == 0 || offset >= segment.pages || pages > segment.pages - offset {
      report(
        .viewSection, va: start, process: process,
        "\(place) (\(pages) pages from section page \(offset)) does not lie inside control area \(area.slot)'s "
          + "\(segment.pages) pages")
      pages = offset >= segment.pages ? 0 : min(pages, segment.pages - offset)
    }
    var reader = LeafPTEReader(memory: memory, root: view.root)
    for index2 in 0..<pages {
      let va = start + index2 << 12
      let page = offset + index2
      guard !scans[index].broken.contains(page), let (pte, _) = reader.entry(va) else { continue }
      if let problem = viewProblem(pte: pte, page: page, segment: segment, view: view) {
        report(
          .prototypeMismatch, pfn: pte & 1 != 0 ? (pte & pageFrameMask) >> 12 : nil, va: va, process: process,
          "\(place) page \(hex(va)) (control area \(area.slot)'s section page \(page)): \(problem)")
      }
    }
  }

  /// What is wrong with view PTE `pte` of section page `page`, or nil.
  func viewProblem(pte: UInt64, page: UInt64, segment: MmSegment, view: MmView) -> String? {
    let prototype = state.prototypePTE(segment, page)
    let prototypeVA = segment.prototypeVirtualAddress(page)
    switch SoftwarePTE(raw: pte) {
    case .valid:
      let pfn = (pte & pageFrameMask) >> 12
      if prototype & 1 != 0, (prototype & pageFrameMask) >> 12 == pfn { return nil }
      let isPrototypePage =
        pfn < UInt64(pfnCount) && u8(Int(pfn), PageFrameRecord.flags) & PageFrameFlags.prototype.rawValue != 0
      if view.isWriteCopy && !isPrototypePage { return nil }  // a private copy (judged as private pages are)
      let names =
        prototype & 1 != 0
        ? "names PFN \(hex((prototype & pageFrameMask) >> 12))"
        : "is \(SoftwarePTE(raw: prototype)) (\(hex(prototype)))"
      let what = isPrototypePage ? "" : view.isWriteCopy ? "" : ", a page without the prototype flag in a shared view"
      return "the PTE maps PFN \(hex(pfn))\(what), but the prototype PTE at \(hex(prototypeVA)) \(names)"
    case .prototype(let address, _, let viaVAD):
      if viaVAD || address == prototypeVA { return nil }
      return "the PTE \(hex(pte)) names the prototype PTE at \(hex(address)), not \(hex(prototypeVA))"
    case .zero: return nil
    case .transition, .pageFile, .demandZero:
      if view.isWriteCopy { return nil }  // a private copy out of the working set
      return "the PTE \(hex(pte)) is \(SoftwarePTE(raw: pte)): a shared view's PTE is valid, prototype or 0"
    }
  }

  // MARK: Counts

  func checkCounts(_ scan: SectionScan, viewsKnown: Bool) {
    let area = scan.area
    var problems: [String] = []
    if scan.segment != nil {
      let resident = scan.validPTEs + scan.transitionPTEs
      if UInt64(area.pfnReferences) != resident {
        problems.append(
          "pfnReferences \(area.pfnReferences) but \(resident) prototype PTEs are valid or transition "
            + "(\(scan.validPTEs) valid, \(scan.transitionPTEs) transition)")
      }
    } else if area.segmentDirectory == 0 {
      if area.pfnReferences != 0 { problems.append("pfnReferences \(area.pfnReferences) with its segment deleted") }
      if area.mappedViews != 0 { problems.append("mappedViews \(area.mappedViews) with its segment deleted") }
      if !area.flags.contains(.beingDeleted) { problems.append("its segment deleted but it is not being deleted") }
    }
    if viewsKnown {
      let mapped = scan.views + scan.systemViews + scan.systemSpaceViews
      if UInt64(area.mappedViews) != mapped {
        problems.append(
          "mappedViews \(area.mappedViews) but \(scan.views) views in processes, \(scan.systemViews) of Cc's and "
            + "\(scan.systemSpaceViews) other system-space views name it")
      }
      let users = UInt64(area.sections) + scan.views + scan.systemSpaceViews
      if UInt64(area.userReferences) != users {
        problems.append(
          "userReferences \(area.userReferences) but \(area.sections) sections + \(scan.views) process views + "
            + "\(scan.systemSpaceViews) system-space views = \(users)")
      }
    }
    let unused = area.sections == 0 && area.mappedViews == 0
    if area.flags.contains(.beingDeleted) != unused {
      problems.append(
        unused
          ? "no section or view is left but it is not being deleted"
          : "being deleted with \(area.sections) sections and \(area.mappedViews) views left")
    }
    guard !problems.isEmpty else { return }
    report(
      .controlAreaCounts,
      "control area \(area.slot) at \(hex(area.address)) (\(area.flagNames)): " + problems.joined(separator: "; "))
  }

  // MARK: Clean file pages

  /// Each clean page against the file's bytes the volume's chain covers; past the file's
  /// size the page must be zero.
  func checkCleanPages(_ scan: SectionScan, volume: FatImage) {
    let area = scan.area
    let extent = volume.extent(firstCluster: area.fileFirstCluster, size: area.fileSize)
    for (pfn, page) in scan.cleanPages {
      guard let content = memory.bytes(at: UInt64(pfn) << 12, count: 4096) else { continue }
      let fileOffset = page * 4096
      guard let file = volume.read(extent, offset: fileOffset, count: 4096) else { continue }
      for offset in 0..<4096 {
        let position = fileOffset + UInt64(offset)
        let expected: UInt8
        if position >= area.fileSize {
          expected = 0
        } else if offset < file.count {
          expected = file[offset]
        } else {
          continue  // the volume's chain does not reach here yet
        }
        let found = content[offset]
        guard found != expected else { continue }
        let source =
          position >= area.fileSize
          ? "zero past the file's \(area.fileSize) bytes" : "\(hex(UInt64(expected))) in the file"
        report(
          .cleanFilePage, pfn: UInt64(pfn),
          "control area \(area.slot)'s section page \(page) (file cluster \(area.fileFirstCluster), offset "
            + "\(hex(position))) is clean in PFN \(hex(UInt64(pfn))) but its byte \(hex(UInt64(offset))) is "
            + "\(hex(UInt64(found))), \(source)")
        break
      }
    }
  }
}
