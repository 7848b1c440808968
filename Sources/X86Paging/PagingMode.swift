// Paging modes, levels, page sizes, canonical addresses and the register context
// a translation depends on (SDM vol. 3A §4.1).

/// The paging mode, derived from CR0.PG, CR4.PAE, IA32_EFER.LME/LMA and CR4.LA57
/// (SDM §4.1.1, Table 4-1).
public enum PagingMode: Sendable, Hashable, CaseIterable, CustomStringConvertible {
  /// CR0.PG = 0: linear addresses are physical addresses (32 bits wide).
  case disabled
  /// 32-bit paging: CR0.PG = 1, CR4.PAE = 0. 4-byte entries, 4 KiB and 4 MiB (PSE) pages.
  case bit32
  /// PAE paging: CR0.PG = 1, CR4.PAE = 1, IA32_EFER.LME = 0. Four PDPTE registers, 2 MiB / 4 KiB.
  case pae
  /// 4-level paging: CR0.PG = 1, CR4.PAE = 1, IA32_EFER.LME = 1, CR4.LA57 = 0.
  case fourLevel
  /// 5-level paging: as 4-level with CR4.LA57 = 1.
  case fiveLevel

  public var description: String {
    switch self {
    case .disabled: "disabled"
    case .bit32: "32-bit"
    case .pae: "PAE"
    case .fourLevel: "4-level"
    case .fiveLevel: "5-level"
    }
  }

  /// Width of a linear address: 32, 48 (4-level) or 57 (5-level).
  @inlinable public var linearAddressBits: Int {
    switch self {
    case .disabled, .bit32, .pae: 32
    case .fourLevel: 48
    case .fiveLevel: 57
    }
  }

  /// Bytes per paging-structure entry: 4 for 32-bit paging, else 8.
  @inlinable public var entryWidth: Int { self == .bit32 ? 4 : 8 }

  /// IA-32e paging (4- or 5-level): protection keys exist and addresses must be canonical.
  @inlinable public var isIA32e: Bool { self == .fourLevel || self == .fiveLevel }

  /// Whether bit 63 of entries can be XD (with IA32_EFER.NXE = 1): PAE, 4-level, 5-level.
  @inlinable public var supportsExecuteDisable: Bool { self == .pae || isIA32e }

  /// The level whose table CR3 points at, or nil when paging is disabled.
  @inlinable public var topLevel: PagingLevel? {
    switch self {
    case .disabled: nil
    case .bit32: .pageDirectory
    case .pae: .pageDirectoryPointerTable
    case .fourLevel: .pml4
    case .fiveLevel: .pml5
    }
  }

  /// The levels a walk visits, top first.
  public var levels: [PagingLevel] {
    var result: [PagingLevel] = []
    var level = topLevel
    while let current = level {
      result.append(current)
      level = current.lower
    }
    return result
  }

  /// True if `linearAddress` is canonical: bits 63:47 (4-level) or 63:56 (5-level) all
  /// equal. Modes with 32-bit linear addresses accept everything (the address wraps).
  @inlinable public func isCanonical(_ linearAddress: UInt64) -> Bool {
    guard isIA32e else { return true }
    return canonicalize(linearAddress) == linearAddress
  }

  /// `linearAddress` sign-extended from its top implemented bit (IA-32e), or truncated to
  /// 32 bits (other modes).
  @inlinable public func canonicalize(_ linearAddress: UInt64) -> UInt64 {
    switch self {
    case .disabled, .bit32, .pae: linearAddress & 0xFFFF_FFFF
    case .fourLevel: UInt64(bitPattern: Int64(bitPattern: linearAddress << 16) >> 16)
    case .fiveLevel: UInt64(bitPattern: Int64(bitPattern: linearAddress << 7) >> 7)
    }
  }
}

