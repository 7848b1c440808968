/// The PVH boot ABI (Xen's `hvm_start_info`, version 1), as the host writes it
/// and the guest reads it. Offsets in bytes, little-endian.
public enum PVHStartInfo {
  /// UInt32 magic: `magicValue`.
  public static let magic = 0
  /// UInt32 version: 1 (adds `memmapPhysicalAddress` and `memmapEntries`).
  public static let version = 4
  public static let flags = 8
  public static let moduleCount = 12
  public static let moduleListPhysicalAddress = 16
  /// UInt64: physical address of a NUL-terminated command line, or 0.
  public static let commandLinePhysicalAddress = 24
  public static let rsdpPhysicalAddress = 32
  /// UInt64: physical address of `memmapEntries` `PVHMemoryMapEntry` records.
  public static let memmapPhysicalAddress = 40
  /// UInt32.
  public static let memmapEntries = 48
  public static let size = 56
  public static let magicValue: UInt32 = 0x336E_C578
}

/// One entry of the PVH memory map (`hvm_memmap_table_entry`): 24 bytes.
public enum PVHMemoryMapEntry {
  public static let address = 0
  public static let size = 8
  /// UInt32, E820 numbering.
  public static let type = 16
  public static let entrySize = 24
  /// E820 "usable RAM".
  public static let typeRAM: UInt32 = 1
  /// E820 "reserved".
  public static let typeReserved: UInt32 = 2
}

/// ELF note that tells a loader where the PVH entry point is
/// (`XEN_ELFNOTE_PHYS32_ENTRY`): owner "Xen", type 18, a 32-bit physical address.
public enum PVHNote {
  public static let owner: StaticString = "Xen"
  public static let type: UInt32 = 18
}
