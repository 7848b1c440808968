import X86Paging

/// The paging model reads guest RAM in place: whole table pages as views, so
/// a dump scans 512 entries without a call per entry. Inlinable so walks in
/// other modules specialize with them: behind a module boundary the same walk
/// ran 4-5x slower (86 against 388 M leaf PTEs/s).
extension GuestPhysicalMemory: MutablePhysicalMemory {
  @inlinable
  public func load64(_ physicalAddress: UInt64) -> UInt64? { load(UInt64.self, at: physicalAddress) }

  @inlinable
  public func load32(_ physicalAddress: UInt64) -> UInt32? { load(UInt32.self, at: physicalAddress) }

  @inlinable
  public func tablePage(_ physicalAddress: UInt64) -> UnsafeRawBufferPointer? {
    guard physicalAddress & 0xFFF == 0 else { return nil }
    return bytes(at: physicalAddress, count: 4096)
  }

  @discardableResult
  public func store64(_ value: UInt64, at physicalAddress: UInt64) -> Bool { store(value, at: physicalAddress) }

  @discardableResult
  public func store32(_ value: UInt32, at physicalAddress: UInt64) -> Bool { store(value, at: physicalAddress) }
}

extension GuestPhysicalMemory {
  /// X86Paging's `forEachLeaf` over guest memory, specialized in this module.
  /// Callers in other modules use this: there the generic enumerator ran 4-5x
  /// slower (86 against 388 M leaf PTEs/s in `mmlab bench`), its
  /// specialization for this type apparently not made or not inlined.
  public func forEachLeaf(
    context: PagingContext, limit: Int = 1 << 24, tableLimit: Int = 1 << 18, body: (Leaf) -> Void
  ) -> EnumerationSummary {
    X86Paging.forEachLeaf(context: context, memory: self, limit: limit, tableLimit: tableLimit, body: body)
  }
}
