/// Hardware PTE bits (Intel SDM vol. 3A, 4.5), the subset the kernel writes.
struct PageTableEntry {
  var raw: UInt64

  static let present: UInt64 = 1 << 0
  static let writable: UInt64 = 1 << 1
  static let user: UInt64 = 1 << 2
  static let accessed: UInt64 = 1 << 5
  static let dirty: UInt64 = 1 << 6
  static let pageSize: UInt64 = 1 << 7
  static let global: UInt64 = 1 << 8
  static let noExecute: UInt64 = 1 << 63
  /// Physical address bits 12-51.
  static let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000

  var isPresent: Bool { raw & Self.present != 0 }
  var isLargePage: Bool { raw & Self.pageSize != 0 }
  var physicalAddress: UInt64 { raw & Self.addressMask }

  /// What a non-leaf entry gets: present and writable; the leaf decides the rest.
  static func table(directory physical: UInt64) -> PageTableEntry {
    PageTableEntry(raw: physical | present | writable)
  }
}

/// Leaf permissions the kernel maps with. A and D start set: the kernel's own
/// pages never age, and a clean PTE's first write would otherwise be a trip
/// through the shadow MMU (on kvm-pvm, one it emulates).
enum Protection {
  private static let kernel = PageTableEntry.present | PageTableEntry.global | PageTableEntry.accessed
  /// Kernel text: read and execute.
  static let kernelText = kernel
  /// Kernel read-only data.
  static let kernelReadOnly = kernel | PageTableEntry.noExecute
  /// Kernel data: read, write, no execute.
  static let kernelData = kernel | PageTableEntry.writable | PageTableEntry.dirty | PageTableEntry.noExecute
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
