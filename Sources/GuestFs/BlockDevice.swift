#if canImport(GuestMm)
  import GuestMm
#endif

/// What the file system needs from a disk: 512-byte sectors by number, and a
/// flush that makes earlier writes durable. The guest's virtio-blk driver is
/// one; the host tests use a buffer. A failing call's status reaches the
/// caller of the file system unchanged (NT passes device errors up the same way).
public protocol BlockDevice {
  /// The device's size in 512-byte sectors.
  var sectorCount: UInt64 { get }
  /// Reads `count` sectors from `sector` into `into` (count * 512 bytes).
  mutating func read(sector: UInt64, count: Int, into: UnsafeMutableRawPointer) -> Status
  /// Writes `count` sectors at `sector` from `from` (count * 512 bytes).
  mutating func write(sector: UInt64, count: Int, from: UnsafeRawPointer) -> Status
  /// Makes every completed write durable.
  mutating func flush() -> Status
}
