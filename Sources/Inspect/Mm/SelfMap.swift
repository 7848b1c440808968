import GuestABI

/// The self-map of 4-level paging: PML4 slot `slot` points at the PML4 itself, so
/// the 512 GiB window of that slot shows every paging structure of the address
/// space at a fixed virtual address. The PTE of any page lives at
/// `pteAddress(mapping:)`; the PFN database names PTEs by that address.
public struct SelfMap: Sendable, Hashable {
  /// Bytes covered by one PML4 slot (512 GiB).
  public static let slotBytes: UInt64 = 1 << 39

  /// The PML4 slot, 0...511.
  public let slot: UInt64

  /// The self-map of PML4 slot `slot`; nil unless `slot` is 0...511.
  public init?(slot: UInt64) {
    guard slot < 512 else { return nil }
    self.slot = slot
  }

  /// The first virtual address of the window: `slot << 39`, sign-extended from bit 47.
  public var base: UInt64 {
    UInt64(bitPattern: Int64(bitPattern: slot << 55) >> 16)
  }

  /// True if `virtualAddress` lies in the slot's 512 GiB window.
  @inlinable
  public func contains(_ virtualAddress: UInt64) -> Bool {
    virtualAddress &- base < Self.slotBytes
  }

  /// The virtual address, through the self-map, of the PTE that maps the 4 KiB
  /// page holding `virtualAddress` (GuestABI's formula, for this slot). Applied
  /// to the address of a PTE it gives the PDE, and so on up the levels.
  @inlinable
  public func pteAddress(mapping virtualAddress: UInt64) -> UInt64 {
    KernelLayout.selfMapEntryAddress(of: virtualAddress, level: 1, base: base)
  }

  /// The virtual address, through the self-map, of the entry at `level` (1 = PTE,
  /// 2 = PDE, 3 = PDPTE, 4 = PML4E) on the path to `virtualAddress`.
  public func entryAddress(mapping virtualAddress: UInt64, level: Int) -> UInt64 {
    KernelLayout.selfMapEntryAddress(of: virtualAddress, level: level, base: base)
  }

  /// The self-map address of the self-map entry itself: what a PML4's record names
  /// as its PTE address.
  public var selfEntryAddress: UInt64 { entryAddress(mapping: base, level: 4) }
}
