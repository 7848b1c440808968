import GuestABI
import Machine
import X86Paging

/// A mapped view of a section in a process: a mapped VAD (GuestABI `VadType.mapped`), or
/// one of Cc's views in system space, described by the VAD a system view would have.
/// View page v (a VAD page) maps section page `sectionOffsetPages + (v - startPage)`.
public struct MmView: Sendable, Equatable {
  /// The process whose VAD it is; 0 for a system view.
  public var process: UInt32
  /// A view in system space (kernel PTEs): one of Cc's, or one MmMapViewInSystemSpace mapped.
  public var isSystem = false
  /// One of Cc's views (a VACB): it takes no user reference on the control area, and the
  /// last view of a file reaches past its end.
  public var isCacheView = false
  /// The process's PML4 (physical).
  public var root: UInt64
  public var vad: DecodedVad

  public var startPage: UInt64 { vad.start >> 12 }
  /// Pages the VAD spans (0 for a VAD whose end is not above its start).
  public var pageCount: UInt64 { vad.end > vad.start ? (vad.end - vad.start) >> 12 : 0 }
  /// Physical address of the view's control area, as the VAD names it.
  public var controlArea: UInt64 { vad.controlArea }
  /// The view's protection allows write-copy: a written page becomes private.
  public var isWriteCopy: Bool {
    let access = vad.protection & 7
    return access == PageProtection.writeCopy || access == PageProtection.executeWriteCopy
  }
  /// The section page view page `index` (0-based from the view's start) maps.
  public func sectionPage(_ index: UInt64) -> UInt64 { vad.sectionOffsetPages &+ index }
}

/// A process whose VAD table could not be read, so its views are unknown.
public struct UnreadableVadTable: Sendable, Equatable {
  public var process: UInt32
  public var problem: VadTableProblem
}

extension MmState {
  /// Every process's mapped VADs, in slot order then VA order, and the processes
  /// whose VAD table cannot be read. Reuses `vadTable(of:)`: bounded as it is.
  public func views() -> (views: [MmView], unreadable: [UnreadableVadTable]) {
    var views: [MmView] = []
    var unreadable: [UnreadableVadTable] = []
    for process in processes {
      switch vadTable(of: process) {
      case .success(let vads):
        for vad in vads where vad.type == VadType.mapped.rawValue {
          views.append(MmView(process: process.id, root: process.root, vad: vad))
        }
      case .failure(let problem): unreadable.append(UnreadableVadTable(process: process.id, problem: problem))
      }
    }
    return (views, unreadable)
  }

  /// The views in system space, each described by the VAD a system view would have: Cc's
  /// (read/write, `SystemCacheLayout.viewSize` bytes, clipped by the checks to the section's
  /// pages, as the last view of a file reaches past its end), then MmMapViewInSystemSpace's.
  public func systemViews() -> [MmView] {
    let cache = cacheViews.map { view in
      let vad = DecodedVad(
        start: view.start, end: view.start + SystemCacheLayout.viewSize, protection: PageProtection.readWrite,
        type: VadType.mapped.rawValue, flags: 0, committedPages: 0, controlArea: view.controlArea,
        sectionOffsetPages: view.fileOffset >> 12)
      return MmView(process: 0, isSystem: true, isCacheView: true, root: kernelRoot, vad: vad)
    }
    let mapped = systemSpaceViews.map { view in
      let vad = DecodedVad(
        start: view.base, end: view.base &+ UInt64(view.pages) << 12,
        protection: UInt8(truncatingIfNeeded: view.protection),
        type: VadType.mapped.rawValue, flags: 0, committedPages: view.pages, controlArea: view.controlArea,
        sectionOffsetPages: view.sectionOffset >> 12)
      return MmView(process: 0, isSystem: true, root: kernelRoot, vad: vad)
    }
    return cache + mapped
  }
}

extension MmState {
  /// The control area and section page whose prototype PTE is at direct-map address
  /// `address` (what a section page's PTE address names), if any readable segment holds it.
  public func sectionPage(ofPrototypeAt address: UInt64) -> (area: MmControlArea, page: UInt64)? {
    let physical = address &- KernelLayout.directMapBase
    guard address & 7 == 0 else { return nil }
    for area in controlAreas {
      guard case .success(let segment)? = segment(of: area),
        let slot = segment.prototypePages.firstIndex(of: physical & ~0xFFF)
      else { continue }
      let page = UInt64(slot) * SegmentLayout.ptesPerPage + (physical & 0xFFF) / 8
      return page < segment.pages ? (area, page) : nil
    }
    return nil
  }
}

/// Reads the 4 KiB leaf PTEs of one address space in rising VA order, the way a view is
/// scanned: one walk per 2 MiB (the page table is kept), a load per page after that.
/// Entries that are not present above the leaf read as 0 (nothing mapped); a large
/// page reads as nil (not a 4 KiB mapping: the page-table rules report it).
struct LeafPTEReader {
  let memory: GuestPhysicalMemory
  let root: UInt64
  private var cachedRegion: UInt64 = .max
  /// Physical address of the cached page table; 0 = none there (not present), 1 = a large page.
  private var cachedTable: UInt64 = 0

  static let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000

  init(memory: GuestPhysicalMemory, root: UInt64) {
    self.memory = memory
    self.root = root
  }

  /// The leaf PTE of `va` and its physical address; (0, nil) when no page table holds
  /// one, nil for a large page or tables outside RAM.
  mutating func entry(_ va: UInt64) -> (value: UInt64, address: UInt64?)? {
    let region = va >> 21
    if region != cachedRegion {
      cachedRegion = region
      cachedTable = pageTable(va)
    }
    if cachedTable == 0 { return (0, nil) }
    if cachedTable == 1 { return nil }
    let address = cachedTable + ((va >> 12) & 511) * 8
    guard let value = memory.load(UInt64.self, at: address) else { return nil }
    return (value, address)
  }

  private func pageTable(_ va: UInt64) -> UInt64 {
    var table = root & Self.addressMask
    for shift in [UInt64(39), 30, 21] {
      guard let entry = memory.load(UInt64.self, at: table + ((va >> shift) & 511) * 8) else { return 1 }
      if entry & 1 == 0 { return 0 }
      if shift != 39 && entry & 0x80 != 0 { return 1 }
      table = entry & Self.addressMask
    }
    return table
  }
}
