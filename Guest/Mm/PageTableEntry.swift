/// A page-table entry as the kernel reads and builds it; the bits are
/// GuestABI's `HardwarePTE`.
struct PageTableEntry {
  var raw: UInt64

  var isPresent: Bool { raw & HardwarePTE.present != 0 }
  var isLargePage: Bool { raw & HardwarePTE.pageSize != 0 }
  var physicalAddress: UInt64 { raw & HardwarePTE.frameMask }

  /// What a non-leaf entry gets: present and writable; the leaf decides the rest.
  static func table(directory physical: UInt64) -> PageTableEntry {
    PageTableEntry(raw: physical | HardwarePTE.present | HardwarePTE.writable)
  }
}

/// Leaf permissions the kernel maps with. A and D start set: the kernel's own
/// pages never age, and a clean PTE's first write would otherwise be a trip
/// through the shadow MMU (on kvm-pvm, one it emulates).
enum Protection {
  private static let kernel = HardwarePTE.present | HardwarePTE.global | HardwarePTE.accessed
  /// Kernel text: read and execute.
  static let kernelText = kernel
  /// Kernel read-only data.
  static let kernelReadOnly = kernel | HardwarePTE.noExecute
  /// Kernel data: read, write, no execute.
  static let kernelData = kernel | HardwarePTE.writable | HardwarePTE.dirty | HardwarePTE.noExecute
}

// The 4-level split of a linear address (Intel SDM vol. 3A, figure 4-8):
//
//   63      48 47    39 38    30 29    21 20    12 11         0
//  +----------+--------+--------+--------+--------+------------+
//  | sign ext |  PML4  |  PDPT  |   PD   |   PT   |   offset   |
//  +----------+--------+--------+--------+--------+------------+
//
/// Index of `virtualAddress` in the table at `level` (4 = PML4 ... 1 = PT).
func tableIndex(_ virtualAddress: UInt64, level: Int) -> Int {
  Int((virtualAddress >> UInt64(12 + 9 * (level - 1))) & 0x1FF)
}

/// Bytes one entry maps at `level`: 4 KiB at 1, 2 MiB at 2, 1 GiB at 3.
func bytesMapped(level: Int) -> UInt64 {
  1 << UInt64(12 + 9 * (level - 1))
}
