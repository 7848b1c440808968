import GuestABI
import Inspect
import Machine
import X86Paging

/// A small but complete guest memory manager laid out in host memory, consistent in
/// every way `MmValidator` checks, with helpers to corrupt it on purpose.
///
/// Physical memory is two RAM ranges with a PC-style hole between them:
/// `[0, 0x9F000)` and `[1 MiB, ramBytes)`. PFN 0 is loader-reserved; PFNs 0x9F-0xFF are
/// holes; the kernel image starts at 1 MiB (its first page holds the debug block, the
/// list heads, the windows and the process table) and is mapped at
/// `KernelLayout.virtualBase` in 4 KiB pages; the PFN database follows it. The kernel
/// PML4 has the self-map at `KernelLayout.selfMapSlot` and a direct map of all RAM in
/// 2 MiB pages (a debug window, as is the self-map); each process has its own PML4
/// sharing the kernel half, the user-code window (kernel image page 0 at
/// `UserLayout.codeBase`, not accounted) and a few user pages at `userBase`; the first
/// process also has a demand-zero and a transition PTE at `softwarePTEBase`. Every other
/// RAM page is on a list: zeroed pages are zero, other list pages hold a nonzero word.
/// Page tables count their nonzero entries and name the entry referencing them, as the
/// guest's own do.
///
/// Keep the guest alive while using anything read from its memory: use `validate()` and
/// `withState(_:)`, which do.
final class SyntheticGuest {
  struct Options {
    var ramBytes: UInt64 = 4 << 20
    var processCount = 2
    var userPagesPerProcess = 4
    var kernelImagePages = 4
    var zeroedPages = 8
    var standbyPages = 4
    var modifiedPages = 2
    var modifiedNoWritePages = 1
    var badPages = 1
    /// Map `BenchLayout`'s region (4 KiB pages aliasing `BenchLayout.backingSize` of RAM) in a window.
    var benchRegion = false
    /// Put list pages and user pages in a seeded random order (cache-unfriendly, like a guest after churn).
    var shuffleSeed: UInt64? = nil
    /// Add a file-backed and a page-file-backed section with views (`SyntheticGuest+Sections.swift`).
    var sections = false
  }

  /// A small seeded generator (SplitMix64): same seed, same sequence.
  struct Random {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
  }

  struct Mapping {
    var process: UInt32?
    var va: UInt64
    var pfn: UInt64
    /// Physical address of the PTE.
    var entryAddress: UInt64
    var tablePFN: UInt64 { entryAddress >> 12 }
  }

  static let userBase: UInt64 = 0x40_0000
  /// A demand-zero PTE here and a transition PTE (naming the first standby page) on the next page.
  static let softwarePTEBase: UInt64 = 0x4000_0000
  static let holePFNs: Range<UInt64> = 0x9F..<0x100
  static let processSlots = 3  // one more than the default process count: an empty slot to skip

  // Debug data in the first kernel-image page.
  static let headsOffset: UInt64 = 0x100
  static let windowsOffset: UInt64 = 0x200
  static let processTableOffset: UInt64 = 0x300

  let options: Options
  let memory: GuestPhysicalMemory
  private let buffers: [UnsafeMutableRawBufferPointer]
  let pfnCount: UInt64
  let selfMap = SelfMap(slot: KernelLayout.selfMapSlot)!

  private(set) var debugBlock: UInt64 = 0
  private(set) var databaseAddress: UInt64 = 0
  private(set) var kernelRoot: UInt64 = 0
  /// (id, PML4 physical address) per process, in slot order.
  private(set) var processes: [(id: UInt32, root: UInt64)] = []
  private(set) var kernelMappings: [Mapping] = []
  private(set) var userMappings: [Mapping] = []
  /// PFNs of every paging structure.
  private(set) var tablePFNs: [UInt64] = []
  /// The pages of each list, in link order (`PageLocation` order).
  var lists: [[UInt64]] = Array(repeating: [], count: PageLocation.listCount)
  /// What `Options.sections` built.
  var sections = SectionModel()