/// A paging-structure level, numbered as in Linux and the SDM's "level" wording:
/// 1 = page table ... 5 = PML5 table. 32-bit paging uses PD and PT; PAE uses the
/// PDPT (held in four PDPTE registers), PD and PT.
public enum PagingLevel: Int, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
  /// Page table; its entries (PTEs) always map 4 KiB pages.
  case pageTable = 1
  /// Page directory; a PDE maps a 2 MiB (4 MiB under 32-bit paging) page or references a PT.
  case pageDirectory = 2
  /// Page-directory-pointer table; a PDPTE maps a 1 GiB page or references a PD.
  case pageDirectoryPointerTable = 3
  /// PML4 table.
  case pml4 = 4
  /// PML5 table (5-level paging only).
  case pml5 = 5

  @inlinable public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

  /// "PT", "PD", "PDPT", "PML4", "PML5".
  public var description: String {
    switch self {
    case .pageTable: "PT"
    case .pageDirectory: "PD"
    case .pageDirectoryPointerTable: "PDPT"
    case .pml4: "PML4"
    case .pml5: "PML5"
    }
  }

  /// The SDM name of one entry: "PTE", "PDE", "PDPTE", "PML4E", "PML5E".
  public var entryName: String {
    switch self {
    case .pageTable: "PTE"
    case .pageDirectory: "PDE"
    case .pageDirectoryPointerTable: "PDPTE"
    case .pml4: "PML4E"
    case .pml5: "PML5E"
    }
  }

  /// The entry name as it reads in `mode` ("PDPTE register" for PAE's PDPT).
  public func entryName(in mode: PagingMode) -> String {
    mode == .pae && self == .pageDirectoryPointerTable ? "PDPTE register" : entryName
  }

  /// The next level down, or nil below the page table.
  @inlinable public var lower: PagingLevel? { PagingLevel(rawValue: rawValue - 1) }
}

/// The size of a page mapped by a leaf entry. The raw value is the size in bytes.
public enum PageSize: UInt64, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
  case size4KiB = 0x1000
  case size2MiB = 0x20_0000
  case size4MiB = 0x40_0000
  case size1GiB = 0x4000_0000

  /// The size in bytes.
  @inlinable public var bytes: UInt64 { rawValue }
  /// `bytes - 1`: the page-offset bits of a linear or physical address.
  @inlinable public var offsetMask: UInt64 { rawValue &- 1 }

  @inlinable public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

  /// "4K", "2M", "4M", "1G" (as QEMU and Linux dumps print them).
  public var description: String {
    switch self {
    case .size4KiB: "4K"
    case .size2MiB: "2M"
    case .size4MiB: "4M"
    case .size1GiB: "1G"
    }
  }
}

/// Everything a translation depends on besides memory: the control registers, EFER,
/// RFLAGS.AC, the protection-key registers and the processor's MAXPHYADDR.
public struct PagingContext: Sendable, Hashable {
  public var cr0: ControlRegister0
  /// CR3 as read from the vCPU (PCD/PWT or PCID bits included; the model masks them).
  public var cr3: UInt64
  public var cr4: ControlRegister4
  public var efer: ExtendedFeatureEnable
  /// RFLAGS; only AC matters (SMAP).
  public var rflags: RFlags
  /// PKRU: rights per protection key for user-mode pages (used when CR4.PKE = 1).
  public var pkru: ProtectionKeyRights
  /// IA32_PKRS bits 31:0: rights per key for supervisor-mode pages (used when CR4.PKS = 1).
  public var pkrs: ProtectionKeyRights
  /// MAXPHYADDR, CPUID.80000008H:EAX[7:0]. Values outside 32...52 are clamped.
  public var maxPhysicalAddressBits: Int
  /// CPUID.80000001H:EDX.Page1GB[26]. When false, PS in a PDPTE is a reserved bit.
  public var supports1GiBPages: Bool
  /// PAE paging only: the four PDPTE registers as the vCPU holds them (e.g. KVM's
  /// `kvm_sregs2.pdptrs`). When nil, the walk loads them from memory at CR3[31:5], as a
  /// MOV to CR3 would have.
  public var paeDirectoryPointers: [UInt64]?

