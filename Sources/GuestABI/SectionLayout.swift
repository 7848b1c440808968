/// Sections as the guest keeps them and the host decodes them.
///
/// A section object names a control area (NT's CONTROL_AREA): one per file
/// for data sections, one per page-file-backed section. Control areas live
/// in a fixed table in the metadata page (`DebugBlock.controlAreasPhysical`).
/// A control area owns a segment: one prototype PTE per page of the section,
/// kept in pages that a directory page lists, each seen by the kernel through
/// the direct map, so a prototype PTE's address (what view PTEs and PFN
/// records name) is a direct-map virtual address:
///
///   prototype PTE of section page n =
///     directMapBase + directory[n / SegmentLayout.ptesPerPage] + (n % ptesPerPage) * 8
///
/// Prototype PTEs use the software formats of `SoftwarePTE`: valid (the page
/// is in memory), transition (on standby or modified, no view maps it),
/// demand zero (a page-file-backed page never touched), or, for a file page
/// still only in the file, a prototype-format PTE that names the control
/// area itself (NT's subsection PTE). Zero is a page of a SEC_RESERVE
/// section not committed yet.
public enum ControlAreaTable {
  /// Control areas the guest holds at most (STATUS_INSUFFICIENT_RESOURCES beyond).
  public static let slots = 24
}

/// One control-area slot (`ControlAreaTable`); flags 0 is a free slot.
public enum ControlAreaRecord {
  public static let size = 64
  /// UInt32 `ControlAreaFlags`.
  public static let flags = 0
  /// UInt32 section objects open on it (NumberOfSectionReferences).
  public static let sections = 4
  /// UInt32 views mapped, in processes and in system space (NumberOfMappedViews).
  public static let mappedViews = 8
  /// UInt32 section objects plus views in processes (NumberOfUserReferences).
  public static let userReferences = 12
  /// UInt32 pages in memory whose PFN names one of its prototype PTEs (NumberOfPfnReferences).
  public static let pfnReferences = 16
  /// UInt8 the protection code the section was created with.
  public static let protection = 20
  /// UInt8 reserved, zero.
  public static let reserved21 = 21
  /// UInt16 reserved, zero.
  public static let reserved22 = 22
  /// UInt64 the section's size in bytes.
  public static let sizeBytes = 24
  /// UInt64 prototype PTEs in the segment (pages of the section).
  public static let segmentPages = 32
  /// UInt64 physical address of the segment's directory page (`SegmentLayout`), 0 once the segment is deleted.
  public static let segmentDirectory = 40
  /// UInt32 a data section's file: its first cluster on the FAT volume of disk 0.
  public static let fileFirstCluster = 48
  /// UInt32 reserved, zero.
  public static let reserved52 = 52
  /// UInt64 a data section's file size in bytes (what is read from the file; past it pages are zero).
  public static let fileSize = 56
}

/// A control area's flags.
public struct ControlAreaFlags: OptionSet, Sendable, Hashable {
  public var rawValue: UInt32
  @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// The slot holds a control area.
  public static let inUse = Self(rawValue: 1 << 0)
  /// Backed by a file (a data section); otherwise by the page file.
  public static let file = Self(rawValue: 1 << 1)
  /// No section object or view is left: no new one may open it (NT's BeingDeleted).
  public static let beingDeleted = Self(rawValue: 1 << 2)
  /// Page-file-backed and created SEC_RESERVE: pages are committed by views.
  public static let reserve = Self(rawValue: 1 << 3)
}

/// A segment's pages: a directory page of physical addresses (UInt64 each,
/// 0 past the last), each naming a page of 512 prototype PTEs.
public enum SegmentLayout {
  public static let ptesPerPage: UInt64 = 512
  public static let directoryEntries: UInt64 = 512
  /// The most pages a section may have (1 GiB): a larger one is STATUS_INSUFFICIENT_RESOURCES.
  public static let maximumPages: UInt64 = ptesPerPage * directoryEntries
  /// Prototype pages a segment of `pages` pages takes (the directory not counted).
  @inlinable public static func prototypePages(for pages: UInt64) -> UInt64 {
    (pages + ptesPerPage - 1) / ptesPerPage
  }
}

/// Section handles as the guest hands them out, per process (multiples of
/// four, clear of process and file handles).
public enum SectionHandles {
  public static let first: UInt64 = 0xA000
  /// Open section handles the guest holds at most.
  public static let capacity = 64
  /// The process handle that asks NtMapViewOfSection for a view in system
  /// space (the script's "System"; not NtCurrentProcess, which is -1).
  public static let systemProcess: UInt64 = 0xFFFF_FFFF_FFFF_FFF0
}

/// Cc's views of cached files in system space (NT's VACBs over the system
/// cache): `views` windows of `viewSize` bytes from `base`, one page table's
/// worth. Their PTEs are kernel PTEs accounted like a process's: each valid
/// one is a share of the section page it maps.
public enum SystemCacheLayout {
  public static let base: UInt64 = 0xFFFF_FC00_0000_0000
  /// Bytes one view maps (VACB_MAPPING_GRANULARITY).
  public static let viewSize: UInt64 = 256 << 10
  public static let views = 8
  public static let size: UInt64 = viewSize * UInt64(views)
  /// The view slot holding `address`, if it is in the window.
  @inlinable public static func slot(of address: UInt64) -> Int? {
    address >= base && address - base < size ? Int((address - base) / viewSize) : nil
  }
}

/// Views mapped in system space outside Cc (MmMapViewInSystemSpace; a
/// script's NtMapViewOfSection with ProcessHandle "System"): one page table's
/// worth of kernel VA right after Cc's window, handed out in `granularity`
/// pieces, each view described by a `SystemViewRecord`. Their PTEs are kernel
/// PTEs accounted like Cc's; unlike Cc's views each takes a user reference on
/// its control area, as NT's do.
public enum SystemViewLayout {
  public static let base: UInt64 = SystemCacheLayout.base + SystemCacheLayout.size
  public static let size: UInt64 = 512 * 4096
  /// A view starts on, and takes whole, pieces of this size.
  public static let granularity: UInt64 = 64 << 10
  public static let pieces = Int(size / granularity)
  /// Views mapped at most (records in the metadata page).
  public static let views = 8
  @inlinable public static func contains(_ address: UInt64) -> Bool { address >= base && address - base < size }
}

/// One system-space view slot as the host reads it (`DebugBlock.systemViewsPhysical`).
public enum SystemViewRecord {
  public static let size = 32
  /// UInt64 the physical address of the mapped section's control area; 0: the slot is free.
  public static let controlArea = 0
  /// UInt64 the view's first virtual address (in `SystemViewLayout`).
  public static let base = 8
  /// UInt64 the section offset of the view's first byte (a multiple of 64 KiB).
  public static let sectionOffset = 16
  /// UInt32 pages the view maps.
  public static let pages = 24
  /// UInt32 the view's protection code (`PageProtection`: read-only or read/write).
  public static let protection = 28
}

/// One Cc view slot as the host reads it (`DebugBlock.cacheViewsPhysical`).
public enum CacheViewRecord {
  public static let size = 32
  /// UInt64 the physical address of the mapped section's control area; 0: the slot is free.
  public static let controlArea = 0
  /// UInt64 the file offset the view starts at (a multiple of `SystemCacheLayout.viewSize`).
  public static let fileOffset = 8
  /// UInt32 copy operations using the view now.
  public static let active = 16
  /// UInt32 reserved, zero.
  public static let reserved = 20
  /// UInt64 when it was last used (the views' own clock; the least recent idle view is reused first).
  public static let lastUse = 24
}
