#if canImport(GuestABI)
  import GuestABI
#endif

/// One VAD as a value: a reserved range of user pages.
public struct VadEntry: Equatable, Sendable {
  /// First virtual page number.
  public var startPage: UInt64
  /// Last virtual page number (inclusive).
  public var endPage: UInt64
  /// Protection given at reservation.
  public var protection: UInt8
  public var type: VadType
  public var flags: VadFlags
  /// Pages committed in the range.
  public var committedPages: UInt32
  /// A mapped view's section (its control area's physical address) and first
  /// page in it; 0 and 0 for private memory.
  public var controlArea: UInt64
  public var sectionOffsetPages: UInt64

  public init(
    startPage: UInt64, endPage: UInt64, protection: UInt8, type: VadType = .private, flags: VadFlags = [],
    committedPages: UInt32 = 0, controlArea: UInt64 = 0, sectionOffsetPages: UInt64 = 0
  ) {
    self.startPage = startPage
    self.endPage = endPage
    self.protection = protection
    self.type = type
    self.flags = flags
    self.committedPages = committedPages
    self.controlArea = controlArea
    self.sectionOffsetPages = sectionOffsetPages
  }

  public var pageCount: UInt64 { endPage - startPage + 1 }
  /// A zero PTE in the range means "committed with the VAD's protection".
  public var isCommittedAtReservation: Bool { flags.contains(.committedAtReservation) }
  public func contains(page: UInt64) -> Bool { page >= startPage && page <= endPage }
}

/// A process's VAD table in raw memory, in GuestABI's layout (`VadTable`
/// header, then `VadRecord`s sorted by start page, no overlaps). A view: the
/// memory is the state, copies of the view share it.
public struct VadTableView {
  public let base: UnsafeMutableRawPointer
  /// Records the memory has room for.
  public let capacity: Int

  /// Attaches to the table at `base`, `byteCount` bytes long, keeping the
  /// records it holds (its count must not exceed the room); writes the capacity.
  public init(attachingTo base: UnsafeMutableRawPointer, byteCount: Int) {
    self.base = base
    let room = byteCount < VadTable.headerSize ? 0 : (byteCount - VadTable.headerSize) / VadRecord.size
    capacity = min(room, Int(UInt32.max))
    base.storeBytes(of: UInt32(capacity), toByteOffset: VadTable.capacity, as: UInt32.self)
  }

  /// An empty table at `base` (`byteCount` bytes, at least the header).
  public static func format(_ base: UnsafeMutableRawPointer, byteCount: Int) -> VadTableView {
    base.storeBytes(of: UInt32(0), toByteOffset: VadTable.count, as: UInt32.self)
    base.storeBytes(of: VadTable.currentVersion, toByteOffset: VadTable.version, as: UInt16.self)
    base.storeBytes(of: UInt16(VadRecord.size), toByteOffset: VadTable.recordSize, as: UInt16.self)
    base.storeBytes(of: UInt32(0), toByteOffset: VadTable.reserved, as: UInt32.self)
    return VadTableView(attachingTo: base, byteCount: byteCount)
  }

  /// Records in use.
  public var count: Int {
    Int(base.load(fromByteOffset: VadTable.count, as: UInt32.self))
  }

  private func setCount(_ value: Int) {
    base.storeBytes(of: UInt32(value), toByteOffset: VadTable.count, as: UInt32.self)
  }

  private func record(_ index: Int) -> UnsafeMutableRawPointer {
    base + VadTable.headerSize + index * VadRecord.size
  }
}

extension VadTableView {
  /// The record at `index` (< count).
  public subscript(index: Int) -> VadEntry {
    get {
      let r = record(index)
      let type = VadType(rawValue: r.load(fromByteOffset: VadRecord.type, as: UInt8.self)) ?? .mapped
      // A private VAD's view fields are 0: not read (on kvm-pvm each load at CPL 0 is emulated).
      let mapped = type == .mapped
      return VadEntry(
        startPage: r.load(fromByteOffset: VadRecord.startPage, as: UInt64.self),
        endPage: r.load(fromByteOffset: VadRecord.endPage, as: UInt64.self),
        protection: r.load(fromByteOffset: VadRecord.protection, as: UInt8.self), type: type,
        flags: VadFlags(rawValue: r.load(fromByteOffset: VadRecord.flags, as: UInt16.self)),
        committedPages: r.load(fromByteOffset: VadRecord.committedPages, as: UInt32.self),
        controlArea: mapped ? r.load(fromByteOffset: VadRecord.controlArea, as: UInt64.self) : 0,
        sectionOffsetPages: mapped ? r.load(fromByteOffset: VadRecord.sectionOffsetPages, as: UInt64.self) : 0)
    }
    nonmutating set {
      let r = record(index)
      r.storeBytes(of: newValue.startPage, toByteOffset: VadRecord.startPage, as: UInt64.self)
      r.storeBytes(of: newValue.endPage, toByteOffset: VadRecord.endPage, as: UInt64.self)
      r.storeBytes(of: newValue.protection, toByteOffset: VadRecord.protection, as: UInt8.self)
      r.storeBytes(of: newValue.type.rawValue, toByteOffset: VadRecord.type, as: UInt8.self)
      r.storeBytes(of: newValue.flags.rawValue, toByteOffset: VadRecord.flags, as: UInt16.self)
      r.storeBytes(of: newValue.committedPages, toByteOffset: VadRecord.committedPages, as: UInt32.self)
      r.storeBytes(of: newValue.controlArea, toByteOffset: VadRecord.controlArea, as: UInt64.self)
      r.storeBytes(of: newValue.sectionOffsetPages, toByteOffset: VadRecord.sectionOffsetPages, as: UInt64.self)
      r.storeBytes(of: UInt64(0), toByteOffset: VadRecord.reserved, as: UInt64.self)
    }
  }

  /// The index of the first record starting after `page` (count if none): binary search.
  public func firstIndex(startingAfter page: UInt64) -> Int {
    var low = 0
    var high = count
    while low < high {
      let middle = (low + high) / 2
      if record(middle).load(fromByteOffset: VadRecord.startPage, as: UInt64.self) > page {
        high = middle
      } else {
        low = middle + 1
      }
    }
    return low
  }

  /// The index of the record whose range holds `page`, if any.
  public func index(containing page: UInt64) -> Int? {
    let after = firstIndex(startingAfter: page)
    guard after > 0 else { return nil }
    let end = record(after - 1).load(fromByteOffset: VadRecord.endPage, as: UInt64.self)
    return end >= page ? after - 1 : nil
  }

  /// Inserts `entry` at `index`, moving later records up; false when full.
  /// The caller keeps the order and the ranges disjoint.
  public func insert(_ entry: VadEntry, at index: Int) -> Bool {
    let used = count
    guard used < capacity, index >= 0, index <= used else { return false }
    if index < used {
      record(index + 1).copyMemory(from: record(index), byteCount: (used - index) * VadRecord.size)
    }
    self[index] = entry
    setCount(used + 1)
    return true
  }

  /// Removes the record at `index` (< count), moving later records down.
  public func remove(at index: Int) {
    let used = count
    if index + 1 < used {
      record(index).copyMemory(from: record(index + 1), byteCount: (used - index - 1) * VadRecord.size)
    }
    setCount(used - 1)
    record(used - 1).initializeMemory(as: UInt8.self, repeating: 0, count: VadRecord.size)
  }
}
