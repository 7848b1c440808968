import GuestABI
import Machine
import X86Paging

// What the validator's passes share: the root overlay, the violation sink, the table
// formats, and the page scans of zeroed-page and page-table content.

/// Guest memory with one PML4 replaced by an edited copy (slots cleared), so that the
/// enumeration skips what it must not walk again. Everything else reads through.
struct RootOverlay: PhysicalMemory {
  let memory: GuestPhysicalMemory
  let root: UInt64
  let copy: UnsafeMutableRawBufferPointer

  /// `root` must be a page-aligned table in RAM.
  init(memory: GuestPhysicalMemory, root: UInt64) {
    self.memory = memory
    self.root = root
    copy = .allocate(byteCount: 4096, alignment: 4096)
    if let page = memory.tablePage(root) {
      copy.copyMemory(from: page)
    } else {
      copy.initializeMemory(as: UInt8.self, repeating: 0)
    }
  }

  func deallocate() { copy.deallocate() }
  func entry(_ slot: Int) -> UInt64 { copy.load(fromByteOffset: slot * 8, as: UInt64.self) }
  func clear(slot: Int) { copy.storeBytes(of: 0, toByteOffset: slot * 8, as: UInt64.self) }

  func load64(_ physicalAddress: UInt64) -> UInt64? {
    guard physicalAddress & ~0xFFF == root, physicalAddress & 0xFFF <= 4088 else {
      return memory.load64(physicalAddress)
    }
    return UInt64(littleEndian: copy.loadUnaligned(fromByteOffset: Int(physicalAddress & 0xFFF), as: UInt64.self))
  }

  func load32(_ physicalAddress: UInt64) -> UInt32? {
    guard physicalAddress & ~0xFFF == root, physicalAddress & 0xFFF <= 4092 else {
      return memory.load32(physicalAddress)
    }
    return UInt32(littleEndian: copy.loadUnaligned(fromByteOffset: Int(physicalAddress & 0xFFF), as: UInt32.self))
  }

  func tablePage(_ physicalAddress: UInt64) -> UnsafeRawBufferPointer? {
    physicalAddress == root ? UnsafeRawBufferPointer(copy) : memory.tablePage(physicalAddress)
  }
}

/// Collects violations: all counted, the first `limit` kept.
final class ViolationSink {
  let limit: Int
  var violations: [MmViolation] = []
  var count = 0
  var countsByRule = [Int](repeating: 0, count: MmRule.allCases.count)

  init(limit: Int) { self.limit = max(0, limit) }

  func report(_ rule: MmRule, pfn: UInt64?, va: UInt64?, process: UInt32?, _ message: () -> String) {
    count += 1
    countsByRule[rule.order] += 1
    guard violations.count < limit else { return }
    violations.append(MmViolation(rule: rule, pfn: pfn, virtualAddress: va, processID: process, message: message()))
  }
}

/// The entry formats of the four levels, looked up without building one per entry.
struct TableFormats {
  let pml4: EntryFormat
  let pdpt: EntryFormat
  let pd: EntryFormat
  let pt: EntryFormat

  init(context: PagingContext) {
    pml4 = context.entryFormat(at: .pml4)
    pdpt = context.entryFormat(at: .pageDirectoryPointerTable)
    pd = context.entryFormat(at: .pageDirectory)
    pt = context.entryFormat(at: .pageTable)
  }

  subscript(level: PagingLevel) -> EntryFormat {
    switch level {
    case .pml4, .pml5: pml4
    case .pageDirectoryPointerTable: pdpt
    case .pageDirectory: pd
    case .pageTable: pt
    }
  }
}

/// Up to eight zeroed-list pages read back together: eight streams of loads in flight
/// instead of one, which is what reading scattered pages needs to approach bandwidth.
struct ZeroBatch {
  private var pfns: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
  private var pages:
    (
      UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?,
      UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?
    ) = (nil, nil, nil, nil, nil, nil, nil, nil)
  var count = 0

  var isFull: Bool { count == 8 }

  mutating func append(pfn: Int, page: UnsafeRawPointer) {
    withUnsafeMutableBytes(of: &pfns) { $0.storeBytes(of: pfn, toByteOffset: count * 8, as: Int.self) }
    withUnsafeMutableBytes(of: &pages) { $0.storeBytes(of: page, toByteOffset: count * 8, as: UnsafeRawPointer?.self) }
    count += 1
  }

