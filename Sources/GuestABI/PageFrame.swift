/// Which list a physical page is on, or how it is in use (NT's MMLISTS /
/// PageLocation). The raw value is what the PFN record stores.
public enum PageLocation: UInt8, Sendable, CaseIterable {
  case zeroed = 0
  case free = 1
  case standby = 2
  case modified = 3
  case modifiedNoWrite = 4
  case bad = 5
  case activeAndValid = 6
  case transition = 7

  /// Locations that are page lists (linked, with a head and a total).
  public static let listCount = 6
  public var isList: Bool { rawValue < 6 }
}

/// What a page is used for, beyond its location: lets the host apply the right
/// accounting rule to pages the memory manager did not hand out itself.
public enum PageUsage: UInt8, Sendable, CaseIterable {
  /// Memory-manager page: on a list, or mapped by PTEs it accounts.
  case general = 0
  /// Part of the kernel image, mapped once by the kernel's own tables.
  case kernelImage = 1
  /// A paging structure; its share count is the number of its live (nonzero) entries.
  case pageTable = 2
  /// The PFN database itself.
  case pfnDatabase = 3
  /// What the loader put in RAM before the kernel ran (boot information).
  case loaderReserved = 4
  /// Backs a debug window (`DebugBlock` windows): mapped, but not accounted per PTE.
  case windowBacking = 5
  /// Not RAM at all (a hole in the memory map); the record exists only to keep the array dense.
  case hole = 6
  /// Holds a segment's prototype PTEs, or its directory (`SegmentLayout`):
  /// owned by one control area, seen only through the direct map.
  case segment = 7
}

/// Flags of a PFN record (the `flags` byte).
public struct PageFrameFlags: OptionSet, Sendable {
  public var rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }
  /// Content differs from its backing store.
  public static let modified = PageFrameFlags(rawValue: 1 << 0)
  /// Mapped through a prototype PTE (the PTE address names the prototype).
  public static let prototype = PageFrameFlags(rawValue: 1 << 1)
  public static let readInProgress = PageFrameFlags(rawValue: 1 << 2)
  public static let writeInProgress = PageFrameFlags(rawValue: 1 << 3)
}

/// Layout of one PFN database record: 48 bytes (NT x64's MMPFN is 48 too),
/// little-endian, records packed in PFN order from PFN 0.
public enum PageFrameRecord {
  public static let size = 48
  /// UInt32 next PFN on the page's list, or `noPage`.
  public static let next = 0
  /// UInt32 previous PFN on the page's list, or `noPage`.
  public static let previous = 4
  /// UInt32 number of valid PTEs (or, for a page table, live entries) using the page.
  public static let shareCount = 8
  /// UInt16 share users plus I/O and lock holders.
  public static let referenceCount = 12
  /// UInt8 `PageLocation`.
  public static let location = 14
  /// UInt8 `PageFrameFlags`.
  public static let flags = 15
  /// UInt64 virtual address (through the self-map) of the PTE or prototype PTE mapping the page; 0 if none.
  public static let pteAddress = 16
  /// UInt64 the software PTE to restore when the page leaves memory.
  public static let originalPTE = 24
  /// UInt32 PFN of the page table holding that PTE, or `noPage`.
  public static let pteFrame = 32
  /// UInt32 index of the page's entry in its process's working set, or `noPage`.
  public static let workingSetIndex = 36
  /// UInt16 owning process id (0 = the kernel).
  public static let owner = 40
  /// UInt8 `PageUsage`.
  public static let usage = 42
  /// UInt8 page colour (cache colour the allocator matches).
  public static let color = 43
  /// UInt32 reserved, zero.
  public static let reserved = 44

  /// "No PFN": list ends, an unset PTE frame or working-set index.
  public static let noPage: UInt32 = 0xFFFF_FFFF
}

/// Layout of a page-list head: first and last PFN and the list's total.
public enum PageListHead {
  public static let size = 16
  /// UInt32 first PFN, or `PageFrameRecord.noPage` when empty.
  public static let first = 0
  /// UInt32 last PFN, or `PageFrameRecord.noPage` when empty.
  public static let last = 4
  /// UInt64 pages on the list.
  public static let total = 8
}
