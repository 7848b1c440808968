// The memory the model reads paging structures from. Guest memory is hostile
// input: every read may fail (nil) and the model never assumes a table exists.

/// Physical memory the paging model can read. Reads never mutate, so class- and
/// pointer-backed memories (mmap'ed guest RAM, a core file) conform directly.
public protocol PhysicalMemory {
  /// The little-endian 64-bit value at `physicalAddress`, or nil outside memory.
  func load64(_ physicalAddress: UInt64) -> UInt64?
  /// The little-endian 32-bit value at `physicalAddress`, or nil outside memory.
  func load32(_ physicalAddress: UInt64) -> UInt32?
  /// A whole paging-structure page (4096 bytes, 4 KiB aligned) in place, or nil (then the
  /// model falls back to load64/load32). Default implementation returns nil.
  ///
  /// The buffer must stay valid and unchanged while the caller scans it (the model never
  /// keeps it beyond one table scan).
  func tablePage(_ physicalAddress: UInt64) -> UnsafeRawBufferPointer?
}

extension PhysicalMemory {
  @inlinable
  public func tablePage(_ physicalAddress: UInt64) -> UnsafeRawBufferPointer? { nil }
}

/// Physical memory the model can also write: only `applyAccessedDirty` and
/// `PageTableBuilder` do.
public protocol MutablePhysicalMemory: PhysicalMemory {
  /// false if outside memory.
  @discardableResult func store64(_ value: UInt64, at physicalAddress: UInt64) -> Bool
  /// false if outside memory.
  @discardableResult func store32(_ value: UInt32, at physicalAddress: UInt64) -> Bool
}

/// Size of a paging-structure page and of the smallest page.
@usableFromInline let pageBytes: UInt64 = 4096

/// A sparse, zero-filled physical memory of `size` bytes made of 4 KiB pages that
/// are allocated on first write. Addresses at or above `size` are outside memory.
/// For tests and for building page tables by hand. Not thread-safe.
public final class SparsePhysicalMemory: MutablePhysicalMemory {
  /// Bytes of memory; `[0, size)` exists.
  public let size: UInt64
  private var pages: [UInt64: UnsafeMutableRawPointer] = [:]
  private let zeroPage: UnsafeMutableRawPointer

  /// A memory of `size` bytes, all zero.
  public init(size: UInt64) {
    self.size = size
    zeroPage = UnsafeMutableRawPointer.allocate(byteCount: Int(pageBytes), alignment: Int(pageBytes))
    zeroPage.initializeMemory(as: UInt8.self, repeating: 0, count: Int(pageBytes))
  }

  deinit {
    for page in pages.values { page.deallocate() }
    zeroPage.deallocate()
  }

  /// Number of pages written so far.
  public var allocatedPageCount: Int { pages.count }

  /// True if `[address, address + count)` lies inside memory.
  public func contains(_ address: UInt64, count: UInt64) -> Bool {
    address < size && count <= size - address
  }

  private func readablePage(_ frame: UInt64) -> UnsafeMutableRawPointer {
    pages[frame] ?? zeroPage
  }

  private func writablePage(_ frame: UInt64) -> UnsafeMutableRawPointer {
    if let page = pages[frame] { return page }
    let page = UnsafeMutableRawPointer.allocate(byteCount: Int(pageBytes), alignment: Int(pageBytes))
    page.initializeMemory(as: UInt8.self, repeating: 0, count: Int(pageBytes))
    pages[frame] = page
    return page
  }

  /// `count` bytes at `address`, or nil if any is outside memory.
  public func read(_ address: UInt64, count: Int) -> [UInt8]? {
    guard count >= 0, contains(address, count: UInt64(count)) else { return nil }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count)
    for i in 0..<UInt64(count) {
      let a = address + i
      bytes.append(readablePage(a & ~(pageBytes - 1)).load(fromByteOffset: Int(a & (pageBytes - 1)), as: UInt8.self))
    }
    return bytes
  }

  /// Writes `bytes` at `address`; false (and nothing written) if any byte is outside memory.
  @discardableResult
  public func write(_ bytes: some Collection<UInt8>, at address: UInt64) -> Bool {
    guard contains(address, count: UInt64(bytes.count)) else { return false }
    var a = address
    for byte in bytes {
      writablePage(a & ~(pageBytes - 1)).storeBytes(of: byte, toByteOffset: Int(a & (pageBytes - 1)), as: UInt8.self)
      a += 1
    }
    return true
  }

  private func load<T: FixedWidthInteger>(_ address: UInt64, as: T.Type) -> T? {
    let width = UInt64(MemoryLayout<T>.size)
    guard contains(address, count: width) else { return nil }
    let offset = address & (pageBytes - 1)
    if offset + width <= pageBytes {
      return T(littleEndian: readablePage(address - offset).loadUnaligned(fromByteOffset: Int(offset), as: T.self))
    }
    guard let bytes = read(address, count: Int(width)) else { return nil }
    return bytes.reversed().reduce(T.zero) { $0 << 8 | T($1) }
  }

  private func store<T: FixedWidthInteger>(_ value: T, at address: UInt64) -> Bool {
    let width = UInt64(MemoryLayout<T>.size)
    guard contains(address, count: width) else { return false }
    let offset = address & (pageBytes - 1)
    if offset + width <= pageBytes {
      writablePage(address - offset).storeBytes(of: value.littleEndian, toByteOffset: Int(offset), as: T.self)
      return true
    }
    var bytes: [UInt8] = []
    var v = value
    for _ in 0..<width {
      bytes.append(UInt8(truncatingIfNeeded: v))
      v >>= 8
    }
    return write(bytes, at: address)
  }

  public func load64(_ physicalAddress: UInt64) -> UInt64? { load(physicalAddress, as: UInt64.self) }
  public func load32(_ physicalAddress: UInt64) -> UInt32? { load(physicalAddress, as: UInt32.self) }

  /// The page in place (a shared zero page if never written). Valid until the next store
  /// to that page or until this memory is deallocated.
  public func tablePage(_ physicalAddress: UInt64) -> UnsafeRawBufferPointer? {
    guard physicalAddress & (pageBytes - 1) == 0, contains(physicalAddress, count: pageBytes) else { return nil }
    return UnsafeRawBufferPointer(start: readablePage(physicalAddress), count: Int(pageBytes))
  }

  @discardableResult
  public func store64(_ value: UInt64, at physicalAddress: UInt64) -> Bool { store(value, at: physicalAddress) }
  @discardableResult
  public func store32(_ value: UInt32, at physicalAddress: UInt64) -> Bool { store(value, at: physicalAddress) }
}
