// Paging-structure entry formats (SDM §4.3 32-bit, §4.4 PAE, §4.5 4/5-level;
// Tables 4-4..4-6, 4-8..4-11, 4-15..4-20).

/// One paging-structure entry, raw. 32-bit paging entries are zero-extended.
/// The flag meanings of bits 6..8 and 12 depend on the entry kind; see `EntryFormat`.
public struct PagingEntry: OptionSet, Sendable, Hashable, CustomStringConvertible {
  public var rawValue: UInt64
  @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }

  /// P (bit 0): present. A not-present entry's other bits are ignored.
  public static let present = Self(rawValue: 1 << 0)
  /// R/W (bit 1): writes allowed (subject to CR0.WP for supervisor-mode writes).
  public static let writable = Self(rawValue: 1 << 1)
  /// U/S (bit 2): user-mode accesses allowed.
  public static let user = Self(rawValue: 1 << 2)
  /// PWT (bit 3): page-level write-through.
  public static let writeThrough = Self(rawValue: 1 << 3)
  /// PCD (bit 4): page-level cache disable.
  public static let cacheDisable = Self(rawValue: 1 << 4)
  /// A (bit 5): accessed. Set by the processor whenever the entry is used in a translation.
  public static let accessed = Self(rawValue: 1 << 5)
  /// D (bit 6): dirty. Leaf entries only; set on a write through the entry.
  public static let dirty = Self(rawValue: 1 << 6)
  /// PS (bit 7): page size; in a PDE/PDPTE, the entry maps a page. In a PTE, bit 7 is PAT.
  public static let pageSize = Self(rawValue: 1 << 7)
  /// PAT (bit 7) of an entry that maps a 4 KiB page (the same bit as PS).
  public static let smallPageAttributeTable = Self(rawValue: 1 << 7)
  /// G (bit 8): global translation (leaf entries, if CR4.PGE = 1).
  public static let global = Self(rawValue: 1 << 8)
  /// PAT (bit 12) of an entry that maps a 2 MiB, 4 MiB or 1 GiB page.
  public static let largePageAttributeTable = Self(rawValue: 1 << 12)
  /// XD (bit 63): execute-disable, with IA32_EFER.NXE = 1 (reserved otherwise).
  public static let executeDisable = Self(rawValue: 1 << 63)

  /// A present entry with `flags` whose address field is `address` (4 KiB aligned;
  /// for 32-bit 4 MiB pages use `EntryFormat.encode`).
  @inlinable public init(address: UInt64, flags: PagingEntry) {
    self.rawValue = address | flags.rawValue
  }

  @inlinable public var isPresent: Bool { rawValue & 1 != 0 }
  @inlinable public var isWritable: Bool { rawValue & 2 != 0 }
  @inlinable public var isUser: Bool { rawValue & 4 != 0 }
  @inlinable public var isAccessed: Bool { rawValue & 0x20 != 0 }
  @inlinable public var isDirty: Bool { rawValue & 0x40 != 0 }
  @inlinable public var isExecuteDisable: Bool { rawValue >> 63 != 0 }

  /// Bits 62:59, the protection key of a leaf entry under 4/5-level paging (with CR4.PKE
  /// or CR4.PKS; ignored otherwise).
  @inlinable public var protectionKey: UInt8 { UInt8(truncatingIfNeeded: (rawValue >> 59) & 0xF) }

  /// The physical address this entry holds at `level` in `context` (the next table, or the
  /// page frame if the entry maps a page), masked by MAXPHYADDR.
  @inlinable public func address(at level: PagingLevel, context: PagingContext) -> UInt64 {
    let format = EntryFormat(level: level, context: context)
    return format.isPage(rawValue) ? format.pageFrame(rawValue) : format.tableAddress(rawValue)
  }

  /// Reserved bits that are set, as `level`'s format in `context` defines them (0 if none
  /// or if the entry is not present).
  @inlinable public func reservedBits(at level: PagingLevel, context: PagingContext) -> UInt64 {
    EntryFormat(level: level, context: context).reservedBits(rawValue)
  }

  public var description: String {
    var flags = ""
    flags += rawValue >> 63 != 0 ? "X" : "-"
    flags += rawValue & 0x100 != 0 ? "G" : "-"
    flags += rawValue & 0x80 != 0 ? "S" : "-"
    flags += rawValue & 0x40 != 0 ? "D" : "-"
    flags += rawValue & 0x20 != 0 ? "A" : "-"
    flags += rawValue & 0x10 != 0 ? "C" : "-"
    flags += rawValue & 0x08 != 0 ? "T" : "-"
    flags += rawValue & 0x04 != 0 ? "U" : "-"
    flags += rawValue & 0x02 != 0 ? "W" : "-"
    flags += rawValue & 0x01 != 0 ? "P" : "-"
    return hex(rawValue, digits: 16) + " " + flags
  }
}

