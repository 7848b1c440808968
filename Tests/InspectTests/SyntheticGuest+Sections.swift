import GuestABI
import Inspect
import Machine
import X86Paging

/// What `Options.sections` adds to the synthetic guest, consistent with every section rule:
///
/// - control area 0: a data section of `/DATA.BIN` (`fileSize` bytes, 4 pages, first cluster
///   `TinyFatVolume.fileFirstCluster`): pages 0 and 1 valid (mapped), page 2 only in the file
///   (a subsection PTE), page 3 in transition on the standby list (its tail past the file's
///   end zero). Process 1 maps a view of all 4 pages at `fileViewBase` (pages 0, 1 valid,
///   2 and 3 prototype-format PTEs); process 2 maps page 0 at `fileViewBase`. Share counts:
///   page 0 has 2, page 1 has 1. Clean: no PTE has D = 1, no page is modified.
/// - slot 1 is free; control area 2: a page-file-backed section of 2 pages: page 0 valid
///   (modified, mapped writable and dirty by process 1 at `pageFileViewBase`), page 1 demand zero.
/// - Cc's view slot 0 maps the file section from offset 0 at `SystemCacheLayout.base`: its
///   page 1 valid by a kernel PTE (page 1's share count 2), the rest unmapped; the file's
///   control area counts 3 views (2 in processes, Cc's) and 3 user references (Cc takes none).
/// - a system-space view (MmMapViewInSystemSpace, record slot 1) maps the file section's 4
///   pages at `systemViewVA`: page 0 valid by a kernel PTE (page 0's share count 3), the
///   rest 0; it is one more view and, unlike Cc's, one more user reference (4 and 4).
/// - each process has a real VAD table (its user pages private, then its views).
struct SectionModel {
  static let fileSize = 3 * 4096 + 2000
  static let fileViewBase: UInt64 = 0x5000_0000
  static let pageFileViewBase: UInt64 = 0x6000_0000
  static let fileSlot = 0
  static let pageFileSlot = 2

  /// The file's bytes, as `TinyFatVolume` stores them.
  static let fileContent: [UInt8] = (0..<fileSize).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ ($0 >> 9) &+ 1) }

  /// Physical address of the control-area table.
  var table: UInt64 = 0
  var fileDirectory: UInt64 = 0
  var filePrototypes: UInt64 = 0
  var pageFileDirectory: UInt64 = 0
  var pageFilePrototypes: UInt64 = 0
  /// Section page -> PFN of the file section's pages in memory (0, 1 valid; 3 standby).
  var fileResident: [UInt64: UInt64] = [:]
  var pageFileResident: UInt64 = 0
  /// Per process (slot order), the VAD table's physical address.
  var vadTables: [UInt64] = []
  /// Process 1's file-view PTEs (physical addresses), pages 0-3.
  var fileViewPTEs: [UInt64] = []
  /// Process 2's file-view PTE (page 0).
  var secondViewPTE: UInt64 = 0
  /// Cc's view records (8 slots) and the kernel PTE mapping section page 1 in view slot 0.
  var cacheViews: UInt64 = 0
  var cacheViewPTE: UInt64 = 0
  static let cacheViewVA = SystemCacheLayout.base + 4096
  /// The system-space view records (after Cc's) and its kernel PTE of section page 0.
  var systemViews: UInt64 = 0
  var systemViewPTE: UInt64 = 0
  static let systemViewVA = SystemViewLayout.base + SystemViewLayout.granularity

  func record(_ slot: Int) -> UInt64 { table + UInt64(slot * ControlAreaRecord.size) }
  /// Physical address of the file section's prototype PTE of `page`.
  func filePrototype(_ page: UInt64) -> UInt64 { filePrototypes + page * 8 }
}

