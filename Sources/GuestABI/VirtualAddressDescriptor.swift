/// A process's VADs as the guest keeps them and the host decodes them: a table
/// (header, then records sorted by start, no overlaps) in guest memory, whose
/// physical address the process record's `vadRoot` names.
///
/// The header names its layout, so records can grow (sections add views):
/// a reader walks `recordSize` bytes per record and reads the fields it
/// knows. A header whose version and record size are both 0 is the first
/// layout (32-byte records, no view fields), which hosts still decode.
public enum VadTable {
  /// UInt32 records in use.
  public static let count = 0
  /// UInt32 records the table has room for.
  public static let capacity = 4
  /// UInt16 the layout's version (`currentVersion`).
  public static let version = 8
  /// UInt16 bytes per record (`VadRecord.size` for this version).
  public static let recordSize = 10
  /// UInt32 reserved, zero.
  public static let reserved = 12
  /// Records start here.
  public static let headerSize = 16
  public static let currentVersion: UInt16 = 2
  /// The first layout's record size (version 0 in a header of zeros).
  public static let firstLayoutRecordSize = 32
}

/// One VAD record: a reserved range of user pages, or (with sections) a
/// mapped view of a section.
public enum VadRecord {
  public static let size = 48
  /// UInt64 first virtual page number.
  public static let startPage = 0
  /// UInt64 last virtual page number (inclusive).
  public static let endPage = 8
  /// UInt8 protection given at reservation (`PageProtection` code).
  public static let protection = 16
  /// UInt8 `VadType`.
  public static let type = 17
  /// UInt16 `VadFlags`.
  public static let flags = 18
  /// UInt32 pages committed in the range.
  public static let committedPages = 20
  /// UInt64 a mapped view's section: the physical address of its control
  /// area; 0 for private memory. (Version 2.)
  public static let controlArea = 24
  /// UInt64 a mapped view's first page in the section (its offset / 4 KiB). (Version 2.)
  public static let sectionOffsetPages = 32
  /// UInt64 reserved, zero.
  public static let reserved = 40
}

public enum VadType: UInt8, Sendable {
  /// Private memory (NtAllocateVirtualMemory).
  case `private` = 0
  /// A view of a section (arrives with sections).
  case mapped = 1
}

public struct VadFlags: OptionSet, Sendable {
  public var rawValue: UInt16
  public init(rawValue: UInt16) { self.rawValue = rawValue }
  /// The whole range was committed when it was reserved (MEM_RESERVE | MEM_COMMIT).
  public static let committedAtReservation = VadFlags(rawValue: 1 << 0)
}

/// The user half a process may reserve in (NT's lowest and highest user addresses).
public enum UserAddressSpace {
  /// 64 KiB: the first 64 KiB are never reservable.
  public static let lowest: UInt64 = 0x1_0000
  /// One past the highest user address: the last 64 KiB below 2^47 stay out too.
  public static let end: UInt64 = 0x7FFF_FFFF_0000
  /// Reservations start on this boundary.
  public static let allocationGranularity: UInt64 = 0x1_0000
  public static let pageSize: UInt64 = 0x1000
}
