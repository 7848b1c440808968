import GuestArch

/// Kernel ranges whose mappings the PFN database does not account per PTE
/// (GuestABI `DebugWindow`): the direct map, the self-map, the bench region,
/// the user code pages, the script interpreter's buffers and device registers.
struct AccountingWindows {
  var ramEnd: UInt64

  /// The windows as (start, length, kind).
  var list: [(UInt64, UInt64, DebugWindowKind)] {
    [
      (KernelLayout.directMapBase, (ramEnd + 0x1F_FFFF) & ~0x1F_FFFF, .directMap),
      (KernelLayout.selfMapBase, 1 << 39, .selfMap),
      (BenchLayout.regionBase, BenchLayout.regionSize, .benchRegion),
      (UserLayout.codeBase, UserLayout.codeMaximumSize, .userCode),
      (ScriptWindow.base, ScriptWindow.size, .scriptBuffers),
      (KernelLayout.deviceWindowBase, KernelLayout.deviceWindowSize, .deviceRegisters),
    ]
  }

  /// Whether `virtualAddress` lies in a window (no allocation: it runs per leaf).
  func contains(_ virtualAddress: UInt64) -> Bool {
    let directMapSize = (ramEnd + 0x1F_FFFF) & ~0x1F_FFFF
    return (virtualAddress >= KernelLayout.directMapBase && virtualAddress - KernelLayout.directMapBase < directMapSize)
      || (virtualAddress >= KernelLayout.selfMapBase && virtualAddress - KernelLayout.selfMapBase < 1 << 39)
      || (virtualAddress >= BenchLayout.regionBase && virtualAddress - BenchLayout.regionBase < BenchLayout.regionSize)
      || (virtualAddress >= UserLayout.codeBase && virtualAddress - UserLayout.codeBase < UserLayout.codeMaximumSize)
      || (virtualAddress >= ScriptWindow.base && virtualAddress - ScriptWindow.base < ScriptWindow.size)
      || (virtualAddress >= KernelLayout.deviceWindowBase
        && virtualAddress - KernelLayout.deviceWindowBase < KernelLayout.deviceWindowSize)
  }
}

/// Lays out and fills the PFN database during the deprivileged boot pass:
/// every page from PFN 0 to the end of RAM gets a record; boot-time pages
/// (image, tables, the database) are ActiveAndValid and accounted; the rest of
/// RAM goes on the free list, its first `zeroedPages` zeroed and on the zeroed
/// list instead. Returns the database and the physical address of the debug
/// block written beside it; nil when RAM runs out.
func buildPageFrameDatabase(
  boot: BootInformation, frames: inout BootFrameAllocator, space: KernelAddressSpace, bench: BenchRegion?,
  zeroedPages: UInt64
) -> (KernelFrameDatabase, UInt64)? {
  let count = boot.ramEnd >> 12
  let recordPages = Int((count * UInt64(PageFrameRecord.size) + 0xFFF) >> 12)
  guard let metadata = frames.allocateZeroed(), let records = frames.allocateContiguous(recordPages) else {
    return nil
  }
  let database = KernelFrameDatabase(
    memory: KernelPhysicalMemory(), recordsPhysical: records, count: count, headsPhysical: metadata,
    availableCountPhysical: metadata + MetadataPage.debugBlock + UInt64(DebugBlock.availablePages))
  database.resetHeads()
  initializeRecords(database, boot: boot, bootAllocations: frames.floor..<frames.highWater)
  let windows = AccountingWindows(ramEnd: boot.ramEnd)
  accountTables(database, root: space.rootPhysical, windows: windows)
  if let bench {
    let first = bench.backingStart >> 12
    for pfn in first..<(first + UInt64(bench.backingPages)) { database.record(pfn).usage = .windowBacking }
    // Accounted as linked already; linking adds the PML4's live entry (`linkBenchRegion`).
    let pointer = KernelLayout.selfMapEntryAddress(of: BenchLayout.regionBase, level: 4)
    markTable(database, bench.pointerTable >> 12, pteAddress: pointer, tablePFN: space.rootPhysical >> 12)
    accountTable(database, bench.pointerTable, level: 3, base: BenchLayout.regionBase, windows: windows)
  }
  stockPageLists(database, zeroedPages: zeroedPages)
  let debugBlock = writeDebugBlock(database, metadata: metadata, root: space.rootPhysical, windows: windows)
  return (database, debugBlock)
}