  public init(
    cr0: ControlRegister0, cr3: UInt64, cr4: ControlRegister4,
    efer: ExtendedFeatureEnable = [], rflags: RFlags = [],
    pkru: ProtectionKeyRights = .init(), pkrs: ProtectionKeyRights = .init(),
    maxPhysicalAddressBits: Int, supports1GiBPages: Bool = true,
    paeDirectoryPointers: [UInt64]? = nil
  ) {
    self.cr0 = cr0
    self.cr3 = cr3
    self.cr4 = cr4
    self.efer = efer
    self.rflags = rflags
    self.pkru = pkru
    self.pkrs = pkrs
    self.maxPhysicalAddressBits = maxPhysicalAddressBits
    self.supports1GiBPages = supports1GiBPages
    self.paeDirectoryPointers = paeDirectoryPointers
  }

  /// The minimal register state that selects `mode`: CR0.PE|PG, CR4.PSE (32-bit) or PAE
  /// (+LA57), EFER.LME|LMA for IA-32e. WP, NXE, SMEP, SMAP, PKE, PKS are left clear.
  public init(mode: PagingMode, cr3: UInt64, maxPhysicalAddressBits: Int) {
    var cr0: ControlRegister0 = [.protectionEnable, .extensionType]
    var cr4: ControlRegister4 = []
    var efer: ExtendedFeatureEnable = []
    switch mode {
    case .disabled: break
    case .bit32:
      cr0.insert(.paging)
      cr4.insert(.pageSizeExtensions)
    case .pae:
      cr0.insert(.paging)
      cr4.insert(.physicalAddressExtension)
    case .fourLevel, .fiveLevel:
      cr0.insert(.paging)
      cr4.insert(.physicalAddressExtension)
      if mode == .fiveLevel { cr4.insert(.fiveLevelPaging) }
      efer = [.longModeEnable, .longModeActive]
    }
    self.init(cr0: cr0, cr3: cr3, cr4: cr4, efer: efer, maxPhysicalAddressBits: maxPhysicalAddressBits)
  }

  /// The paging mode (SDM Table 4-1). CR0.PG = 1 with CR4.PAE = 0 is 32-bit paging even if
  /// EFER.LME is set (a state MOV to CR0 refuses to enter).
  @inlinable public var mode: PagingMode {
    guard cr0.contains(.paging) else { return .disabled }
    guard cr4.contains(.physicalAddressExtension) else { return .bit32 }
    guard efer.contains(.longModeActive) || efer.contains(.longModeEnable) else { return .pae }
    return cr4.contains(.fiveLevelPaging) ? .fiveLevel : .fourLevel
  }

  /// MAXPHYADDR clamped to 32...52 (the architectural range).
  @inlinable public var physicalAddressWidth: Int { min(max(maxPhysicalAddressBits, 32), 52) }

  /// XD is honoured: IA32_EFER.NXE = 1 and the mode has 64-bit entries.
  @inlinable public var executeDisableActive: Bool {
    efer.contains(.noExecuteEnable) && mode.supportsExecuteDisable
  }

  /// Physical address of the top paging structure: CR3[31:12] (32-bit), CR3[31:5] (PAE),
  /// CR3[M-1:12] (4/5-level).
  @inlinable public var rootTableAddress: UInt64 {
    switch mode {
    case .disabled: 0
    case .bit32: cr3 & 0xFFFF_F000
    case .pae: cr3 & 0xFFFF_FFE0
    case .fourLevel, .fiveLevel: cr3 & ((1 << UInt64(physicalAddressWidth)) - 1) & ~0xFFF
    }
  }

  /// The entry format of `level` in this context's mode.
  @inlinable public func entryFormat(at level: PagingLevel) -> EntryFormat {
    EntryFormat(level: level, context: self)
  }
}
