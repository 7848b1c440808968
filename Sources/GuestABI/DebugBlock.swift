/// The record the guest hands the host at boot (`HypercallKind.debugBlock`,
/// arg0 = its physical address). The host finds every Mm structure through it
/// and never hard-codes a guest address. Little-endian; fields only appended.
public enum DebugBlock {
  /// UInt32 "MMDB".
  public static let magic = 0
  /// UInt32 `currentVersion`.
  public static let version = 4
  /// UInt32 bytes of the block as the guest wrote it (newer hosts read only what is there).
  public static let size = 8
  /// UInt32 `PageFrameRecord.size` as the guest built the database.
  public static let pfnRecordSize = 12
  /// UInt64 physical address of PFN 0's record.
  public static let pfnDatabasePhysical = 16
  /// UInt64 records in the database (highest PFN + 1; holes included).
  public static let pfnCount = 24
  /// UInt64 physical address of `PageLocation.listCount` `PageListHead`s, in `PageLocation` order.
  public static let listHeadsPhysical = 32
  /// UInt64 the kernel's PML4 (physical).
  public static let kernelRoot = 40
  /// UInt32 the PML4 slot that maps the PML4 itself.
  public static let selfMapSlot = 48
  /// UInt32 windows that follow (`windowsPhysical`).
  public static let windowCount = 52
  /// UInt64 physical address of `windowCount` `DebugWindow` records.
  public static let windowsPhysical = 56
  /// UInt64 physical address of the process table (`ProcessRecord`s).
  public static let processTablePhysical = 64
  /// UInt32 process slots in the table.
  public static let processCount = 72
  /// UInt32 `ProcessRecord.size` as the guest wrote them.
  public static let processRecordSize = 76
  /// UInt64 pages the memory manager considers available (zeroed + free + standby), as it counts them.
  public static let availablePages = 80
  /// UInt64 physical address of the control-area table (`ControlAreaTable.slots` `ControlAreaRecord`s). (Version 2.)
  public static let controlAreasPhysical = 88
  /// UInt32 control-area slots in the table. (Version 2.)
  public static let controlAreaSlots = 96
  /// UInt32 `ControlAreaRecord.size` as the guest wrote them. (Version 2.)
  public static let controlAreaRecordSize = 100
  /// UInt64 physical address of `SystemCacheLayout.views` `CacheViewRecord`s. (Version 2.)
  public static let cacheViewsPhysical = 104
  /// UInt32 Cc view slots. (Version 2.)
  public static let cacheViewCount = 112
  /// UInt32 `CacheViewRecord.size` as the guest wrote them. (Version 2.)
  public static let cacheViewRecordSize = 116
  /// UInt64 physical address of `SystemViewLayout.views` `SystemViewRecord`s. (Version 3.)
  public static let systemViewsPhysical = 120
  /// UInt32 system-space view slots. (Version 3.)
  public static let systemViewCount = 128
  /// UInt32 `SystemViewRecord.size` as the guest wrote them. (Version 3.)
  public static let systemViewRecordSize = 132
  public static let currentSize = 136

  public static let magicValue: UInt32 = 0x4244_4D4D  // "MMDB"
  public static let currentVersion: UInt32 = 3
}

/// A kernel virtual range whose mappings are not accounted per PTE in the PFN
/// database: the direct map of RAM, the self-map, the bench region.
public enum DebugWindow {
  public static let size = 24
  /// UInt64 first virtual address.
  public static let start = 0
  /// UInt64 bytes.
  public static let length = 8
  /// UInt32 `DebugWindowKind`.
  public static let kind = 16
  public static let reserved = 20
}

public enum DebugWindowKind: UInt32, Sendable {
  /// All RAM, mapped at `KernelLayout.directMapBase` in large pages.
  case directMap = 1
  /// The self-map slot's 512 GiB.
  case selfMap = 2
  /// `BenchLayout`'s region.
  case benchRegion = 3
  /// `UserLayout`'s code pages, in every process.
  case userCode = 4
  /// `ScriptWindow`: the script interpreter's buffers, in every process and
  /// the kernel's own address space, when the guest runs a script.
  case scriptBuffers = 5
  /// `KernelLayout.deviceWindowBase`: device registers (PCI BARs), not RAM.
  case deviceRegisters = 6
}

/// One process slot. A slot with id 0 is unused (the kernel is not in the table).
public enum ProcessRecord {
  public static let size = 32
  /// UInt32 process id (nonzero).
  public static let id = 0
  /// UInt32 flags (reserved).
  public static let flags = 4
  /// UInt64 the process's PML4 (physical).
  public static let root = 8
  /// UInt64 physical address of its VAD tree's root node, or 0.
  public static let vadRoot = 16
  /// UInt64 physical address of its working-set list, or 0.
  public static let workingSet = 24
}