/// How entries of one level are laid out in one paging mode and register context:
/// index bits, width, address fields, reserved bits (with MAXPHYADDR, NXE, PSE, 1 GiB
/// support), whether PS maps a page. The walker, the enumerator and the builder all read
/// entries through this one description.
public struct EntryFormat: Sendable, Hashable {
  public let mode: PagingMode
  public let level: PagingLevel
  /// Bytes per entry: 4 (32-bit paging) or 8.
  public let entryWidth: Int
  /// Lowest linear-address bit of this level's index.
  public let indexShift: Int
  /// Entries per table minus one (1023, 511, or 3 for PAE's PDPT).
  public let indexMask: UInt64
  /// Reserved bits of a present entry that references another paging structure.
  public let reservedIfTable: UInt64
  /// Reserved bits of a present entry that maps a page.
  public let reservedIfPage: UInt64
  /// PS = 1 makes the entry map a page (PDE, PDPTE with 1 GiB support; 32-bit PDE with CR4.PSE).
  public let honoursPageSize: Bool
  /// Every present entry maps a page (page tables).
  public let alwaysMapsPage: Bool
  /// Address field of an entry that references a table.
  public let tableAddressMask: UInt64
  /// Address field of an entry that maps a page (unused for 32-bit 4 MiB pages).
  public let pageAddressMask: UInt64
  /// Size of the page a page-mapping entry of this level maps.
  public let pageSize: PageSize
  /// U/S, R/W and XD of this entry take part in access rights (not in PAE's PDPTEs).
  public let hasAccessRights: Bool
  /// The entry has an accessed flag the processor sets (not PAE's PDPTEs).
  public let hasAccessedFlag: Bool
  /// For a 32-bit 4 MiB PDE: how many PSE-36 address bits (PA bits 32...) bits 20:13 hold.
  public let pse36Bits: Int

