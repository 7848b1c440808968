import GuestABI
import X86Paging

/// What the guest's CPU offers, as far as the `paging` and `canonical` suites
/// care: a case whose controls need a missing feature is still enumerated (so
/// case indices mean the same on every machine) but reported as skipped.
public struct CPUFeatures: Sendable, Hashable, Codable {
  /// CPUID.(EAX=07H,ECX=0):EBX.SMEP[7].
  public var smep: Bool
  /// CPUID.(EAX=07H,ECX=0):EBX.SMAP[20].
  public var smap: Bool
  /// CPUID.(EAX=07H,ECX=0):ECX.PKU[3].
  public var pku: Bool
  /// CPUID.(EAX=07H,ECX=0):ECX.LA57[16].
  public var la57: Bool
  /// CPUID.80000001H:EDX.Page1GB[26].
  public var pages1GiB: Bool
  /// CPUID.01H:ECX.PCID[17].
  public var pcid: Bool
  /// CPUID.80000001H:EDX.NX[20].
  public var nx: Bool

  public init(
    smep: Bool = false, smap: Bool = false, pku: Bool = false, la57: Bool = false, pages1GiB: Bool = false,
    pcid: Bool = false, nx: Bool = false
  ) {
    self.smep = smep
    self.smap = smap
    self.pku = pku
    self.la57 = la57
    self.pages1GiB = pages1GiB
    self.pcid = pcid
    self.nx = nx
  }

  /// The features the guest's runner reported at boot (`ConformanceFeatures`).
  public init(_ features: ConformanceFeatures) {
    self.init(
      smep: features.contains(.smep), smap: features.contains(.smap), pku: features.contains(.protectionKeys),
      la57: features.contains(.fiveLevelPaging), pages1GiB: features.contains(.pages1GiB),
      pcid: features.contains(.pcid), nx: features.contains(.noExecute))
  }

  /// Every feature present: for tests and for listing the space without a guest.
  public static let all = CPUFeatures(
    smep: true, smap: true, pku: true, la57: true, pages1GiB: true, pcid: true, nx: true)
}

/// One CPU state and access the cases of a section run under: the controls
/// word, the access kind and whether it is made twice.
struct PagingEnvironment: Hashable, Sendable {
  var controls: ConformanceControls
  var kind: ConformanceAccessKind
  var twice: Bool
}

/// One product of the space: every combination of one value per level's
/// alphabet with one environment. Sections are data, so `case(at:)` is
/// arithmetic and nothing is materialised.
struct PagingSection: Sendable {
  /// For the documentation and the tests ("4k", "pml4e-stops", ...).
  var name: String
  /// 1, 2 or 3 (the leaf's level); 1 for explicit-address sections.
  var leafLevel: Int
  var explicitAddress: Bool
  /// Values per level, index 0 = PML4E ... 3 = PTE; `[0]` below the leaf.
  var alphabets: [[UInt64]]
  /// Grouped by controls, so consecutive cases share them (the guest runs
  /// consecutive cases with equal controls as one block).
  var environments: [PagingEnvironment]
  /// Reverse lookups for `index(of:)`.
  var positions: [[UInt64: Int]]
  var environmentPositions: [PagingEnvironment: Int]
  /// The product of the alphabets' sizes.
  var entryCombinations: Int