  var frames: [FrameModel]
  private var nextPFN: UInt64 = 0
  private var pool: [UInt64] = []
  private var random: Random

  struct FrameModel {
    var location = PageLocation.activeAndValid
    var usage = PageUsage.general
    var shareCount: UInt32 = 0
    var referenceCount: UInt16 = 0
    var pteAddress: UInt64 = 0
    var pteFrame = PageFrameRecord.noPage
    var workingSetIndex = PageFrameRecord.noPage
    var owner: UInt16 = 0
    var flags: UInt8 = 0
    var originalPTE: UInt64 = 0
  }

  init(_ options: Options = Options()) {
    precondition(options.ramBytes >= 4 << 20 && options.ramBytes % 4096 == 0)
    self.options = options
    let low = UnsafeMutableRawBufferPointer.allocate(byteCount: 0x9F000, alignment: 4096)
    let high = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(options.ramBytes - 0x10_0000), alignment: 4096)
    low.initializeMemory(as: UInt8.self, repeating: 0)
    high.initializeMemory(as: UInt8.self, repeating: 0)
    buffers = [low, high]
    memory = GuestPhysicalMemory(regions: [
      .init(base: 0, bytes: low), .init(base: 0x10_0000, bytes: high),
    ])
    pfnCount = options.ramBytes >> 12
    frames = Array(repeating: FrameModel(), count: Int(pfnCount))
    random = Random(seed: options.shuffleSeed ?? 0)
    build()
  }

  deinit {
    for buffer in buffers { buffer.deallocate() }
  }

  // MARK: Using it

  /// Decodes the state and runs `body` while the guest's memory is alive.
  func withState<T>(_ body: (MmState) throws -> T) throws -> T {
    try withExtendedLifetime(self) { try body(try MmState(memory: memory, debugBlockAddress: debugBlock)) }
  }

  /// Decodes and validates.
  func validate(violationLimit: Int = 10_000, volume: FatImage? = nil) throws -> MmValidationReport {
    try withState { MmValidator(state: $0, violationLimit: violationLimit, volume: volume).validate() }
  }

  // MARK: Corrupting it

  func recordAddress(_ pfn: UInt64) -> UInt64 { databaseAddress + pfn * UInt64(PageFrameRecord.size) }
  func setRecord8(_ pfn: UInt64, _ field: Int, _ value: UInt8) { store(value, recordAddress(pfn) + UInt64(field)) }
  func setRecord16(_ pfn: UInt64, _ field: Int, _ value: UInt16) { store(value, recordAddress(pfn) + UInt64(field)) }
  func setRecord32(_ pfn: UInt64, _ field: Int, _ value: UInt32) { store(value, recordAddress(pfn) + UInt64(field)) }
  func setRecord64(_ pfn: UInt64, _ field: Int, _ value: UInt64) { store(value, recordAddress(pfn) + UInt64(field)) }
  func record32(_ pfn: UInt64, _ field: Int) -> UInt32 {
    memory.load(UInt32.self, at: recordAddress(pfn) + UInt64(field))!
  }
  func record64(_ pfn: UInt64, _ field: Int) -> UInt64 {
    memory.load(UInt64.self, at: recordAddress(pfn) + UInt64(field))!
  }

  func headAddress(_ list: PageLocation) -> UInt64 {
    debugBlock + Self.headsOffset + UInt64(list.rawValue) * UInt64(PageListHead.size)
  }
  func setHead(_ list: PageLocation, first: UInt32? = nil, last: UInt32? = nil, total: UInt64? = nil) {
    let head = headAddress(list)
    if let first { store(first, head + UInt64(PageListHead.first)) }
    if let last { store(last, head + UInt64(PageListHead.last)) }
    if let total { store(total, head + UInt64(PageListHead.total)) }
  }
  func headTotal(_ list: PageLocation) -> UInt64 {
    memory.load(UInt64.self, at: headAddress(list) + UInt64(PageListHead.total))!
  }

  func setDebugBlock32(_ field: Int, _ value: UInt32) { store(value, debugBlock + UInt64(field)) }
  func setDebugBlock64(_ field: Int, _ value: UInt64) { store(value, debugBlock + UInt64(field)) }
  func debugBlock64(_ field: Int) -> UInt64 { memory.load(UInt64.self, at: debugBlock + UInt64(field))! }

  /// Writes one byte of page `pfn`.
  func poke(pfn: UInt64, offset: UInt64, _ value: UInt8) { store(value, pfn << 12 + offset) }

  /// Writes a raw entry at physical address `address`.
  func setEntry(_ address: UInt64, _ value: UInt64) { store(value, address) }
  func entry(_ address: UInt64) -> UInt64 { memory.load(UInt64.self, at: address)! }

  /// The user page table of process slot `index` and the first VA after its user pages
  /// that it can still map (same page table).
  func spareUserSlot(process index: Int) -> (va: UInt64, entryAddress: UInt64) {
    let last = userMappings.last { $0.process == processes[index].id }!
    precondition((last.va >> 12) & 511 != 511, "the last user page table is full")
    return (last.va + 4096, last.entryAddress + 8)
  }

  /// Unlinks `pfn` from its list the way the guest would, fixing the neighbours, the head
  /// and (optionally) the total and the available figure, but leaves its record alone.
  func unlink(_ pfn: UInt64, from list: PageLocation, adjustCounts: Bool = true) {
    let pages = lists[Int(list.rawValue)]
    let index = pages.firstIndex(of: pfn)!
    let previous = index > 0 ? UInt32(pages[index - 1]) : PageFrameRecord.noPage
    let next = index + 1 < pages.count ? UInt32(pages[index + 1]) : PageFrameRecord.noPage
    if index > 0 { setRecord32(pages[index - 1], PageFrameRecord.next, next) } else { setHead(list, first: next) }
    if index + 1 < pages.count {
      setRecord32(pages[index + 1], PageFrameRecord.previous, previous)
    } else {
      setHead(list, last: previous)
    }
    lists[Int(list.rawValue)].remove(at: index)
    if adjustCounts {
      setHead(list, total: headTotal(list) - 1)
      if [.zeroed, .free, .standby].contains(list) {
        setDebugBlock64(DebugBlock.availablePages, debugBlock64(DebugBlock.availablePages) - 1)
      }
    }
  }

  /// Appends `pfn` to the tail of `list` (links, head, total and available figure), leaving
  /// its location as it is.
  func append(_ pfn: UInt64, to list: PageLocation) {
    let pages = lists[Int(list.rawValue)]
    let last = pages.last.map { UInt32($0) } ?? PageFrameRecord.noPage
    if let tail = pages.last {
      setRecord32(tail, PageFrameRecord.next, UInt32(pfn))
    } else {
      setHead(list, first: UInt32(pfn))
    }
    setRecord32(pfn, PageFrameRecord.previous, last)
    setRecord32(pfn, PageFrameRecord.next, PageFrameRecord.noPage)
    setHead(list, last: UInt32(pfn), total: headTotal(list) + 1)
    if [.zeroed, .free, .standby].contains(list) {
      setDebugBlock64(DebugBlock.availablePages, debugBlock64(DebugBlock.availablePages) + 1)
    }
    lists[Int(list.rawValue)].append(pfn)
  }

  // MARK: Building it

  func store<T: FixedWidthInteger>(_ value: T, _ address: UInt64) {
    precondition(memory.store(value, at: address), "store outside the synthetic guest's RAM")
  }

  private func isRAM(_ pfn: UInt64) -> Bool { pfn < pfnCount && !Self.holePFNs.contains(pfn) }

  /// The next free RAM page above the image and database, zero.
  func allocate() -> UInt64 {
    while nextPFN < pfnCount && !isRAM(nextPFN) { nextPFN += 1 }
    precondition(nextPFN < pfnCount, "the synthetic guest ran out of pages")
    defer { nextPFN += 1 }
    return nextPFN
  }

  func allocateTable() -> UInt64 {
    let pfn = allocate()
    frames[Int(pfn)].usage = .pageTable
    tablePFNs.append(pfn)
    return pfn << 12
  }

  /// A PML4: its record names its own self-map entry, in itself.
  private func allocateRoot() -> UInt64 {
    let root = allocateTable()
    frames[Int(root >> 12)].pteAddress = selfMap.selfEntryAddress
    frames[Int(root >> 12)].pteFrame = UInt32(root >> 12)
    store(root | 1 | 0x2 | 1 << 63, root + KernelLayout.selfMapSlot * 8)
    return root
  }

  /// Physical address of the entry of `level` (1 = PT ... 4 = PML4) for `va` under
  /// `root`, creating the tables above it.
  func entryAddress(root: UInt64, va: UInt64, level: Int, user: Bool) -> UInt64 {
    var table = root
    var current = 4
    while true {
      let index = (va >> UInt64(12 + 9 * (current - 1))) & 511
      let address = table + index * 8
      if current == level { return address }
      var raw = memory.load(UInt64.self, at: address)!
      if raw & 1 == 0 {
        let child = allocateTable()
        frames[Int(child >> 12)].pteFrame = UInt32(table >> 12)
        frames[Int(child >> 12)].pteAddress = selfMap.entryAddress(mapping: va, level: current)
        raw = child | 0b11 | (user ? 0b100 : 0)
        store(raw, address)
      }
      precondition(raw & 0x80 == 0)
      table = raw & 0x000F_FFFF_FFFF_F000
      current -= 1
    }
  }

  @discardableResult
  func map4K(
    root: UInt64, process: UInt32?, va: UInt64, pfn: UInt64, flags: UInt64, account: Bool = true
  ) -> Mapping {
    let address = entryAddress(root: root, va: va, level: 1, user: process != nil)
    precondition(memory.load(UInt64.self, at: address) == 0)
    store(pfn << 12 | flags | 1, address)
    let mapping = Mapping(process: process, va: va, pfn: pfn, entryAddress: address)
    if account {
      var frame = frames[Int(pfn)]
      frame.location = .activeAndValid
      frame.shareCount += 1
      frame.referenceCount += 1
      frame.pteAddress = selfMap.pteAddress(mapping: va)
      frame.pteFrame = UInt32(address >> 12)
      frame.owner = UInt16(process ?? 0)
      frames[Int(pfn)] = frame
    }
    return mapping
  }

  private func build() {
    let writable: UInt64 = 0x2
    let user: UInt64 = 0x4
    let global: UInt64 = 0x100
    let noExecute: UInt64 = 1 << 63

    // Fixed pages: loader data, holes, the kernel image, the PFN database.
    frames[0].usage = .loaderReserved
    for pfn in Self.holePFNs { frames[Int(pfn)].usage = .hole }
    let imageBase: UInt64 = 0x100
    for index in 0..<UInt64(options.kernelImagePages) { frames[Int(imageBase + index)].usage = .kernelImage }
    debugBlock = imageBase << 12
    let databasePFN = imageBase + UInt64(options.kernelImagePages)
    databaseAddress = databasePFN << 12
    let databasePages = (pfnCount * UInt64(PageFrameRecord.size) + 4095) / 4096
    for index in 0..<databasePages { frames[Int(databasePFN + index)].usage = .pfnDatabase }
    nextPFN = databasePFN + databasePages

    // The kernel's address space.
    kernelRoot = allocateRoot()
    for index in 0..<UInt64(options.kernelImagePages) {
      let flags = writable | global | (index == 0 ? 0 : noExecute)
      kernelMappings.append(
        map4K(
          root: kernelRoot, process: nil, va: KernelLayout.virtualBase + index * 4096, pfn: imageBase + index,
          flags: flags))
    }
    let directMapBytes = (options.ramBytes + (2 << 20) - 1) & ~((2 << 20) - 1)
    for offset in stride(from: UInt64(0), to: directMapBytes, by: 2 << 20) {
      let address = entryAddress(root: kernelRoot, va: KernelLayout.directMapBase + offset, level: 2, user: false)
      store(offset | 1 | writable | 0x80 | global | noExecute, address)
    }
    var windows: [(UInt64, UInt64, DebugWindowKind)] = [
      (KernelLayout.directMapBase, directMapBytes, .directMap),
      (selfMap.base, SelfMap.slotBytes, .selfMap),
    ]
    windows.append((UserLayout.codeBase, UserLayout.codeMaximumSize, .userCode))
    windows.append((ScriptWindow.base, ScriptWindow.size, .scriptBuffers))
    if options.benchRegion {
      let backing = (0..<BenchLayout.backingSize / 4096).map { _ in allocate() }
      for pfn in backing { frames[Int(pfn)].usage = .windowBacking }
      for index in 0..<BenchLayout.regionSize / 4096 {
        map4K(
          root: kernelRoot, process: nil, va: BenchLayout.regionBase + index * 4096,
          pfn: backing[Int(index) % backing.count], flags: writable | noExecute, account: false)
      }
      windows.append((BenchLayout.regionBase, BenchLayout.regionSize, .benchRegion))
    }

    // Processes: their own PML4 with the kernel half shared and their own self-map.
    var userPages: [(process: Int, index: Int)] = []
    for slot in 0..<options.processCount {
      let root = allocateRoot()
      for index in UInt64(256)..<512 where index != KernelLayout.selfMapSlot {
        store(memory.load(UInt64.self, at: kernelRoot + index * 8)!, root + index * 8)
      }
      processes.append((UInt32(slot + 1), root))
      // The user-code window: a kernel-image page seen from user mode, not accounted.
      map4K(root: root, process: UInt32(slot + 1), va: UserLayout.codeBase, pfn: imageBase, flags: user, account: false)
      userPages += (0..<options.userPagesPerProcess).map { (slot, $0) }
    }
    // User pages: tables first (in VA order), then the pages in (optionally shuffled) order.
    for process in processes {
      for index in stride(from: 0, to: options.userPagesPerProcess, by: 512) {
        _ = entryAddress(root: process.root, va: Self.userBase + UInt64(index) * 4096, level: 1, user: true)
      }
    }
    // Software PTEs in the first process (live entries of their table, users of no page).
    let softwarePTEs = processes.first.map {
      entryAddress(root: $0.root, va: Self.softwarePTEBase, level: 1, user: true)
    }
    if options.shuffleSeed != nil { shuffle(&userPages) }
    for (slot, index) in userPages {
      let (id, root) = processes[slot]
      let pfn = allocate()
      let va = Self.userBase + UInt64(index) * 4096
      userMappings.append(map4K(root: root, process: id, va: va, pfn: pfn, flags: writable | user | noExecute))
      frames[Int(pfn)].workingSetIndex = UInt32(index)
      store(va | 1, pfn << 12)  // content: nonzero
    }
    userMappings.sort { ($0.process ?? 0, $0.va) < ($1.process ?? 0, $1.va) }

    if options.sections { buildSections() }

    // Every other RAM page goes on a list.
    for pfn in 1..<Self.holePFNs.lowerBound { pool.append(pfn) }
    while nextPFN < pfnCount {
      if isRAM(nextPFN) { pool.append(nextPFN) }
      nextPFN += 1
    }
    if options.shuffleSeed != nil { shuffle(&pool) }
    let counts: [(PageLocation, Int)] = [
      (.zeroed, options.zeroedPages), (.standby, options.standbyPages), (.modified, options.modifiedPages),
      (.modifiedNoWrite, options.modifiedNoWritePages), (.bad, options.badPages),
    ]
    var cursor = 0
    for (list, count) in counts {
      precondition(cursor + count <= pool.count, "not enough free pages for the lists")
      lists[Int(list.rawValue)] = Array(pool[cursor..<(cursor + count)])
      cursor += count
    }
    lists[Int(PageLocation.free.rawValue)] = Array(pool[cursor...])
    for (index, pages) in lists.enumerated() {
      let location = PageLocation(rawValue: UInt8(index))!
      for pfn in pages {
        frames[Int(pfn)].location = location
        if location != .zeroed { store(0xF00D_0000 | pfn, pfn << 12) }
      }
    }

    if options.sections { finishSections() }

    if let softwarePTEs {
      store(SoftwarePTE.demandZero(protection: PageProtection.readWrite).raw, softwarePTEs)
      // A standby page whose PTE is in transition, naming it.
      let standby = lists[Int(PageLocation.standby.rawValue)]
      if let page = standby.first {
        store(SoftwarePTE.transition(pfn: page, protection: PageProtection.readWrite).raw, softwarePTEs + 8)
        frames[Int(page)].pteAddress = selfMap.pteAddress(mapping: Self.softwarePTEBase + 4096)
        frames[Int(page)].pteFrame = UInt32(softwarePTEs >> 12)
      }
    }

    // Page tables: share count = live (nonzero) entries.
    for pfn in tablePFNs {
      var live: UInt32 = 0
      for index in UInt64(0)..<512 where memory.load(UInt64.self, at: pfn << 12 + index * 8)! != 0 { live += 1 }
      frames[Int(pfn)].shareCount = live
      frames[Int(pfn)].referenceCount = 1
    }

    writeDatabase()
    writeDebugData(windows: windows)
  }

  private func writeDatabase() {
    var links = [(previous: UInt32, next: UInt32)](
      repeating: (PageFrameRecord.noPage, PageFrameRecord.noPage), count: Int(pfnCount))
    for pages in lists {
      for (index, pfn) in pages.enumerated() {
        links[Int(pfn)] = (
          index > 0 ? UInt32(pages[index - 1]) : PageFrameRecord.noPage,
          index + 1 < pages.count ? UInt32(pages[index + 1]) : PageFrameRecord.noPage
        )
      }
    }
    let database = memory.mutableBytes(at: databaseAddress, count: Int(pfnCount) * PageFrameRecord.size)!
    for pfn in 0..<Int(pfnCount) {
      let frame = frames[pfn]
      let base = pfn * PageFrameRecord.size
      func put<T: FixedWidthInteger>(_ value: T, _ field: Int) {
        database.storeBytes(of: value.littleEndian, toByteOffset: base + field, as: T.self)
      }
      put(links[pfn].next, PageFrameRecord.next)
      put(links[pfn].previous, PageFrameRecord.previous)
      put(frame.shareCount, PageFrameRecord.shareCount)
      put(frame.referenceCount, PageFrameRecord.referenceCount)
      put(frame.location.rawValue, PageFrameRecord.location)
      put(frame.flags, PageFrameRecord.flags)
      put(frame.pteAddress, PageFrameRecord.pteAddress)
      put(frame.originalPTE, PageFrameRecord.originalPTE)
      put(frame.pteFrame, PageFrameRecord.pteFrame)
      put(frame.workingSetIndex, PageFrameRecord.workingSetIndex)
      put(frame.owner, PageFrameRecord.owner)
      put(frame.usage.rawValue, PageFrameRecord.usage)
      put(UInt8(pfn & 0x3F), PageFrameRecord.color)
      put(UInt32(0), PageFrameRecord.reserved)
    }
  }

  private func writeDebugData(windows: [(UInt64, UInt64, DebugWindowKind)]) {
    let block = debugBlock
    store(DebugBlock.magicValue, block + UInt64(DebugBlock.magic))
    store(DebugBlock.currentVersion, block + UInt64(DebugBlock.version))
    store(UInt32(DebugBlock.currentSize), block + UInt64(DebugBlock.size))
    store(UInt32(PageFrameRecord.size), block + UInt64(DebugBlock.pfnRecordSize))
    store(databaseAddress, block + UInt64(DebugBlock.pfnDatabasePhysical))
    store(pfnCount, block + UInt64(DebugBlock.pfnCount))
    store(block + Self.headsOffset, block + UInt64(DebugBlock.listHeadsPhysical))
    store(kernelRoot, block + UInt64(DebugBlock.kernelRoot))
    store(UInt32(KernelLayout.selfMapSlot), block + UInt64(DebugBlock.selfMapSlot))
    store(UInt32(windows.count), block + UInt64(DebugBlock.windowCount))
    store(block + Self.windowsOffset, block + UInt64(DebugBlock.windowsPhysical))
    store(block + Self.processTableOffset, block + UInt64(DebugBlock.processTablePhysical))
    let slots = max(Self.processSlots, processes.count + 1)
    precondition(Self.processTableOffset + UInt64(slots * ProcessRecord.size) <= 4096)
    store(UInt32(slots), block + UInt64(DebugBlock.processCount))
    store(UInt32(ProcessRecord.size), block + UInt64(DebugBlock.processRecordSize))
    if options.sections {
      store(sections.table, block + UInt64(DebugBlock.controlAreasPhysical))
      store(UInt32(ControlAreaTable.slots), block + UInt64(DebugBlock.controlAreaSlots))
      store(UInt32(ControlAreaRecord.size), block + UInt64(DebugBlock.controlAreaRecordSize))
      store(sections.cacheViews, block + UInt64(DebugBlock.cacheViewsPhysical))
      store(UInt32(SystemCacheLayout.views), block + UInt64(DebugBlock.cacheViewCount))
      store(UInt32(CacheViewRecord.size), block + UInt64(DebugBlock.cacheViewRecordSize))
      store(sections.systemViews, block + UInt64(DebugBlock.systemViewsPhysical))
      store(UInt32(SystemViewLayout.views), block + UInt64(DebugBlock.systemViewCount))
      store(UInt32(SystemViewRecord.size), block + UInt64(DebugBlock.systemViewRecordSize))
    }
    let available = lists[0].count + lists[1].count + lists[2].count
    store(UInt64(available), block + UInt64(DebugBlock.availablePages))

    for (index, head) in lists.enumerated() {
      let address = block + Self.headsOffset + UInt64(index * PageListHead.size)
      store(head.first.map { UInt32($0) } ?? PageFrameRecord.noPage, address + UInt64(PageListHead.first))
      store(head.last.map { UInt32($0) } ?? PageFrameRecord.noPage, address + UInt64(PageListHead.last))
      store(UInt64(head.count), address + UInt64(PageListHead.total))
    }
    for (index, (start, length, kind)) in windows.enumerated() {
      let address = block + Self.windowsOffset + UInt64(index * DebugWindow.size)
      store(start, address + UInt64(DebugWindow.start))
      store(length, address + UInt64(DebugWindow.length))
      store(kind.rawValue, address + UInt64(DebugWindow.kind))
    }
    // Slot 0 is left empty (id 0): the decoder must skip it.
    for (index, process) in processes.enumerated() {
      let address = block + Self.processTableOffset + UInt64((index + 1) * ProcessRecord.size)
      store(process.id, address + UInt64(ProcessRecord.id))
      store(process.root, address + UInt64(ProcessRecord.root))
      let vadRoot = options.sections ? sections.vadTables[index] : UInt64(0x1000 * (index + 1))
      store(vadRoot, address + UInt64(ProcessRecord.vadRoot))
      store(UInt64(0x2000 * (index + 1)), address + UInt64(ProcessRecord.workingSet))
    }
  }

  private func shuffle<T>(_ array: inout [T]) {
    guard array.count > 1 else { return }
    for index in stride(from: array.count - 1, to: 0, by: -1) {
      array.swapAt(index, Int(random.next() % UInt64(index + 1)))
    }
  }
}
