import GuestABI
import Testing

@testable import Conformance

/// kvm-unit-tests x86/access.c's combinations, from its documented
/// semantics: one flag per bit (without its PKU and forced-emulation flags),
/// every subset of them enumerated, and `legal` deciding which run.
struct AccessCFlags: OptionSet, Hashable {
  var rawValue: UInt32
  static let ptePresent = Self(rawValue: 1 << 0)
  static let pteWritable = Self(rawValue: 1 << 1)
  static let pteUser = Self(rawValue: 1 << 2)
  static let pteAccessed = Self(rawValue: 1 << 3)
  static let pteDirty = Self(rawValue: 1 << 4)
  static let pteNX = Self(rawValue: 1 << 5)
  static let pteBit51 = Self(rawValue: 1 << 6)
  /// access.c's bit 36: a reserved address bit where MAXPHYADDR is 36; here
  /// the lowest reserved one, bit MAXPHYADDR.
  static let pteBit36 = Self(rawValue: 1 << 7)
  static let pdePresent = Self(rawValue: 1 << 8)
  static let pdeWritable = Self(rawValue: 1 << 9)
  static let pdeUser = Self(rawValue: 1 << 10)
  static let pdeAccessed = Self(rawValue: 1 << 11)
  static let pdeDirty = Self(rawValue: 1 << 12)
  static let pdePSE = Self(rawValue: 1 << 13)
  static let pdeNX = Self(rawValue: 1 << 14)
  static let pdeBit51 = Self(rawValue: 1 << 15)
  static let pdeBit36 = Self(rawValue: 1 << 16)
  static let pdeBit13 = Self(rawValue: 1 << 17)
  static let pdpteNoWritable = Self(rawValue: 1 << 18)
  static let accessUser = Self(rawValue: 1 << 19)
  static let accessWrite = Self(rawValue: 1 << 20)
  static let accessFetch = Self(rawValue: 1 << 21)
  static let accessTwice = Self(rawValue: 1 << 22)
  static let eferNX = Self(rawValue: 1 << 23)
  static let cr0WP = Self(rawValue: 1 << 24)
  static let cr4SMEP = Self(rawValue: 1 << 25)

  /// The flags that describe entries (the rest describe the access and CPU).
  static let entryFlags = Self(rawValue: (1 << 19) - 1)

  /// access.c's legality rules: an access is one of read, write, fetch; no
  /// user access under SMEP (its code page turns supervisor then); bit 13
  /// only in a 2 MiB PDE; at most one reserved bit over PDE and PTE, NX
  /// counting as reserved when EFER.NXE is 0.
  var legal: Bool {
    if contains(.accessFetch) && contains(.accessWrite) { return false }
    if contains(.accessUser) && contains(.cr4SMEP) { return false }
    if contains(.pdeBit13) && !contains(.pdePSE) { return false }
    var reserved: Self = [.pdeBit51, .pdeBit36, .pdeBit13, .pteBit51, .pteBit36]
    if !contains(.eferNX) { reserved.formUnion([.pdeNX, .pteNX]) }
    return intersection(reserved).rawValue.nonzeroBitCount <= 1
  }

  /// The case access.c runs, as a `PagingCase` with what the processor never
  /// reads normalised away: the PML4E is P W U and the PDPTE P U (+W), as
  /// access.c builds them; the PTE is 0 under a 2 MiB PDE, and the default
  /// P W U when the PDE ends the walk (not present or a reserved bit set).
  func pagingCase(maxPhysicalAddressBits m: Int) -> PagingCase {
    let reservedLow: UInt64 = 1 << UInt64(m)
    func entry(_ p: Self, _ w: Self, _ u: Self, _ a: Self, _ d: Self, _ nx: Self, _ b51: Self, _ b36: Self) -> UInt64 {
      let bits: [(Self, UInt64)] = [
        (p, Bit.p), (w, Bit.w), (u, Bit.u), (a, Bit.a), (d, Bit.d), (nx, Bit.nx), (b51, Bit.r51), (b36, reservedLow),
      ]
      return bits.reduce(0) { contains($1.0) ? $0 | $1.1 : $0 }
    }
    var pde = entry(.pdePresent, .pdeWritable, .pdeUser, .pdeAccessed, .pdeDirty, .pdeNX, .pdeBit51, .pdeBit36)
    if contains(.pdePSE) { pde |= Bit.ps }
    if contains(.pdeBit13) { pde |= Bit.r13 }
    var pte = entry(.ptePresent, .pteWritable, .pteUser, .pteAccessed, .pteDirty, .pteNX, .pteBit51, .pteBit36)
    let pdeEndsWalk =
      !contains(.pdePresent) || contains(.pdeBit51) || contains(.pdeBit36)
      || (contains(.pdeNX) && !contains(.eferNX))
    if contains(.pdePSE) { pte = 0 } else if pdeEndsWalk { pte = Bit.pwu }
    var controls: ConformanceControls = []
    if contains(.accessUser) { controls.insert(.userMode) }
    if contains(.eferNX) { controls.insert(.noExecuteEnable) }
    if contains(.cr0WP) { controls.insert(.writeProtect) }
    if contains(.cr4SMEP) { controls.insert(.smep) }
    let kind: ConformanceAccessKind = contains(.accessFetch) ? .fetch : contains(.accessWrite) ? .write : .read
    return PagingCase(
      pml4e: Bit.pwu, pdpte: contains(.pdpteNoWritable) ? Bit.p | Bit.u : Bit.pwu, pde: pde, pte: pte,
      leafLevel: contains(.pdePSE) ? 2 : 1, controls: controls, kind: kind, twice: contains(.accessTwice))
  }
}

