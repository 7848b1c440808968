// Merging enumerated leaves into ranges of one page size and the same rights (QEMU's
// `info mem`).

/// A run of pages with contiguous linear addresses, one page size and the same effective
/// rights, as QEMU's `info mem` prints them.
public struct MappingRange: Sendable, Hashable, CustomStringConvertible {
  /// First linear address.
  public var start: UInt64
  /// Bytes covered.
  public var size: UInt64
  /// Every page in the range has this size (ranges split where the size changes).
  public var pageSize: PageSize
  public var pageCount: Int
  public var user: Bool
  public var writable: Bool
  public var executable: Bool
  /// Some page in the range (or an entry above it) has reserved bits set.
  public var hasReservedBits: Bool
  /// Physical address of the first page.
  public var physicalStart: UInt64
  /// Every page follows the previous one physically too.
  public var physicallyContiguous: Bool

  @inlinable
  public init(
    start: UInt64, size: UInt64, pageSize: PageSize, pageCount: Int, user: Bool, writable: Bool,
    executable: Bool, hasReservedBits: Bool, physicalStart: UInt64, physicallyContiguous: Bool
  ) {
    self.start = start
    self.size = size
    self.pageSize = pageSize
    self.pageCount = pageCount
    self.user = user
    self.writable = writable
    self.executable = executable
    self.hasReservedBits = hasReservedBits
    self.physicalStart = physicalStart
    self.physicallyContiguous = physicallyContiguous
  }

  /// One past the last address (wraps to 0 for a range that ends at the top of the space).
  @inlinable public var end: UInt64 { start &+ size }
  /// The last address in the range.
  @inlinable public var last: UInt64 { start &+ (size &- 1) }

  /// "start-end size urwx" like QEMU's `info mem`, plus the page size and count.
  public var description: String {
    let rights = (user ? "u" : "-") + "r" + (writable ? "w" : "-") + (executable ? "x" : "-")
    var line =
      "\(hex(start, digits: 16).dropFirst(2))-\(hex(end, digits: 16).dropFirst(2)) "
      + "\(hex(size, digits: 16).dropFirst(2)) \(rights) \(pageCount)x\(pageSize)"
    if hasReservedBits { line += " RSVD" }
    return line
  }
}

/// Merges leaves, fed in ascending linear-address order, into `MappingRange`s. A range
/// grows while the next leaf starts where it ends and has the same page size, U/W/X
/// rights and reserved-bit status. No allocation except the output array.
public struct MappingRangeMerger: Sendable {
  @usableFromInline var finished: [MappingRange] = []
  /// The range being grown; meaningful only if `growing`.
  @usableFromInline var current = MappingRange(
    start: 0, size: 0, pageSize: .size4KiB, pageCount: 0, user: false, writable: false, executable: false,
    hasReservedBits: false, physicalStart: 0, physicallyContiguous: false)
  @usableFromInline var growing = false

  public init() {}

  /// The ranges closed so far (the one being grown is not included until `finish`).
  public var ranges: [MappingRange] { finished }

  @inlinable
  public mutating func add(_ leaf: Leaf) {
    if let closed = push(leaf) { finished.append(closed) }
  }

  /// Adds `leaf` without keeping closed ranges: returns the range it closed, if any
  /// (streaming callers write it out; `close` returns the last one).
  @inlinable
  public mutating func push(_ leaf: Leaf) -> MappingRange? {
    let reserved = leaf.reservedBits != 0
    var closed: MappingRange? = nil
    if growing {
      if leaf.virtualAddress == current.start &+ current.size, leaf.pageSize == current.pageSize,
        leaf.user == current.user, leaf.writable == current.writable, leaf.executable == current.executable,
        reserved == current.hasReservedBits
      {
        if current.physicallyContiguous && leaf.physicalAddress != current.physicalStart &+ current.size {
          current.physicallyContiguous = false
        }
        current.size &+= leaf.pageSize.bytes
        current.pageCount &+= 1
        return nil
      }
      closed = current
    }
    growing = true
    current = MappingRange(
      start: leaf.virtualAddress, size: leaf.pageSize.bytes, pageSize: leaf.pageSize, pageCount: 1,
      user: leaf.user, writable: leaf.writable, executable: leaf.executable, hasReservedBits: reserved,
      physicalStart: leaf.physicalAddress, physicallyContiguous: true)
    return closed
  }

  /// Closes the range being grown and returns it (streaming counterpart of `finish`).
  public mutating func close() -> MappingRange? {
    guard growing else { return nil }
    growing = false
    return current
  }

  /// Closes the range being grown and returns all ranges.
  public mutating func finish() -> [MappingRange] {
    if growing {
      finished.append(current)
      growing = false
    }
    return finished
  }
}
