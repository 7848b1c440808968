import GuestABI
import Machine

/// A view mapped in system space outside Cc (MmMapViewInSystemSpace): `pages` pages of
/// a section from `sectionOffset`, at `base` in `SystemViewLayout`'s window, by kernel PTEs.
public struct MmSystemSpaceView: Sendable, Equatable {
  /// The record slot (0 ..< `SystemViewLayout.views`).
  public var slot: Int
  /// Physical address of the mapped section's control area.
  public var controlArea: UInt64
  /// The view's first virtual address.
  public var base: UInt64
  /// Section offset of the view's first byte.
  public var sectionOffset: UInt64
  public var pages: UInt32
  /// The view's protection code (read-only or read/write).
  public var protection: UInt32
}

extension MmState {
  /// The used slots of the system-space view records (control area != 0); a zero count reads nothing.
  static func decodeSystemSpaceViews(memory: GuestPhysicalMemory, at address: UInt64, count: UInt32, recordSize: UInt32)
    throws(MmDecodeError) -> [MmSystemSpaceView]
  {
    guard count == 0 || (count <= SystemViewLayout.views && recordSize >= SystemViewRecord.size && recordSize <= 4096)
    else { throw .systemViewRecords(count: count, recordSize: recordSize) }
    return try ViewRecordTable.decode(
      memory: memory, at: address, count: count, recordSize: recordSize,
      outside: .systemViewsOutsideMemory(address: address, count: count)
    ) { slot, record in
      let area = record.u64(SystemViewRecord.controlArea)
      guard area != 0 else { return nil }
      return MmSystemSpaceView(
        slot: slot, controlArea: area, base: record.u64(SystemViewRecord.base),
        sectionOffset: record.u64(SystemViewRecord.sectionOffset), pages: record.u32(SystemViewRecord.pages),
        protection: record.u32(SystemViewRecord.protection))
    }
  }
}