/// The paging space is a superset of access.c's legal combinations.
@Suite struct AccessCCoverageTests {
  /// Every legal access/CPU combination (the 7 non-entry flags).
  static let environments: [AccessCFlags] = (0..<128).map { AccessCFlags(rawValue: UInt32($0) << 19) }
    .filter { AccessCFlags(rawValue: $0.rawValue).legal }

  /// Every legal entry combination (2^19 of PDE, PTE and PDPTE flags, under
  /// NXE 0 and 1) is in the space, each with a different legal environment
  /// in turn; and every legal environment with the first entry combinations.
  /// Since every section of the space is a product of its entry alphabets
  /// and its environment list, and the lists of the sections that hold
  /// access.c's entries include every access.c environment (SMAP off), this
  /// visits every factor of the full 2^26 product.
  @Test func spaceContainsEveryLegalAccessCCombination() {
    var checked = 0
    var rotation = 0
    for nxe in [false, true] {
      let envs = Self.environments.filter { $0.contains(.eferNX) == nxe }
      for entries in 0..<UInt32(1 << 19) {
        let flags = AccessCFlags(rawValue: entries).union(envs[rotation % envs.count])
        guard flags.legal else { continue }
        rotation += 1
        checked += 1
        let c = flags.pagingCase(maxPhysicalAddressBits: testMaxPhysicalAddressBits)
        #expect(
          testSpace.contains(c), "access.c \(flags.rawValue): \(c.caseDescription)")
      }
    }
    #expect(checked == 120_832)
  }

  /// Every legal environment (72 of them) with a sample of entry
  /// combinations, including the reserved-bit and large-page ones.
  @Test func spaceContainsEveryLegalAccessCEnvironment() {
    #expect(Self.environments.count == 72)
    let samples: [AccessCFlags] = [
      [], [.ptePresent, .pdePresent], [.ptePresent, .pteWritable, .pteUser, .pdePresent, .pdeUser],
      [.ptePresent, .pteBit51, .pdePresent], [.pdePresent, .pdeBit36], [.pdePresent, .pdePSE, .pdeBit13, .pdeUser],
      [.ptePresent, .pteNX, .pdePresent, .pdeNX, .pdeDirty, .pdpteNoWritable],
    ]
    for env in Self.environments {
      for sample in samples where sample.union(env).legal {
        let c = sample.union(env).pagingCase(maxPhysicalAddressBits: testMaxPhysicalAddressBits)
        #expect(testSpace.contains(c), "\(c.caseDescription)")
      }
    }
  }

  /// The legality rules above, counted by hand: with NXE=1 the free bits are
  /// P W U A D NX of PTE and PDE and the PDPTE's W (2^13), times "no reserved
  /// bit or one of" PDE 51/36 and PTE 51/36 (5), or with PSE also PDE 13 (6);
  /// with NXE=0 the two NX bits join the reserved ones (2^11 × (7 + 8)). The
  /// 72 legal environments split 36/36 over NXE: 4,349,952 combinations.
  @Test func legalityRulesCountAsDerivedByHand() {
    var legalEntries = [false: 0, true: 0]
    for entries in 0..<UInt32(1 << 19) {
      for nxe in [false, true] where AccessCFlags(rawValue: entries).union(nxe ? .eferNX : []).legal {
        legalEntries[nxe, default: 0] += 1
      }
    }
    #expect(legalEntries[true] == (1 << 13) * (5 + 6))
    #expect(legalEntries[false] == (1 << 11) * (7 + 8))
    #expect(Self.environments.filter { $0.contains(.eferNX) }.count == 36)
    #expect((legalEntries[true, default: 0] + legalEntries[false, default: 0]) * 36 == 4_349_952)
  }
}
