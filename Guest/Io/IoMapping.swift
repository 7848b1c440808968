import GuestArch

/// Kernel addresses for one transfer into pages that are not physically
/// contiguous (what an MDL's system mapping is to NT): the upper half of the
/// device window's page table, whose lower half holds the BARs. A mapping
/// lives only for the transfer (no checkpoint sees one), and DiskBlockDevice
/// turns its addresses back into the pages' physical addresses.
enum IoMapping {
  /// Physical address of the device window's page table (set when the disks start).
  static var table: UInt64 = 0
  static let firstSlot = 256
  /// Pages one mapping holds at most: a 64 KiB cluster read.
  static let capacity = 16
  static var base: UInt64 { KernelLayout.deviceWindowBase + UInt64(firstSlot) << 12 }

  /// Maps `frames` (PFNs) at `base`, read-write, no execute; returns `base`.
  static func map(_ frames: UnsafeBufferPointer<UInt64>) -> UInt64 {
    guard table != 0, frames.count <= capacity else { kernelPanic("IoMapping.map", "no room for the transfer") }
    let slots = PhysicalWindow.virtualAddress(table) + UInt64(firstSlot) * 8
    for (n, pfn) in frames.enumerated() {
      arch_store64(
        slots + UInt64(n) * 8, pfn << 12 | HardwarePTE.present | HardwarePTE.writable | HardwarePTE.noExecute)
    }
    return base
  }

  /// Takes the first `count` pages of the mapping away again.
  static func unmap(_ count: Int) {
    let slots = PhysicalWindow.virtualAddress(table) + UInt64(firstSlot) * 8
    for n in 0..<count {
      arch_store64(slots + UInt64(n) * 8, 0)
      arch_invlpg(base + UInt64(n) << 12)
    }
  }

  /// The physical address behind `address` if it lies in a live mapping, else nil.
  static func physical(_ address: UInt64) -> UInt64? {
    guard table != 0, address >= base, address - base < UInt64(capacity) << 12 else { return nil }
    let entry = arch_load64(PhysicalWindow.virtualAddress(table) + (UInt64(firstSlot) + (address - base) >> 12) * 8)
    guard entry & HardwarePTE.present != 0 else { return nil }
    return (entry & HardwarePTE.frameMask) | (address & 0xFFF)
  }
}
