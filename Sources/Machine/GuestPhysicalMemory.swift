import X86Paging

/// Guest physical memory as the host sees it: RAM ranges mapped into this
/// process. Every access is bounds-checked; reads return views, not copies.
/// The guest is hostile input: nothing read from it is trusted as an address.
public struct GuestPhysicalMemory: @unchecked Sendable {
  /// One contiguous range of guest RAM backed by host memory.
  public struct Region: @unchecked Sendable {
    /// Guest physical address of the first byte.
    public var base: UInt64
    /// The host mapping of the range.
    public var bytes: UnsafeMutableRawBufferPointer
    public var end: UInt64 { base + UInt64(bytes.count) }
    public init(base: UInt64, bytes: UnsafeMutableRawBufferPointer) {
      self.base = base
      self.bytes = bytes
    }
  }

  /// Regions sorted by base, non-overlapping.
  public let regions: [Region]

  public init(regions: [Region]) {
    self.regions = regions.sorted { $0.base < $1.base }
  }

  /// The region holding `[address, address + count)`, and the offset of `address` in it.
  @inlinable
  func locate(_ address: UInt64, count: Int) -> (region: Int, offset: Int)? {
    for index in regions.indices {
      let region = regions[index]
      guard address >= region.base else { continue }
      let offset = address &- region.base
      guard offset < UInt64(region.bytes.count),
        UInt64(count) <= UInt64(region.bytes.count) - offset
      else { continue }
      return (index, Int(offset))
    }
    return nil
  }

  /// `count` bytes at `address`, in place; nil if any byte is outside RAM.
  @inlinable
  public func bytes(at address: UInt64, count: Int) -> UnsafeRawBufferPointer? {
    guard count >= 0, let (region, offset) = locate(address, count: count) else { return nil }
    return UnsafeRawBufferPointer(rebasing: regions[region].bytes[offset..<(offset + count)])
  }

  /// Writable bytes at `address`, in place; nil if any byte is outside RAM.
  public func mutableBytes(at address: UInt64, count: Int) -> UnsafeMutableRawBufferPointer? {
    guard count >= 0, let (region, offset) = locate(address, count: count) else { return nil }
    return UnsafeMutableRawBufferPointer(rebasing: regions[region].bytes[offset..<(offset + count)])
  }

  /// A little-endian integer at `address`; nil if outside RAM.
  @inlinable
  public func load<T: FixedWidthInteger>(_ type: T.Type, at address: UInt64) -> T? {
    guard let (region, offset) = locate(address, count: MemoryLayout<T>.size) else { return nil }
    return T(littleEndian: regions[region].bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
  }

  /// Stores a little-endian integer at `address`; false if outside RAM.
  @discardableResult
  public func store<T: FixedWidthInteger>(_ value: T, at address: UInt64) -> Bool {
    guard let (region, offset) = locate(address, count: MemoryLayout<T>.size) else { return false }
    regions[region].bytes.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    return true
  }

  /// Copies `data` into guest memory at `address`; false (and nothing written) if it does not fit.
  @discardableResult
  public func write(_ data: some Collection<UInt8>, at address: UInt64) -> Bool {
    guard let target = mutableBytes(at: address, count: data.count) else { return false }
    target.copyBytes(from: data)
    return true
  }

  /// Total bytes of RAM.
  public var size: UInt64 { regions.reduce(0) { $0 + UInt64($1.bytes.count) } }
}
