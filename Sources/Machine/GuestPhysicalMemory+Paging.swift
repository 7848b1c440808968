import X86Paging

/// The paging model reads guest RAM in place: whole table pages as views, so
/// a dump scans 512 entries without a call per entry.
extension GuestPhysicalMemory: MutablePhysicalMemory {
  public func load64(_ physicalAddress: UInt64) -> UInt64? { load(UInt64.self, at: physicalAddress) }

  public func load32(_ physicalAddress: UInt64) -> UInt32? { load(UInt32.self, at: physicalAddress) }

  public func tablePage(_ physicalAddress: UInt64) -> UnsafeRawBufferPointer? {
    guard physicalAddress & 0xFFF == 0 else { return nil }
    return bytes(at: physicalAddress, count: 4096)
  }

  @discardableResult
  public func store64(_ value: UInt64, at physicalAddress: UInt64) -> Bool { store(value, at: physicalAddress) }

  @discardableResult
  public func store32(_ value: UInt32, at physicalAddress: UInt64) -> Bool { store(value, at: physicalAddress) }
}
