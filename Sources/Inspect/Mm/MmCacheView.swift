import GuestABI
import Machine

/// One of Cc's views of a cached file in system space (a VACB): `SystemCacheLayout.viewSize`
/// bytes of the file's data section from `fileOffset`, mapped at `start` by kernel PTEs.
public struct MmCacheView: Sendable, Equatable {
  /// The view slot (0 ..< `SystemCacheLayout.views`).
  public var slot: Int
  /// Physical address of the mapped section's control area.
  public var controlArea: UInt64
  /// File offset of the view's first byte.
  public var fileOffset: UInt64
  /// Copy operations using the view now (an active view is never reused).
  public var active: UInt32
  /// Cc's clock at the view's last use (the least recent idle view is reused first).
  public var lastUse: UInt64

  /// The view's first virtual address.
  public var start: UInt64 { SystemCacheLayout.base + UInt64(slot) * SystemCacheLayout.viewSize }
}

extension MmState {
  /// The used slots of Cc's view records (control area != 0), bounded by the system cache's
  /// own size; a zero count reads nothing.
  static func decodeCacheViews(memory: GuestPhysicalMemory, at address: UInt64, count: UInt32, recordSize: UInt32)
    throws(MmDecodeError) -> [MmCacheView]
  {
    guard count == 0 || (count <= SystemCacheLayout.views && recordSize >= CacheViewRecord.size && recordSize <= 4096)
    else {
      throw .cacheViewRecords(count: count, recordSize: recordSize)
    }
    return try ViewRecordTable.decode(
      memory: memory, at: address, count: count, recordSize: recordSize,
      outside: .cacheViewsOutsideMemory(address: address, count: count)
    ) { slot, record in
      let area = record.u64(CacheViewRecord.controlArea)
      guard area != 0 else { return nil }
      return MmCacheView(
        slot: slot, controlArea: area, fileOffset: record.u64(CacheViewRecord.fileOffset),
        active: record.u32(CacheViewRecord.active), lastUse: record.u64(CacheViewRecord.lastUse))
    }
  }
}

/// A table of view records (Cc's or the system-space views') read in one piece:
/// each slot's little-endian fields handed to a decoder, which skips free slots.
struct ViewRecordTable {
  let bytes: UnsafeRawBufferPointer
  let base: Int

  func u64(_ offset: Int) -> UInt64 {
    UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: base + offset, as: UInt64.self))
  }
  func u32(_ offset: Int) -> UInt32 {
    UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: base + offset, as: UInt32.self))
  }

  /// The decoded used slots of `count` records of `recordSize` bytes at `address` (the
  /// caller has bounded both); `outside` when they are not in guest RAM. A zero count reads nothing.
  static func decode<T>(
    memory: GuestPhysicalMemory, at address: UInt64, count: UInt32, recordSize: UInt32, outside: MmDecodeError,
    _ body: (Int, ViewRecordTable) -> T?
  ) throws(MmDecodeError) -> [T] {
    guard count > 0 else { return [] }
    let stride = Int(recordSize)
    guard let table = memory.bytes(at: address, count: Int(count) * stride) else { throw outside }
    return (0..<Int(count)).compactMap { body($0, ViewRecordTable(bytes: table, base: $0 * stride)) }
  }
}