/// Every record: no links, no PTE; RAM pages general, the rest holes; PFN 0,
/// the kernel image and the boot allocations ActiveAndValid.
private func initializeRecords(_ database: KernelFrameDatabase, boot: BootInformation, bootAllocations: Range<UInt64>) {
  let imageStart = KernelLayout.physicalBase >> 12
  let imageEnd = kernelPhysical(arch_kernel_end()) >> 12
  var rangeIndex = 0
  for pfn in 0..<database.count {
    let page = database.record(pfn)
    page.clearLinks()
    let address = pfn << 12
    while rangeIndex < boot.ram.count, boot.ram[rangeIndex].end <= address { rangeIndex += 1 }
    let isRAM = rangeIndex < boot.ram.count && boot.ram[rangeIndex].start <= address
    let usage: PageUsage
    if !isRAM {
      usage = .hole
    } else if pfn == 0 {
      usage = .loaderReserved  // the real-mode interrupt table's page by convention: never handed out
    } else if pfn >= imageStart, pfn < imageEnd {
      usage = .kernelImage
    } else if bootAllocations.contains(address) {
      usage = .pfnDatabase  // boot allocations are database or tables; tables are relabelled below
    } else {
      usage = .general
    }
    page.usage = usage
    page.location = usage == .general ? .free : .activeAndValid
  }
}

/// Puts every general page on a list: the first `zeroedPages` below the boot map's
/// end zeroed, on the zeroed list (the zero-page thread's work done ahead: here, at
/// CPL 3, zeroing runs at the CPU's speed, where at CPL 0 on kvm-pvm each REP STOSQ
/// iteration is emulated), the rest on the free list.
private func stockPageLists(_ database: KernelFrameDatabase, zeroedPages: UInt64) {
  var toZero = zeroedPages
  for pfn in 0..<database.count where database.record(pfn).usage == .general {
    if toZero > 0, pfn < arch_boot_identity_size >> 12 {
      PhysicalWindow.zeroFrame(pfn << 12)
      database.insertTail(pfn, into: .zeroed)
      toZero -= 1
    } else {
      database.insertTail(pfn, into: .free)
    }
  }
}

/// Records that `pfn` is used through the PTE at self-map address `pteAddress`
/// in table `tablePFN` (a PFN beyond RAM, a device's, has no record).
private func account(_ database: KernelFrameDatabase, _ pfn: UInt64, pteAddress: UInt64, tablePFN: UInt64) {
  guard pfn < database.count else { return }
  database.addMapping(pfn, pteAddress: pteAddress, table: tablePFN)
}

/// Walks the live kernel tables from `root`: tables become page-table pages
/// whose share count is their live entries; 4 KiB leaves outside the windows
/// are accounted to the pages they map. The self-map slot is not descended.
private func accountTables(_ database: KernelFrameDatabase, root: UInt64, windows: AccountingWindows) {
  let selfEntry = KernelLayout.selfMapEntryAddress(of: KernelLayout.selfMapBase, level: 4)
  markTable(database, root >> 12, pteAddress: selfEntry, tablePFN: root >> 12)
  accountTable(database, root, level: 4, base: 0, windows: windows)
}

private func accountTable(
  _ database: KernelFrameDatabase, _ table: UInt64, level: Int, base: UInt64, windows: AccountingWindows
) {
  let entries = PhysicalWindow.words(table)
  for index in 0..<512 {
    let entry = PageTableEntry(raw: entries[index])
    guard entry.isPresent else { continue }
    var address = base | (UInt64(index) << UInt64(12 + 9 * (level - 1)))
    if address & (1 << 47) != 0 { address |= 0xFFFF_0000_0000_0000 }
    let target = entry.physicalAddress >> 12
    if level == 4, UInt64(index) == KernelLayout.selfMapSlot { continue }
    if level > 1, !entry.isLargePage {
      markTable(
        database, target, pteAddress: KernelLayout.selfMapEntryAddress(of: address, level: level), tablePFN: table >> 12
      )
      accountTable(database, entry.physicalAddress, level: level - 1, base: address, windows: windows)
    } else if level == 1, !windows.contains(address) {
      account(
        database, target, pteAddress: KernelLayout.selfMapEntryAddress(of: address, level: 1), tablePFN: table >> 12)
    }
  }
}

/// Labels `pfn` a kernel page table (its live entries counted), referenced by the entry at `pteAddress` in `tablePFN`.
private func markTable(_ database: KernelFrameDatabase, _ pfn: UInt64, pteAddress: UInt64, tablePFN: UInt64) {
  guard pfn < database.count else { return }
  database.labelPageTable(pfn, pteAddress: pteAddress, parent: tablePFN, owner: 0)
}

/// Where things sit in the metadata page the database's list heads live in.
enum MetadataPage {
  static let listHeads: UInt64 = 0
  static let debugBlock: UInt64 = 256
  static let windows: UInt64 = 512
  static let processTable: UInt64 = 1024
  static let processSlots = 16
  /// `ControlAreaTable.slots` records, then Cc's view records, then the system-space view records.
  static let controlAreas: UInt64 = 2048
  static let cacheViews: UInt64 = controlAreas + UInt64(ControlAreaTable.slots * ControlAreaRecord.size)
  static let systemViews: UInt64 = cacheViews + UInt64(SystemCacheLayout.views * CacheViewRecord.size)
  static let end: UInt64 = systemViews + UInt64(SystemViewLayout.views * SystemViewRecord.size)
}