extension SyntheticGuest {
  /// Builds the sections, their segments, pages and views (before the lists take the rest).
  func buildSections() {
    precondition(options.kernelImagePages >= 2 && options.processCount >= 2)
    let directMap = KernelLayout.directMapBase
    var model = SectionModel()
    model.table = debugBlock + 0x1000  // kernel-image page 1: zero, mapped once by the kernel
    let fileArea = model.record(SectionModel.fileSlot)
    let pageFileArea = model.record(SectionModel.pageFileSlot)
    let subsection = SoftwarePTE.prototype(
      address: directMap + fileArea, protection: PageProtection.readOnly, viaVAD: false
    ).raw
    let demandZero = SoftwarePTE.demandZero(protection: PageProtection.readWrite).raw

    func segmentPage() -> UInt64 {
      let pfn = allocate()
      frames[Int(pfn)].usage = .segment
      return pfn << 12
    }
    model.fileDirectory = segmentPage()
    model.filePrototypes = segmentPage()
    model.pageFileDirectory = segmentPage()
    model.pageFilePrototypes = segmentPage()
    store(model.filePrototypes, model.fileDirectory)
    store(model.pageFilePrototypes, model.pageFileDirectory)

    // The file section's pages in memory, with the file's bytes (zero past its end).
    let content = SectionModel.fileContent
    for page in [UInt64(0), 1, 3] {
      let pfn = allocate()
      model.fileResident[page] = pfn
      let start = Int(page) * 4096
      let bytes = content[min(start, content.count)..<min(start + 4096, content.count)]
      precondition(memory.write(bytes, at: pfn << 12))
    }
    for page in UInt64(0)..<4 {
      let value: UInt64
      switch page {
      case 0, 1: value = model.fileResident[page]! << 12 | 1
      case 2: value = subsection
      default: value = SoftwarePTE.transition(pfn: model.fileResident[3]!, protection: PageProtection.readOnly).raw
      }
      store(value, model.filePrototype(page))
    }
    model.pageFileResident = allocate()
    store(UInt64(0xFEED_0000), model.pageFileResident << 12)
    store(model.pageFileResident << 12 | 1, model.pageFilePrototypes)
    store(demandZero, model.pageFilePrototypes + 8)

    // Views.
    let user: UInt64 = 0x4
    let noExecute: UInt64 = 1 << 63
    let (first, second) = (processes[0], processes[1])
    for page in UInt64(0)..<4 {
      let va = SectionModel.fileViewBase + page * 4096
      if let pfn = model.fileResident[page], page < 2 {
        model.fileViewPTEs.append(
          map4K(root: first.root, process: first.id, va: va, pfn: pfn, flags: user | noExecute).entryAddress)
      } else {
        let address = entryAddress(root: first.root, va: va, level: 1, user: true)
        store(
          SoftwarePTE.prototype(
            address: directMap + model.filePrototype(page), protection: PageProtection.readOnly, viaVAD: false
          ).raw, address)
        model.fileViewPTEs.append(address)
      }
    }
    model.secondViewPTE =
      map4K(
        root: second.root, process: second.id, va: SectionModel.fileViewBase, pfn: model.fileResident[0]!,
        flags: user | noExecute
      ).entryAddress
    // Cc's view: a kernel PTE in the system cache window, which every process shares.
    model.cacheViewPTE =
      map4K(
        root: kernelRoot, process: nil, va: SectionModel.cacheViewVA, pfn: model.fileResident[1]!,
        flags: 0x2 | noExecute
      ).entryAddress
    let cacheSlot = (SystemCacheLayout.base >> 39) & 511
    for process in processes {
      store(memory.load(UInt64.self, at: kernelRoot + cacheSlot * 8)!, process.root + cacheSlot * 8)
    }
    model.cacheViews = model.table + 2048
    precondition(ControlAreaTable.slots * ControlAreaRecord.size <= 2048)
    store(fileArea, model.cacheViews + UInt64(CacheViewRecord.controlArea))
    store(UInt64(0), model.cacheViews + UInt64(CacheViewRecord.fileOffset))
    store(UInt64(7), model.cacheViews + UInt64(CacheViewRecord.lastUse))
    model.systemViewPTE =
      map4K(
        root: kernelRoot, process: nil, va: SectionModel.systemViewVA, pfn: model.fileResident[0]!,
        flags: noExecute
      ).entryAddress
    model.systemViews = model.cacheViews + UInt64(SystemCacheLayout.views * CacheViewRecord.size)
    let systemRecord = model.systemViews + UInt64(SystemViewRecord.size)
    store(fileArea, systemRecord + UInt64(SystemViewRecord.controlArea))
    store(SectionModel.systemViewVA, systemRecord + UInt64(SystemViewRecord.base))
    store(UInt64(0), systemRecord + UInt64(SystemViewRecord.sectionOffset))
    store(UInt32(4), systemRecord + UInt64(SystemViewRecord.pages))
    store(UInt32(PageProtection.readOnly), systemRecord + UInt64(SystemViewRecord.protection))
    map4K(
      root: first.root, process: first.id, va: SectionModel.pageFileViewBase, pfn: model.pageFileResident,
      flags: 0x2 | user | noExecute | 0x20 | 0x40)
    _ = entryAddress(root: first.root, va: SectionModel.pageFileViewBase + 4096, level: 1, user: true)

    // The pages' records point back at their prototype PTEs.
    for (page, pfn) in model.fileResident {
      frames[Int(pfn)].pteAddress = directMap + model.filePrototype(page)
      frames[Int(pfn)].pteFrame = UInt32(model.filePrototypes >> 12)
      frames[Int(pfn)].owner = 0
      frames[Int(pfn)].flags = PageFrameFlags.prototype.rawValue
      frames[Int(pfn)].originalPTE = subsection
    }
    let pageFilePage = Int(model.pageFileResident)
    frames[pageFilePage].pteAddress = directMap + model.pageFilePrototypes
    frames[pageFilePage].pteFrame = UInt32(model.pageFilePrototypes >> 12)
    frames[pageFilePage].owner = 0
    frames[pageFilePage].flags = PageFrameFlags.prototype.rawValue | PageFrameFlags.modified.rawValue
    frames[pageFilePage].originalPTE = demandZero

    // Control areas.
    func putArea(
      _ address: UInt64, flags: ControlAreaFlags, counts: [UInt32], protection: UInt8, size: UInt64,
      directory: UInt64, cluster: UInt32, fileSize: UInt64
    ) {
      store(flags.rawValue, address + UInt64(ControlAreaRecord.flags))
      for (index, field) in [
        ControlAreaRecord.sections, ControlAreaRecord.mappedViews, ControlAreaRecord.userReferences,
        ControlAreaRecord.pfnReferences,
      ].enumerated() {
        store(counts[index], address + UInt64(field))
      }
      store(protection, address + UInt64(ControlAreaRecord.protection))
      store(size, address + UInt64(ControlAreaRecord.sizeBytes))
      store((size + 4095) / 4096, address + UInt64(ControlAreaRecord.segmentPages))
      store(directory, address + UInt64(ControlAreaRecord.segmentDirectory))
      store(cluster, address + UInt64(ControlAreaRecord.fileFirstCluster))
      store(fileSize, address + UInt64(ControlAreaRecord.fileSize))
    }
    let fileSize = UInt64(SectionModel.fileSize)
    putArea(
      fileArea, flags: [.inUse, .file], counts: [1, 4, 4, 3], protection: PageProtection.readOnly, size: fileSize,
      directory: model.fileDirectory, cluster: TinyFatVolume.fileFirstCluster, fileSize: fileSize)
    putArea(
      pageFileArea, flags: [.inUse], counts: [1, 1, 2, 1], protection: PageProtection.readWrite, size: 8192,
      directory: model.pageFileDirectory, cluster: 0, fileSize: 0)

    // VAD tables.
    for (slot, process) in processes.enumerated() {
      let table = allocate() << 12
      model.vadTables.append(table)
      let userFirst = Self.userBase >> 12
      var records: [(UInt64, UInt64, UInt8, VadType, UInt64, UInt64)] = [
        (userFirst, userFirst + UInt64(options.userPagesPerProcess) - 1, PageProtection.readWrite, .private, 0, 0)
      ]
      let fileFirst = SectionModel.fileViewBase >> 12
      records.append(
        (fileFirst, fileFirst + (slot == 0 ? 3 : 0), PageProtection.readOnly, .mapped, fileArea, 0))
      if slot == 0 {
        let first = SectionModel.pageFileViewBase >> 12
        records.append((first, first + 1, PageProtection.readWrite, .mapped, pageFileArea, 0))
      }
      _ = process
      store(UInt32(records.count), table + UInt64(VadTable.count))
      store(UInt32(64), table + UInt64(VadTable.capacity))
      store(VadTable.currentVersion, table + UInt64(VadTable.version))
      store(UInt16(VadRecord.size), table + UInt64(VadTable.recordSize))
      for (index, record) in records.enumerated() {
        let base = table + UInt64(VadTable.headerSize + index * VadRecord.size)
        store(record.0, base + UInt64(VadRecord.startPage))
        store(record.1, base + UInt64(VadRecord.endPage))
        store(record.2, base + UInt64(VadRecord.protection))
        store(record.3.rawValue, base + UInt64(VadRecord.type))
        store(UInt32(record.1 - record.0 + 1), base + UInt64(VadRecord.committedPages))
        store(record.4, base + UInt64(VadRecord.controlArea))
        store(record.5, base + UInt64(VadRecord.sectionOffsetPages))
      }
    }
    sections = model
  }

  /// After the lists are made: the file section's transition page joins the standby list.
  func finishSections() {
    let pfn = sections.fileResident[3]!
    frames[Int(pfn)].location = .standby
    lists[Int(PageLocation.standby.rawValue)].append(pfn)
  }

  /// The volume holding the file section's file.
  func sectionVolume(chainClusters: Int? = nil) throws -> TinyFatVolume {
    try TinyFatVolume(content: SectionModel.fileContent, chainClusters: chainClusters)
  }
}