  init(name: String, leafLevel: Int, explicitAddress: Bool = false, _ alphabets: [[UInt64]], _ env: [PagingEnvironment])
  {
    self.name = name
    self.leafLevel = leafLevel
    self.explicitAddress = explicitAddress
    self.alphabets = alphabets
    self.environments = env
    positions = alphabets.map { values in
      Dictionary(values.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
    }
    environmentPositions = Dictionary(env.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
    entryCombinations = alphabets.reduce(1) { $0 * $1.count }
  }

  var count: Int { entryCombinations * environments.count }

  /// Case `local` of this section: the environment is the slowest digit, the
  /// PTE the fastest.
  func `case`(at local: Int) -> PagingCase {
    let environment = environments[local / entryCombinations]
    var rest = local % entryCombinations
    var entries: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    entries.3 = alphabets[3][rest % alphabets[3].count]
    rest /= alphabets[3].count
    entries.2 = alphabets[2][rest % alphabets[2].count]
    rest /= alphabets[2].count
    entries.1 = alphabets[1][rest % alphabets[1].count]
    rest /= alphabets[1].count
    entries.0 = alphabets[0][rest]
    return PagingCase(
      pml4e: entries.0, pdpte: entries.1, pde: entries.2, pte: entries.3, leafLevel: leafLevel,
      controls: environment.controls, kind: environment.kind, twice: environment.twice,
      explicitAddress: explicitAddress)
  }

  /// The local index of `c` in this section, nil if the section lacks it.
  /// The half of the address space is where the runner places a case, not
  /// part of what it is: `upperHalf` is ignored.
  func index(of c: PagingCase) -> Int? {
    guard c.leafLevel == leafLevel, c.explicitAddress == explicitAddress, c.mutation == 0, c.invalidation == nil,
      !c.controlWrite,
      let environment = environmentPositions[PagingEnvironment(controls: c.controls, kind: c.kind, twice: c.twice)]
    else { return nil }
    var local = 0
    for level in 0..<4 {
      guard let position = positions[level][c.entry(level: 4 - level)] else { return nil }
      local = local * alphabets[level].count + position
    }
    return environment * entryCombinations + local
  }
}

/// The case space of the `paging` or the `canonical` suite, as data: a list of
/// sections, each a product of per-level entry alphabets and environments, so
/// a shard or a filter slices it by index without materialising it.
///
/// # What the `paging` space covers
///
/// It is a superset of kvm-unit-tests x86/access.c's legal combinations
/// (without its PKU and forced-emulation flags; its bit 36 is the lowest
/// reserved bit of this MAXPHYADDR, bit M, and bit 51): PTE flags P W U A D NX
/// and reserved bits M and 51; PDE the same plus PS and, in a 2 MiB PDE,
/// reserved bit 13; PDPTE writable or not; user/supervisor × read/write/fetch
/// × once/twice; EFER.NXE, CR0.WP, CR4.SMEP. Beyond access.c: CR4.SMAP ×
/// RFLAGS.AC for supervisor accesses, 1 GiB leaves (reserved bits 13 and 21
/// of a 1 GiB PDPTE), flags and reserved bits (M, 51, and PS) at the PML4E
/// and PDPTE, user accesses under SMEP, and CR4.PKE × PKRU × the PTE's key
/// (enumerated, skipped without PKU). G is always 0; entries carry flags
/// only (bits 0-11, 63, the reserved bits tested, and bit 59 for a key).
/// Every case is in the lower half (`upperHalf` false): the runner chooses
/// the half it places a case in.
///
/// # Pruning rules (what is left out, and why that loses nothing)
///
/// 1. The access is one of read, write or fetch: never "fetch and write".
/// 2. Once an entry ends the walk (not present, or a reserved bit set) the
///    levels below it are fixed to a default (P W U), because the processor
///    never reads them. NX in an upper entry ends the walk only when NXE is 0,
///    so those entries keep the full product below them.
/// 3. Upper levels (PML4E, PDPTE) vary over their own alphabet crossed with a
///    small leaf set (P plus every W U NX combination, A and D clear) instead
///    of the full leaf alphabet: their flags combine with the leaf's only
///    through W, U and NX, and through A on the walk.
/// 4. The upper-level alphabets leave out the default entry (P W U, and P U
///    for a PDPTE), which the leaf sections already cross with everything:
///    no case appears twice.
/// 5. CR4.SMAP (with RFLAGS.AC 0 and 1 for reads and writes, 0 for fetches,
///    which SMAP does not restrict) is crossed only with leaf entries without
///    reserved bits: a reserved-bit fault ends the walk before any rights
///    check, so SMAP cannot change it; SMAP off covers the reserved bits.
/// 6. RFLAGS.AC is set only with SMAP at CPL 0 (the runner sets AC for
///    supervisor accesses only); user accesses run with SMAP off.
/// 7. Protection keys: 4 KiB leaves only, PTE P with every W U A D
///    combination and key 0 or 1, NXE on, PKRU's AD/WD for key 1 (key 0 is
///    never restricted), WP 0/1, SMEP and SMAP off.
/// 8. Not-present entries keep their other flags and reserved bits (ignored
///    by the processor, so a platform that reads them is caught).
///
/// # Counts (MAXPHYADDR 48: reserved address bits 48 and 51)
///
/// | leaf | cases |
/// |---|---|
/// | 4 KiB | 1,720,192 (1,563,648 PDE/PTE, 153,472 PML4E/PDPTE, 3,072 PKU) |
/// | 2 MiB | 145,280 |
/// | 1 GiB | 79,488 |
/// | total | 1,944,960 in 264 families (276 with PKU) |
///
/// The `canonical` space has 440 cases (6 families). `PagingSpaceTests`
/// checks these numbers.
public struct PagingSpace: Sendable {
  public let suite: ConformanceSuite
  public let maxPhysicalAddressBits: Int
  /// The features `skipReason(for:)` judges cases against.
  public let features: CPUFeatures
  let sections: [PagingSection]
  /// `starts[i]` is the index of section i's first case.
  let starts: [Int]
  /// Cases in the space.
  public let count: Int

  init(suite: ConformanceSuite, maxPhysicalAddressBits: Int, features: CPUFeatures, sections: [PagingSection]) {
    self.suite = suite
    self.maxPhysicalAddressBits = maxPhysicalAddressBits
    self.features = features
    self.sections = sections.filter { $0.count > 0 }
    var starts: [Int] = []
    var total = 0
    for section in self.sections {
      starts.append(total)
      total += section.count
    }
    self.starts = starts
    self.count = total
  }

  /// Case `index` (0 ..< `count`). Pure and deterministic: the same index
  /// names the same case on every machine with the same MAXPHYADDR.
  public func `case`(at index: Int) -> PagingCase {
    precondition(index >= 0 && index < count, "case index \(index) outside 0..<\(count)")
    let section = sectionIndex(containing: index)
    return sections[section].case(at: index - starts[section])
  }

  /// The index of `c` in the space, nil if the space does not hold it (the
  /// inverse of `case(at:)`; `upperHalf` is ignored).
  public func index(of c: PagingCase) -> Int? {
    for (n, section) in sections.enumerated() {
      if let local = section.index(of: c) { return starts[n] + local }
    }
    return nil
  }

  /// True if the space holds `c`.
  public func contains(_ c: PagingCase) -> Bool { index(of: c) != nil }

  /// The section holding case `index`: a binary search over `starts`.
  func sectionIndex(containing index: Int) -> Int {
    var low = 0
    var high = starts.count - 1
    while low < high {
      let middle = (low + high + 1) / 2
      if starts[middle] <= index { low = middle } else { high = middle - 1 }
    }
    return low
  }

  /// The sections by name with their sizes, in index order: what the space
  /// is made of, for documentation and tests.
  public var sectionSizes: [(name: String, leafLevel: Int, count: Int)] {
    sections.map { ($0.name, $0.leafLevel, $0.count) }
  }

  /// Every family name the space reports, in index order, each once.
  public var families: [String] {
    var seen = Set<String>()
    var names: [String] = []
    for section in sections {
      for environment in section.environments {
        let probe = PagingCase(
          pml4e: 0, pdpte: 0, pde: 0, pte: 0, leafLevel: section.leafLevel, controls: environment.controls,
          kind: environment.kind, twice: environment.twice, explicitAddress: section.explicitAddress)
        let name = family(of: probe)
        if seen.insert(name).inserted { names.append(name) }
      }
    }
    return names
  }

  /// The family `c` is reported in: suite/leaf size/CPL/controls/access kind,
  /// e.g. "paging/4k/cpl3/wp,nxe,smep/read" or "canonical/cpl0/fetch".
  public func family(of c: PagingCase) -> String { Self.family(of: c) }

  /// The family of `c` (independent of any space's parameters).
  public static func family(of c: PagingCase) -> String {
    let cpl = c.controls.contains(.userMode) ? "cpl3" : "cpl0"
    let kind = CaseNames.kind(c.kind)
    if c.explicitAddress { return "canonical/\(cpl)/\(kind)" }
    let controls = CaseNames.controlNames(c.controls).joined(separator: ",")
    return "paging/\(CaseNames.leafSize(c.leafLevel))/\(cpl)/\(controls.isEmpty ? "none" : controls)/\(kind)"
  }

  /// Why `c` cannot run on a CPU with this space's `features`, nil if it can.
  public func skipReason(for c: PagingCase) -> String? { Self.skipReason(for: c, features: features) }

  /// Why `c` cannot run on a CPU with `features` (the first missing feature
  /// it needs, with its CPUID bit), nil if it can.
  public func skipReason(for c: PagingCase, features: CPUFeatures) -> String? {
    Self.skipReason(for: c, features: features)
  }

  /// The static form of `skipReason(for:features:)`.
  public static func skipReason(for c: PagingCase, features: CPUFeatures) -> String? {
    let controls = c.controls
    if controls.contains(.noExecuteEnable) && !features.nx { return "CPU lacks NX (CPUID.80000001H:EDX[20])" }
    if controls.contains(.smep) && !features.smep { return "CPU lacks SMEP (CPUID.7.0:EBX[7])" }
    if controls.contains(.smap) && !features.smap { return "CPU lacks SMAP (CPUID.7.0:EBX[20])" }
    if controls.contains(.protectionKeys) && !features.pku { return "CPU lacks PKU (CPUID.7.0:ECX[3])" }
    if !c.explicitAddress && c.leafLevel == 3 && !features.pages1GiB {
      return "CPU lacks 1 GiB pages (CPUID.80000001H:EDX[26])"
    }
    return nil
  }
}

// MARK: - The paging space

extension PagingSpace {
  /// The `paging` suite's space for a CPU with `maxPhysicalAddressBits`
  /// (which decides the lowest reserved address bit) and `features` (which
  /// decide only what is skipped, never what is enumerated).
  public static func paging(maxPhysicalAddressBits: Int, features: CPUFeatures) -> PagingSpace {
    let bits = PagingAlphabets(maxPhysicalAddressBits: maxPhysicalAddressBits)
    let sections = leafSections(bits) + upperSections(bits) + [protectionKeySection(bits)]
    return PagingSpace(
      suite: .paging, maxPhysicalAddressBits: maxPhysicalAddressBits, features: features, sections: sections)
  }

  /// The leaf sections: PDE × PTE under a default PML4E (access.c's space and
  /// SMAP), then 2 MiB and 1 GiB leaves (pruning rules 2 and 5).
  static func leafSections(_ bits: PagingAlphabets) -> [PagingSection] {
    let upper = [PagingAlphabets.defaultEntry]
    let pdpte = [PagingAlphabets.present | PagingAlphabets.user, PagingAlphabets.defaultEntry]
    let ps = PagingAlphabets.pageSize
    let env = PagingEnvironments.self
    return [
      PagingSection(name: "4k", leafLevel: 1, [upper, pdpte, bits.continuing(), bits.leaf()], env.plain),
      PagingSection(name: "4k-smap", leafLevel: 1, [upper, pdpte, bits.continuing(), bits.leafPlain()], env.smap),
      PagingSection(
        name: "4k-pde-stops", leafLevel: 1, [upper, pdpte, bits.stops(level: 2), upper], env.full),
      PagingSection(name: "2m", leafLevel: 2, [upper, pdpte, bits.leaf(level: 2, base: ps), [0]], env.plain),
      PagingSection(name: "2m-smap", leafLevel: 2, [upper, pdpte, bits.leafPlain(base: ps), [0]], env.smap),
      PagingSection(name: "1g", leafLevel: 3, [upper, bits.leaf(level: 3, base: ps), [0], [0]], env.plain),
      PagingSection(name: "1g-smap", leafLevel: 3, [upper, bits.leafPlain(base: ps), [0], [0]], env.smap),
    ]
  }

  /// The PML4E and PDPTE sections (pruning rules 2, 3 and 4).
  static func upperSections(_ bits: PagingAlphabets) -> [PagingSection] {
    let fixed = [PagingAlphabets.defaultEntry]
    let ps = PagingAlphabets.pageSize
    let pml4e = bits.continuing(excluding: [PagingAlphabets.defaultEntry])
    let pdpte = bits.continuing(excluding: [
      PagingAlphabets.defaultEntry, PagingAlphabets.present | PagingAlphabets.user,
    ])
    let small = bits.smallLeaf()
    let smallLarge = bits.smallLeaf(base: ps)
    let full = PagingEnvironments.full
    return [
      PagingSection(name: "pml4e-4k", leafLevel: 1, [pml4e, fixed, fixed, small], full),
      PagingSection(name: "pml4e-2m", leafLevel: 2, [pml4e, fixed, smallLarge, [0]], full),
      PagingSection(name: "pml4e-1g", leafLevel: 3, [pml4e, smallLarge, [0], [0]], full),
      PagingSection(name: "pml4e-stops", leafLevel: 1, [bits.stops(level: 4), fixed, fixed, fixed], full),
      PagingSection(name: "pdpte-4k", leafLevel: 1, [fixed, pdpte, fixed, small], full),
      PagingSection(name: "pdpte-2m", leafLevel: 2, [fixed, pdpte, smallLarge, [0]], full),
      PagingSection(name: "pdpte-stops", leafLevel: 1, [fixed, bits.stops(level: 3), fixed, fixed], full),
    ]
  }

  /// Protection keys (pruning rule 7): enumerated, skipped without PKU.
  static func protectionKeySection(_ bits: PagingAlphabets) -> PagingSection {
    let fixed = [PagingAlphabets.defaultEntry]
    let flags = PagingAlphabets.subsets([
      PagingAlphabets.writable, PagingAlphabets.user, PagingAlphabets.accessed, PagingAlphabets.dirty,
    ])
    let pte = PagingAlphabets.crossed(flags.map { $0 | PagingAlphabets.present }, with: [0, PagingAlphabets.key1])
    return PagingSection(name: "pku-4k", leafLevel: 1, [fixed, fixed, fixed, pte], PagingEnvironments.protectionKeys)
  }
}

// MARK: - The canonical space

extension PagingSpace {
  /// The `canonical` suite's space: every non-canonical neighbour of a user
  /// and a kernel address (each of bits 47..63 flipped, and all of 48..63)
  /// accessed every way at CPL 0 and 3, which must raise #GP(0); and, as
  /// controls that must not fault, reads and fetches at CPL 3 and CPL 0 of
  /// the one page the runner maps for them (`ConformanceABI.userTargetAddress`,
  /// a RET at its first byte).
  public static func canonical(maxPhysicalAddressBits: Int = 48, features: CPUFeatures) -> PagingSpace {
    let bases = [UserLayout.codeBase, KernelLayout.virtualBase]
    var addresses: [UInt64] = []
    for base in bases {
      for bit in 47...63 { addresses.append(base ^ (1 << UInt64(bit))) }
      addresses.append(base ^ 0xFFFF_0000_0000_0000)
    }
    let everyAccess = PagingEnvironments.canonical(cpls: [.userMode, []], kinds: ConformanceAccessKind.allCases)
    let sections = [
      PagingSection(
        name: "non-canonical", leafLevel: 1, explicitAddress: true, [addresses, [0], [0], [0]], everyAccess),
      PagingSection(
        name: "canonical-user", leafLevel: 1, explicitAddress: true,
        [[ConformanceABI.userTargetAddress], [0], [0], [0]],
        PagingEnvironments.canonical(cpls: [.userMode], kinds: [.read, .fetch])),
      PagingSection(
        name: "canonical-kernel", leafLevel: 1, explicitAddress: true,
        [[ConformanceABI.userTargetAddress], [0], [0], [0]],
        PagingEnvironments.canonical(cpls: [[]], kinds: [.read, .fetch])),
    ]
    return PagingSpace(
      suite: .canonical, maxPhysicalAddressBits: maxPhysicalAddressBits, features: features, sections: sections)
  }
}

// MARK: - Alphabets and environments

/// The entry values the sections are built from, for one MAXPHYADDR.
struct PagingAlphabets {
  static let present: UInt64 = 1 << 0
  static let writable: UInt64 = 1 << 1
  static let user: UInt64 = 1 << 2
  static let accessed: UInt64 = 1 << 5
  static let dirty: UInt64 = 1 << 6
  static let pageSize: UInt64 = 1 << 7
  static let noExecute: UInt64 = 1 << 63
  /// Protection key 1 (bits 62:59 = 0001).
  static let key1: UInt64 = 1 << 59
  /// What an entry above the leaf holds when its flags are not under test.
  static let defaultEntry: UInt64 = present | writable | user

  /// Reserved address bits of this MAXPHYADDR that the space sets one at a
  /// time: bit M (the lowest) and bit 51 (the highest), where they exist.
  let addressReserved: [UInt64]

  init(maxPhysicalAddressBits m: Int) {
    var bits: [UInt64] = []
    if m <= 51 { bits.append(1 << UInt64(m)) }
    if m < 51 { bits.append(1 << 51) }
    addressReserved = bits
  }

  /// Every OR of a subset of `flags`, in binary counting order.
  static func subsets(_ flags: [UInt64]) -> [UInt64] {
    (0..<(1 << flags.count)).map { mask in
      flags.enumerated().reduce(UInt64(0)) { mask >> $1.offset & 1 != 0 ? $0 | $1.element : $0 }
    }
  }

  /// Every value ORed with every variant (variants vary slowest).
  static func crossed(_ values: [UInt64], with variants: [UInt64]) -> [UInt64] {
    variants.flatMap { variant in values.map { $0 | variant } }
  }

  /// The reserved bits set one at a time in a present entry of `level`
  /// (4 = PML4E, 3 = PDPTE, 2 = PDE, 1 = PTE) that maps a page (`page`) or
  /// references a table: the address bits, PS in a PML4E, bit 13 in a 2 MiB
  /// PDE, bits 13 and 21 in a 1 GiB PDPTE (SDM Tables 4-15 to 4-20).
  func reserved(level: Int, page: Bool) -> [UInt64] {
    switch (level, page) {
    case (4, _): return addressReserved + [Self.pageSize]
    case (3, true): return addressReserved + [1 << 13, 1 << 21]
    case (2, true): return addressReserved + [1 << 13]
    default: return addressReserved
    }
  }

  /// The P W U A D NX combinations.
  static var flagCombinations: [UInt64] { subsets([present, writable, user, accessed, dirty, noExecute]) }

  /// Every leaf of `level` (P W U A D NX, each with no reserved bit or one).
  func leaf(level: Int = 1, base: UInt64 = 0) -> [UInt64] {
    Self.crossed(Self.flagCombinations.map { $0 | base }, with: [0] + reserved(level: level, page: true))
  }

  /// Every leaf without reserved bits (pruning rule 5).
  func leafPlain(base: UInt64 = 0) -> [UInt64] { Self.flagCombinations.map { $0 | base } }

  /// Present table-referencing entries that let the walk go on: P with every
  /// W U A D NX combination (NX is reserved only when NXE is 0).
  func continuing(excluding: Set<UInt64> = []) -> [UInt64] {
    Self.subsets([Self.writable, Self.user, Self.accessed, Self.dirty, Self.noExecute])
      .map { $0 | Self.present }.filter { !excluding.contains($0) }
  }

  /// Table-referencing entries of `level` that end the walk: not present (any
  /// other flags, reserved bits included, all ignored), or present with one
  /// reserved bit.
  func stops(level: Int) -> [UInt64] {
    let others = Self.subsets([Self.writable, Self.user, Self.accessed, Self.dirty, Self.noExecute])
    let reservedBits = reserved(level: level, page: false)
    return Self.crossed(others, with: [0] + reservedBits) + Self.crossed(continuing(), with: reservedBits)
  }

  /// The small leaf set the upper levels are crossed with (pruning rule 3).
  func smallLeaf(base: UInt64 = 0) -> [UInt64] {
    Self.subsets([Self.writable, Self.user, Self.noExecute]).map { $0 | Self.present | base }
  }
}

/// The environment lists the sections cross their entries with, each
/// grouped by controls (CPL outermost) so a block of cases shares them.
enum PagingEnvironments {
  /// The WP, NXE and SMEP combinations access.c varies.
  static let baseControls: [ConformanceControls] = (0..<8).map { n in
    var controls: ConformanceControls = []
    if n & 1 != 0 { controls.insert(.writeProtect) }
    if n & 2 != 0 { controls.insert(.noExecuteEnable) }
    if n & 4 != 0 { controls.insert(.smep) }
    return controls
  }

  /// Each of `controls` with every kind in `kinds`, once and twice.
  static func accesses(_ controls: [ConformanceControls], kinds: [ConformanceAccessKind]) -> [PagingEnvironment] {
    controls.flatMap { c in
      kinds.flatMap { k in [false, true].map { PagingEnvironment(controls: c, kind: k, twice: $0) } }
    }
  }

  /// SMAP off: CPL 3 and CPL 0 × WP NXE SMEP × read/write/fetch × once/twice (96).
  static let plain: [PagingEnvironment] =
    accesses(baseControls.map { $0.union(.userMode) }, kinds: ConformanceAccessKind.allCases)
    + accesses(baseControls, kinds: ConformanceAccessKind.allCases)

  /// SMAP on at CPL 0: AC 0 and 1 for reads and writes, AC 0 for fetches (80).
  static let smap: [PagingEnvironment] = baseControls.flatMap { base in
    accesses([base.union(.smap)], kinds: [.read, .write, .fetch])
      + accesses([base.union([.smap, .alignmentCheck])], kinds: [.read, .write])
  }

  /// Both (176).
  static let full: [PagingEnvironment] = plain + smap

  /// PKE with NXE, WP 0/1 and PKRU's AD/WD for key 1, at CPL 3 and 0 (96).
  static let protectionKeys: [PagingEnvironment] = [ConformanceControls.userMode, []].flatMap { cpl in
    [ConformanceControls(), .writeProtect].flatMap { wp in
      [UInt64(0), 0x4, 0x8, 0xC].flatMap { pkru in
        let controls = ConformanceControls(
          rawValue: cpl.union(wp).union([.protectionKeys, .noExecuteEnable]).rawValue | pkru << 32)
        return accesses([controls], kinds: ConformanceAccessKind.allCases)
      }
    }
  }

  /// The canonical suite's: WP on (the runner's usual state), at each CPL.
  static func canonical(cpls: [ConformanceControls], kinds: [ConformanceAccessKind]) -> [PagingEnvironment] {
    accesses(cpls.map { $0.union(.writeProtect) }, kinds: kinds)
  }
}
