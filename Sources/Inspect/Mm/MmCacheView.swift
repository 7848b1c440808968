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
    guard count > 0 else { return [] }
    guard count <= SystemCacheLayout.views, recordSize >= CacheViewRecord.size, recordSize <= 4096 else {
      throw .cacheViewRecords(count: count, recordSize: recordSize)
    }
    let stride = Int(recordSize)
    guard let table = memory.bytes(at: address, count: Int(count) * stride) else {
      throw .cacheViewsOutsideMemory(address: address, count: count)
    }
    func u64(_ offset: Int) -> UInt64 {
      UInt64(littleEndian: table.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    func u32(_ offset: Int) -> UInt32 {
      UInt32(littleEndian: table.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    return (0..<Int(count)).compactMap { slot in
      let base = slot * stride
      let area = u64(base + CacheViewRecord.controlArea)
      guard area != 0 else { return nil }
      return MmCacheView(
        slot: slot, controlArea: area, fileOffset: u64(base + CacheViewRecord.fileOffset),
        active: u32(base + CacheViewRecord.active), lastUse: u64(base + CacheViewRecord.lastUse))
    }
  }
}
