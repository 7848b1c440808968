#if canImport(GuestABI)
  import GuestABI
#endif

/// What the virtual-memory logic needs from the machine, for one address
/// space: its PTEs and zeroed pages. The guest implements it on real page
/// tables and the PFN database (accounting every valid PTE it writes and
/// freeing pages whose last valid PTE goes); host tests on a dictionary.
public protocol AddressSpaceBackend {
  /// The process's working set, which `VirtualMemory` tells of pages becoming valid and going.
  associatedtype WorkingSet: WorkingSetHook
  var workingSet: WorkingSet { get set }

  /// The sections this address space's views map (`NoSections` when it maps none).
  associatedtype Sections: SectionBackend = NoSections
  var sections: Sections { get set }

  /// The PTE that maps the 4 KiB page at `virtualAddress`; 0 when no page table holds it.
  func readPTE(_ virtualAddress: UInt64) -> UInt64

  /// Writes the PTE of the page at `virtualAddress`, making page tables as
  /// needed; false when memory ran out, with nothing changed. Replacing a valid
  /// PTE invalidates its TLB entry; the page a valid PTE named loses a user
  /// and, with none left, goes where `fate` says (the free list, standby or
  /// modified keeping its PTE's address for a transition PTE, or kept). A new
  /// valid PTE's page records the PTE it replaced as its original PTE.
  ///
  /// What `VirtualMemory` relies on: writing 0 over a zero PTE changes nothing;
  /// a write into a page table that exists (this PTE or another entry of its
  /// table is nonzero) never fails; replacing a valid PTE with a valid PTE that
  /// names the same page (a protection change) keeps the page and its user count.
  mutating func writePTE(_ virtualAddress: UInt64, _ value: UInt64, fate: PageFate) -> Bool

  /// A zeroed physical page for `virtualAddress`'s demand-zero fault, as a PFN
  /// with no users yet; nil when no page is available.
  mutating func allocateZeroedPage(for virtualAddress: UInt64) -> UInt64?
}

extension AddressSpaceBackend where Sections == NoSections {
  /// An address space without views has no sections to reach.
  public var sections: NoSections {
    get { NoSections() }
    set {}
  }
}