  subscript(index: Int) -> (pfn: Int, page: UnsafeRawPointer) {
    let pfn = withUnsafeBytes(of: pfns) { $0.load(fromByteOffset: index * 8, as: Int.self) }
    let page = withUnsafeBytes(of: pages) { $0.load(fromByteOffset: index * 8, as: UnsafeRawPointer?.self) }
    return (pfn, page!)
  }

  /// Bit i set if page i has a nonzero byte. Slots past `count` repeat page 0.
  func nonzeroPages() -> UInt8 {
    let p0 = self[0].page
    let p1 = count > 1 ? self[1].page : p0
    let p2 = count > 2 ? self[2].page : p0
    let p3 = count > 3 ? self[3].page : p0
    let p4 = count > 4 ? self[4].page : p0
    let p5 = count > 5 ? self[5].page : p0
    let p6 = count > 6 ? self[6].page : p0
    let p7 = count > 7 ? self[7].page : p0
    var a0: UInt64 = 0
    var a1: UInt64 = 0
    var a2: UInt64 = 0
    var a3: UInt64 = 0
    var a4: UInt64 = 0
    var a5: UInt64 = 0
    var a6: UInt64 = 0
    var a7: UInt64 = 0
    var offset = 0
    while offset < 4096 {
      a0 |= orLine(p0, offset)
      a1 |= orLine(p1, offset)
      a2 |= orLine(p2, offset)
      a3 |= orLine(p3, offset)
      a4 |= orLine(p4, offset)
      a5 |= orLine(p5, offset)
      a6 |= orLine(p6, offset)
      a7 |= orLine(p7, offset)
      offset &+= 64
    }
    var bits: UInt8 = 0
    for (index, value) in [a0, a1, a2, a3, a4, a5, a6, a7].enumerated() where value != 0 && index < count {
      bits |= 1 << index
    }
    return bits
  }
}

/// The eight words of the 64-byte line at `offset`, OR-ed.
@inline(__always)
func orLine(_ page: UnsafeRawPointer, _ offset: Int) -> UInt64 {
  (page.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
    | page.loadUnaligned(fromByteOffset: offset &+ 8, as: UInt64.self))
    | (page.loadUnaligned(fromByteOffset: offset &+ 16, as: UInt64.self)
      | page.loadUnaligned(fromByteOffset: offset &+ 24, as: UInt64.self))
    | (page.loadUnaligned(fromByteOffset: offset &+ 32, as: UInt64.self)
      | page.loadUnaligned(fromByteOffset: offset &+ 40, as: UInt64.self))
    | (page.loadUnaligned(fromByteOffset: offset &+ 48, as: UInt64.self)
      | page.loadUnaligned(fromByteOffset: offset &+ 56, as: UInt64.self))
}

/// Offset of the first nonzero byte of the 4 KiB page at `page`, or nil if all zero.
/// ORs eight bytes at a time (four accumulators); bytes are looked at only on a hit.
@inline(__always)
func firstNonzeroByte(_ page: UnsafeRawPointer) -> Int? {
  var a: UInt64 = 0
  var b: UInt64 = 0
  var c: UInt64 = 0
  var d: UInt64 = 0
  var offset = 0
  while offset < 4096 {
    a |= page.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
    b |= page.loadUnaligned(fromByteOffset: offset &+ 8, as: UInt64.self)
    c |= page.loadUnaligned(fromByteOffset: offset &+ 16, as: UInt64.self)
    d |= page.loadUnaligned(fromByteOffset: offset &+ 24, as: UInt64.self)
    offset &+= 32
  }
  guard a | b | c | d != 0 else { return nil }
  for index in 0..<4096 where page.load(fromByteOffset: index, as: UInt8.self) != 0 { return index }
  return nil
}

/// Live (nonzero) entries among the 512 of the table page at `page`.
@inline(__always)
func liveEntries(_ page: UnsafeRawPointer) -> UInt32 {
  var count: UInt32 = 0
  for index in 0..<512 where page.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self) != 0 { count &+= 1 }
  return count
}
