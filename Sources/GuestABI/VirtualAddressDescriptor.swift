/// A process's VADs as the guest keeps them and the host decodes them: a table
/// (header, then records sorted by start, no overlaps) in guest memory, whose
/// physical address the process record's `vadRoot` names.
public enum VadTable {
  /// UInt32 records in use.
  public static let count = 0
  /// UInt32 records the table has room for.
  public static let capacity = 4
  /// UInt64 reserved, zero.
  public static let reserved = 8
  /// Records start here.
  public static let headerSize = 16
}

/// One VAD record: a reserved range of user pages.
public enum VadRecord {
  public static let size = 32
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
  /// UInt64 reserved, zero.
  public static let reserved = 24
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