  @inlinable
  public init(level: PagingLevel, context: PagingContext) {
    let mode = context.mode
    let m = UInt64(context.physicalAddressWidth)
    let physicalMask: UInt64 = (1 << m) - 1  // bits M-1:0
    let aboveMaxPhysicalTo51: UInt64 = ((1 << 52) - 1) & ~physicalMask  // bits 51:M
    let aboveMaxPhysicalTo62: UInt64 = ~physicalMask & ~(1 << 63)  // bits 62:M
    let xdReserved: UInt64 = context.efer.contains(.noExecuteEnable) ? 0 : 1 << 63
    let bit7: UInt64 = 1 << 7

    var indexShift = 12
    var indexMask: UInt64 = 0x1FF
    var reservedIfTable: UInt64 = 0
    var reservedIfPage: UInt64 = 0
    var honoursPageSize = false
    var tableAddressMask: UInt64 = physicalMask & ~0xFFF
    var pageAddressMask: UInt64 = physicalMask & ~0xFFF
    var pageSize = PageSize.size4KiB
    var hasAccessRights = true
    var pse36Bits = 0

    switch (mode, level) {
    case (.bit32, .pageTable), (.disabled, _):
      indexMask = 0x3FF
      tableAddressMask = 0xFFFF_F000
      pageAddressMask = 0xFFFF_F000
    case (.bit32, _):
      // 4 MiB PDE (Table 4-4): bits (M'-20):13 are PA bits (M'-1):32, with M' = min(M, 40);
      // bits 20:(M'-19) and bit 21 are reserved. Without CR4.PSE, PS is ignored.
      indexShift = 22
      indexMask = 0x3FF
      tableAddressMask = 0xFFFF_F000
      pageAddressMask = 0xFFC0_0000
      honoursPageSize = context.cr4.contains(.pageSizeExtensions)
      pageSize = .size4MiB
      let m40 = min(Int(m), 40)
      pse36Bits = m40 - 32
      let firstReserved = UInt64(m40 - 19)  // 13...21
      let bits20Down: UInt64 = firstReserved <= 20 ? ((1 << 21) - 1) & ~((1 << firstReserved) - 1) : 0
      reservedIfPage = bits20Down | 1 << 21
    case (.pae, .pageDirectoryPointerTable):
      // PDPTE register (Table 4-8): bits 2:1, 8:5 and 63:M reserved; no A, R/W, U/S, XD.
      indexShift = 30
      indexMask = 3
      pageSize = .size1GiB
      pageAddressMask = 0
      reservedIfTable = 0b1_1110_0110 | ~physicalMask
      reservedIfPage = reservedIfTable
      hasAccessRights = false
    case (.pae, _):
      // Tables 4-9..4-11: bits 62:M reserved; bit 63 is XD or reserved; PDE PS maps 2 MiB.
      reservedIfTable = aboveMaxPhysicalTo62 | xdReserved
      reservedIfPage = reservedIfTable
      if level == .pageDirectory {
        indexShift = 21
        honoursPageSize = true
        pageSize = .size2MiB
        pageAddressMask = physicalMask & ~PageSize.size2MiB.offsetMask
        reservedIfPage |= 0x1F_E000  // 20:13
      }
    case (.fourLevel, _), (.fiveLevel, _):
      // Tables 4-14..4-20: bits 51:M reserved; bit 63 XD or reserved; PS reserved in
      // PML5E/PML4E (and in PDPTEs without 1 GiB page support).
      reservedIfTable = aboveMaxPhysicalTo51 | xdReserved
      reservedIfPage = reservedIfTable
      switch level {
      case .pml5, .pml4:
        indexShift = level == .pml5 ? 48 : 39
        pageSize = .size1GiB  // never used: these entries cannot map pages
        pageAddressMask = 0
        reservedIfTable |= bit7
        reservedIfPage = reservedIfTable
      case .pageDirectoryPointerTable:
        indexShift = 30
        honoursPageSize = context.supports1GiBPages
        pageSize = .size1GiB
        pageAddressMask = physicalMask & ~PageSize.size1GiB.offsetMask
        if !context.supports1GiBPages { reservedIfTable |= bit7 }
        reservedIfPage |= 0x3FFF_E000  // 29:13
      case .pageDirectory:
        indexShift = 21
        honoursPageSize = true
        pageSize = .size2MiB
        pageAddressMask = physicalMask & ~PageSize.size2MiB.offsetMask
        reservedIfPage |= 0x1F_E000  // 20:13
      case .pageTable:
        break
      }
    }

    self.mode = mode
    self.level = level
    self.entryWidth = mode.entryWidth
    self.indexShift = indexShift
    self.indexMask = indexMask
    self.reservedIfTable = reservedIfTable
    self.reservedIfPage = reservedIfPage
    self.honoursPageSize = honoursPageSize
    self.alwaysMapsPage = level == .pageTable
    self.tableAddressMask = tableAddressMask
    self.pageAddressMask = pageAddressMask
    self.pageSize = pageSize
    self.hasAccessRights = hasAccessRights
    self.hasAccessedFlag = hasAccessRights
    self.pse36Bits = pse36Bits
  }

  /// Number of entries in one table of this level.
  @inlinable public var entryCount: Int { Int(indexMask) + 1 }

  /// Index of `linearAddress` at this level.
  @inlinable public func index(of linearAddress: UInt64) -> Int {
    Int(truncatingIfNeeded: (linearAddress >> UInt64(indexShift)) & indexMask)
  }

  /// True if the present entry `raw` maps a page rather than referencing a table.
  @inlinable public func isPage(_ raw: UInt64) -> Bool {
    alwaysMapsPage || (honoursPageSize && raw & 0x80 != 0)
  }

  /// The reserved bits set in `raw` (0 for a not-present entry: they are not checked).
  @inlinable public func reservedBits(_ raw: UInt64) -> UInt64 {
    guard raw & 1 != 0 else { return 0 }
    return raw & (isPage(raw) ? reservedIfPage : reservedIfTable)
  }

  /// The next table's physical address in a table-referencing entry.
  @inlinable public func tableAddress(_ raw: UInt64) -> UInt64 { raw & tableAddressMask }

  /// The page frame's physical address in a page-mapping entry (PSE-36 aware).
  @inlinable public func pageFrame(_ raw: UInt64) -> UInt64 {
    if mode == .bit32 && level == .pageDirectory {
      let high = (raw >> 13) & ((1 << UInt64(pse36Bits)) - 1)
      return (raw & 0xFFC0_0000) | high << 32
    }
    return raw & pageAddressMask
  }

  /// The address field for a page-mapping entry whose frame is `physicalAddress` (PSE-36
  /// encoding for 32-bit 4 MiB pages). Bits the format cannot hold are dropped.
  @inlinable public func encodePageFrame(_ physicalAddress: UInt64) -> UInt64 {
    if mode == .bit32 && level == .pageDirectory {
      let high = (physicalAddress >> 32) & ((1 << UInt64(pse36Bits)) - 1)
      return (physicalAddress & 0xFFC0_0000) | high << 13
    }
    return physicalAddress & pageAddressMask
  }
}
