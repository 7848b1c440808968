import GuestABI
import X86Paging

/// What `mmlab pfn` shows: the lists' totals and pages per class, or one
/// page's record with what maps it.
public struct PfnReport {
  public let state: MmState
  /// Disk 0's FAT volume, to name a section page's file by its path.
  public let volume: FatImage?

  public init(state: MmState, volume: FatImage? = nil) {
    self.state = state
    self.volume = volume
  }

  /// Each page's class for the memory map, from its record.
  public var pageClasses: [PhysicalMemoryMap.PageClass] {
    var classes: [PhysicalMemoryMap.PageClass] = []
    classes.reserveCapacity(Int(state.pfnCount))
    let records = state.pfnDatabase
    for pfn in 0..<Int(state.pfnCount) {
      let base = pfn * PageFrameRecord.size
      guard base + PageFrameRecord.size <= records.count else { break }
      classes.append(
        PhysicalMemoryMap.PageClass(
          location: records[base + PageFrameRecord.location], usage: records[base + PageFrameRecord.usage],
          flags: records[base + PageFrameRecord.flags]))
    }
    return classes
  }

  /// The linear address a self-map PTE address maps (the inverse of the PTE formula), for 4 KiB leaves.
  public func mappedAddress(ofPTE pteAddress: UInt64) -> UInt64? {
    guard state.selfMap.contains(pteAddress) else { return nil }
    let raw = ((pteAddress &- state.selfMap.base) >> 3) << 12
    return raw & (1 << 47) != 0 ? raw | 0xFFFF_0000_0000_0000 : raw
  }

  /// Totals per list and pages per class.
  public func summaryText() -> String {
    var lines = ["# PFN database: \(state.pfnCount) records at \(hex(state.pfnDatabaseAddress))"]
    let corrupt = corruptions
    let flagged = Set(corrupt.map(\.field))
    for head in state.listHeads {
      let mark = flagged.contains("lists.\(head.location).total") ? " (CORRUPT: more than the guest has)" : ""
      lines.append("\(pad(String(describing: head.location), 16)) \(head.total) pages" + mark)
    }
    var counts = [Int](repeating: 0, count: PhysicalMemoryMap.PageClass.allCases.count)
    for pageClass in pageClasses { counts[pageClass.rawValue] += 1 }
    lines.append("# by class")
    for pageClass in PhysicalMemoryMap.PageClass.allCases where counts[pageClass.rawValue] > 0 {
      lines.append("\(pad(pageClass.name, 28)) \(counts[pageClass.rawValue]) pages")
    }
    lines.append(
      "available (guest's count): \(state.availablePages) pages"
        + (flagged.contains("availablePages") ? " (CORRUPT: more than the guest has)" : ""))
    lines += processLines()
    lines += corrupt.map { "! \($0)" }
    return lines.joined(separator: "\n") + "\n"
  }

  public func summaryJSON() -> [String: Any] {
    var counts = [Int](repeating: 0, count: PhysicalMemoryMap.PageClass.allCases.count)
    for pageClass in pageClasses { counts[pageClass.rawValue] += 1 }
    var classes: [String: Int] = [:]
    for pageClass in PhysicalMemoryMap.PageClass.allCases where counts[pageClass.rawValue] > 0 {
      classes[pageClass.name] = counts[pageClass.rawValue]
    }
    var lists: [String: Any] = [:]
    for head in state.listHeads { lists[String(describing: head.location)] = head.total }
    return [
      "pfnCount": state.pfnCount, "pfnDatabase": hex(state.pfnDatabaseAddress), "lists": lists,
      "classes": classes, "availablePages": state.availablePages, "processes": processJSON(),
      "corrupt": corruptions.map(\.json),
    ]
  }

  /// One page: its record, the PTE that maps it and the process that owns it.
  public func detail(pfn: UInt64) -> (text: String, json: [String: Any])? {
    guard let frame = state.frame(pfn) else { return nil }
    let location = frame.location.map { String(describing: $0) } ?? "invalid (\(frame.rawLocation))"
    let usage = frame.usage.map { String(describing: $0) } ?? "invalid (\(frame.rawUsage))"
    var json: [String: Any] = [
      "pfn": pfn, "physicalAddress": hex(frame.physicalAddress), "location": location, "usage": usage,
      "shareCount": frame.shareCount, "referenceCount": frame.referenceCount, "flags": frame.rawFlags,
      "pteAddress": hex(frame.pteAddress), "originalPTE": hex(frame.originalPTE), "owner": frame.owner,
    ]
    var lines = [
      "PFN \(pfn) (\(hex(frame.physicalAddress))): \(location), usage \(usage)",
      "  share count \(frame.shareCount), reference count \(frame.referenceCount), flags \(hex(UInt64(frame.rawFlags)))",
      "  list links: next \(frame.nextPFN.map { String($0) } ?? "-"), previous \(frame.previousPFN.map { String($0) } ?? "-")",
    ]
    if frame.pteAddress != 0 {
      let kind = frame.flags.contains(.prototype) ? "prototype PTE" : "PTE"
      var line = "  mapped by the \(kind) at \(hex(frame.pteAddress))"
      if let table = frame.pteFramePFN {
        line += " in \(frame.flags.contains(.prototype) ? "segment page" : "page table") PFN \(table)"
        json["pteFrame"] = table
      }
      if let address = mappedAddress(ofPTE: frame.pteAddress) {
        line += ", mapping \(hex(address))"
        json["mappedAddress"] = hex(address)
      }
      lines.append(line)
    }
    if let owner = sectionOwner(frame) {
      lines.append("  owner: \(owner.text)")
      json["section"] = owner.json
    } else {
      lines.append(frame.owner == 0 ? "  owner: the kernel" : "  owner: process \(frame.owner)")
    }
    lines.append("  original PTE \(hex(frame.originalPTE)): \(frame.originalSoftwarePTE)")
    return (lines.joined(separator: "\n") + "\n", json)
  }

  /// A section page's owner: "section 0 + offset 0x3000 (/DATA.BIN)", from the prototype
  /// PTE its record names; nil for a page without the prototype flag, or naming no section page.
  func sectionOwner(_ frame: PageFrame) -> (text: String, json: [String: Any])? {
    guard frame.flags.contains(.prototype), let (area, page) = state.sectionPage(ofPrototypeAt: frame.pteAddress)
    else { return nil }
    var json: [String: Any] = ["slot": area.slot, "offset": hex(page << 12), "kind": area.kindName]
    var text = "section \(area.slot) + offset \(hex(page << 12))"
    if area.isFile {
      json["fileFirstCluster"] = Int(area.fileFirstCluster)
      if let path = volume?.path(ofFirstCluster: area.fileFirstCluster) {
        json["file"] = path
        text += " (\(path))"
      } else {
        text += " (file at cluster \(area.fileFirstCluster))"
      }
    } else {
      text += " (page-file-backed)"
    }
    return (text, json)
  }
}
