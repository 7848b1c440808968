import GuestArch

/// The kernel's own 4-level page tables: the image in the higher half with
/// per-section permissions in 4 KiB pages, all RAM in a direct map of 2 MiB
/// pages, and the self-map slot. Built while not live, then loaded into CR3.
struct KernelAddressSpace {
  let rootPhysical: UInt64

  /// Allocates a root table and maps the kernel; nil if frames run out.
  static func build(ramEnd: UInt64, frames: inout BootFrameAllocator) -> KernelAddressSpace? {
    guard let root = frames.allocateZeroed() else { return nil }
    let space = KernelAddressSpace(rootPhysical: root)
    let sections: [(UInt64, UInt64, UInt64)] = [
      (arch_text_start(), arch_text_end(), Protection.kernelText),
      (arch_rodata_start(), arch_rodata_end(), Protection.kernelReadOnly),
      (arch_data_start(), arch_kernel_end(), Protection.kernelData),
    ]
    for (start, end, protection) in sections {
      var page = start
      while page < end {
        guard space.map(page, to: kernelPhysical(page), level: 1, flags: protection, frames: &frames)
        else { return nil }
        page += 4096
      }
    }
    guard space.mapDirect(ramEnd: ramEnd, frames: &frames) else { return nil }
    PhysicalWindow.words(root)[Int(KernelLayout.selfMapSlot)] =
      root | HardwarePTE.present | HardwarePTE.writable | HardwarePTE.noExecute
    return space
  }

  /// Maps all of [0, ramEnd) at the direct-map base: 2 MiB pages, 4 KiB for a ragged tail.
  func mapDirect(ramEnd: UInt64, frames: inout BootFrameAllocator) -> Bool {
    var physical: UInt64 = 0
    while physical < ramEnd {
      let large = physical & (bytesMapped(level: 2) - 1) == 0 && physical + bytesMapped(level: 2) <= ramEnd
      let level = large ? 2 : 1
      guard
        map(
          KernelLayout.directMapBase + physical, to: physical, level: level, flags: Protection.kernelData,
          frames: &frames)
      else { return false }
      physical += bytesMapped(level: level)
    }
    return true
  }

  /// Installs one leaf at `level` (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB), creating
  /// tables on the way. Only for tables not yet live: no TLB invalidation here.
  func map(_ virtualAddress: UInt64, to physical: UInt64, level: Int, flags: UInt64, frames: inout BootFrameAllocator)
    -> Bool
  {
    guard let table = tableFor(virtualAddress, level: level, frames: &frames) else { return false }
    let largeBit = level > 1 ? HardwarePTE.pageSize : 0
    PhysicalWindow.words(table)[tableIndex(virtualAddress, level: level)] = physical | flags | largeBit
    return true
  }

  /// Installs a 4 KiB user-accessible leaf `entry` at `virtualAddress` in the
  /// lower half (the script interpreter's pages), its tables user-accessible
  /// too. Only for tables not yet live.
  func mapUser(_ virtualAddress: UInt64, entry: UInt64, frames: inout BootFrameAllocator) -> Bool {
    guard virtualAddress >> 47 == 0, let table = tableFor(virtualAddress, level: 1, user: true, frames: &frames)
    else { return false }
    PhysicalWindow.words(table)[tableIndex(virtualAddress, level: 1)] = entry
    return true
  }

  /// The physical address of the table at `level` that holds `virtualAddress`'s
  /// entry; the tables it creates are user-accessible when `user` is.
  func tableFor(_ virtualAddress: UInt64, level: Int, user: Bool = false, frames: inout BootFrameAllocator)
    -> UInt64?
  {
    var table = rootPhysical
    var current = 4
    while current > level {
      let slot = PhysicalWindow.words(table) + tableIndex(virtualAddress, level: current)
      var entry = PageTableEntry(raw: slot.pointee)
      if !entry.isPresent {
        guard let next = frames.allocateZeroed() else { return nil }
        entry = PageTableEntry.table(directory: next)
        if user { entry = PageTableEntry(raw: entry.raw | HardwarePTE.user) }
        slot.pointee = entry.raw
      } else if entry.isLargePage {
        kernelPanic("KernelAddressSpace.tableFor", "a large page is in the way")
      }
      table = entry.physicalAddress
      current -= 1
    }
    return table
  }

  /// Makes these tables the live ones and turns on global pages.
  func activate() {
    arch_write_cr3(rootPhysical)
    PhysicalWindow.base = KernelLayout.directMapBase
    arch_write_cr4(arch_read_cr4() | (1 << 7))  // CR4.PGE
  }
}
