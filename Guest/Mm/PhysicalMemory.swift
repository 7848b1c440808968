import GuestArch

/// How the kernel reaches physical memory: through the boot identity map
/// until its own tables are live, then through the direct map.
enum PhysicalWindow {
  static var base: UInt64 = 0

  /// The kernel virtual address of physical `address`.
  static func virtualAddress(_ address: UInt64) -> UInt64 { base &+ address }

  static func words(_ address: UInt64) -> UnsafeMutablePointer<UInt64> {
    UnsafeMutablePointer<UInt64>(bitPattern: UInt(virtualAddress(address)))!
  }

  /// Zeroes the 4 KiB frame at `address`.
  static func zeroFrame(_ address: UInt64) {
    arch_zero_page(virtualAddress(address))
  }
}

/// Hands out physical frames from usable RAM above the kernel image, in
/// address order. It is the boot-time allocator; the PFN database takes over
/// the frames it did not hand out.
struct BootFrameAllocator {
  private(set) var ranges: [PhysicalRange]
  private var rangeIndex = 0
  private var next: UInt64
  private(set) var allocated = 0
  private let first: UInt64

  /// Frames below `floor` (the kernel image and what the loader put there) are never handed out.
  init(ram: [PhysicalRange], floor: UInt64) {
    ranges = ram
    next = (floor + 0xFFF) & ~0xFFF
    first = next
  }

  /// A zeroed 4 KiB frame, or nil when RAM is exhausted.
  mutating func allocateZeroed() -> UInt64? {
    while rangeIndex < ranges.count {
      let range = ranges[rangeIndex]
      let candidate = max(next, (range.start + 0xFFF) & ~0xFFF)
      if candidate + 4096 <= range.end {
        next = candidate + 4096
        allocated += 1
        PhysicalWindow.zeroFrame(candidate)
        return candidate
      }
      rangeIndex += 1
    }
    return nil
  }

  /// `count` physically contiguous zeroed frames; nil if no RAM range has room.
  mutating func allocateContiguous(_ count: Int) -> UInt64? {
    while rangeIndex < ranges.count {
      let range = ranges[rangeIndex]
      let start = max(next, (range.start + 0xFFF) & ~0xFFF)
      if start + UInt64(count) * 4096 <= range.end {
        next = start + UInt64(count) * 4096
        allocated += count
        for page in 0..<UInt64(count) { PhysicalWindow.zeroFrame(start + page * 4096) }
        return start
      }
      rangeIndex += 1
    }
    return nil
  }

  /// The first frame this allocator handed out (or would have).
  var floor: UInt64 { first }

  /// One past the highest frame handed out so far.
  var highWater: UInt64 { next }
}

/// Physical memory as the PFN database (GuestMm) reaches it: through
/// `PhysicalWindow`, so the same database works before and after the
/// kernel's tables go live. A broken invariant is a kernel panic.
struct KernelPhysicalMemory: PhysicalMemoryAccess {
  func bytes(at physical: UInt64) -> UnsafeMutableRawPointer {
    UnsafeMutableRawPointer(bitPattern: UInt(PhysicalWindow.virtualAddress(physical)))!
  }
  func zeroFrame(_ physical: UInt64) { PhysicalWindow.zeroFrame(physical) }
  func trap(_ function: StaticString, _ reason: StaticString) -> Never { kernelPanic(function, reason) }
  func prototypePageRepurposed(pteAddress: UInt64) { ControlAreas.pageRepurposed(pteAddress: pteAddress) }
}

/// The guest's PFN database.
typealias KernelFrameDatabase = PageFrameDatabase<KernelPhysicalMemory>