/// Writes the list heads' neighbours in the metadata page: the debug block,
/// the windows and an empty process table. Returns the debug block's address.
private func writeDebugBlock(
  _ database: KernelFrameDatabase, metadata: UInt64, root: UInt64, windows: AccountingWindows
) -> UInt64 {
  if MetadataPage.end > 4096 { kernelPanic("writeDebugBlock", "the metadata page overflows") }
  let block = metadata + MetadataPage.debugBlock
  let windowTable = metadata + MetadataPage.windows
  let processTable = metadata + MetadataPage.processTable
  let processSlots = MetadataPage.processSlots
  let bytes = UnsafeMutableRawPointer(bitPattern: UInt(PhysicalWindow.virtualAddress(metadata)))!
  for (index, window) in windows.list.enumerated() {
    let offset = Int(MetadataPage.windows) + index * DebugWindow.size
    bytes.storeBytes(of: window.0, toByteOffset: offset + DebugWindow.start, as: UInt64.self)
    bytes.storeBytes(of: window.1, toByteOffset: offset + DebugWindow.length, as: UInt64.self)
    bytes.storeBytes(of: window.2.rawValue, toByteOffset: offset + DebugWindow.kind, as: UInt32.self)
  }
  let fields = bytes + Int(MetadataPage.debugBlock)
  fields.storeBytes(of: DebugBlock.magicValue, toByteOffset: DebugBlock.magic, as: UInt32.self)
  fields.storeBytes(of: DebugBlock.currentVersion, toByteOffset: DebugBlock.version, as: UInt32.self)
  fields.storeBytes(of: UInt32(DebugBlock.currentSize), toByteOffset: DebugBlock.size, as: UInt32.self)
  fields.storeBytes(of: UInt32(PageFrameRecord.size), toByteOffset: DebugBlock.pfnRecordSize, as: UInt32.self)
  fields.storeBytes(of: database.recordsPhysical, toByteOffset: DebugBlock.pfnDatabasePhysical, as: UInt64.self)
  fields.storeBytes(of: database.count, toByteOffset: DebugBlock.pfnCount, as: UInt64.self)
  fields.storeBytes(of: database.headsPhysical, toByteOffset: DebugBlock.listHeadsPhysical, as: UInt64.self)
  fields.storeBytes(of: root, toByteOffset: DebugBlock.kernelRoot, as: UInt64.self)
  fields.storeBytes(of: UInt32(KernelLayout.selfMapSlot), toByteOffset: DebugBlock.selfMapSlot, as: UInt32.self)
  fields.storeBytes(of: UInt32(windows.list.count), toByteOffset: DebugBlock.windowCount, as: UInt32.self)
  fields.storeBytes(of: windowTable, toByteOffset: DebugBlock.windowsPhysical, as: UInt64.self)
  fields.storeBytes(of: processTable, toByteOffset: DebugBlock.processTablePhysical, as: UInt64.self)
  fields.storeBytes(of: UInt32(processSlots), toByteOffset: DebugBlock.processCount, as: UInt32.self)
  fields.storeBytes(of: UInt32(ProcessRecord.size), toByteOffset: DebugBlock.processRecordSize, as: UInt32.self)
  let controlAreas = metadata + MetadataPage.controlAreas
  fields.storeBytes(of: controlAreas, toByteOffset: DebugBlock.controlAreasPhysical, as: UInt64.self)
  fields.storeBytes(of: UInt32(ControlAreaTable.slots), toByteOffset: DebugBlock.controlAreaSlots, as: UInt32.self)
  fields.storeBytes(
    of: UInt32(ControlAreaRecord.size), toByteOffset: DebugBlock.controlAreaRecordSize, as: UInt32.self)
  ControlAreas.tablePhysical = controlAreas
  let cacheViews = metadata + MetadataPage.cacheViews
  fields.storeBytes(of: cacheViews, toByteOffset: DebugBlock.cacheViewsPhysical, as: UInt64.self)
  fields.storeBytes(of: UInt32(SystemCacheLayout.views), toByteOffset: DebugBlock.cacheViewCount, as: UInt32.self)
  fields.storeBytes(of: UInt32(CacheViewRecord.size), toByteOffset: DebugBlock.cacheViewRecordSize, as: UInt32.self)
  SystemCache.recordsPhysical = cacheViews
  let systemViews = metadata + MetadataPage.systemViews
  fields.storeBytes(of: systemViews, toByteOffset: DebugBlock.systemViewsPhysical, as: UInt64.self)
  fields.storeBytes(of: UInt32(SystemViewLayout.views), toByteOffset: DebugBlock.systemViewCount, as: UInt32.self)
  fields.storeBytes(of: UInt32(SystemViewRecord.size), toByteOffset: DebugBlock.systemViewRecordSize, as: UInt32.self)
  SystemViews.recordsPhysical = systemViews
  return block
}
