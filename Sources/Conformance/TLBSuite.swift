import GuestABI
import X86Paging

/// The `tlb` suite: a read fills the TLB, the leaf changes (another page, or
/// not present), an invalidation runs (or none), and a second read shows
/// which translation the processor used. After an invalidation that covers
/// the entry (SDM §4.10.4) it must be the new one; before it, or after one
/// that does not cover it (a CR3 load for a global page, a CR3 load keeping
/// the PCID's entries), the old one is allowed too: recorded as stale, not
/// failed.
public struct TLBSuite: CaseSuite {
  /// How the leaf changes between the reads.
  public enum Change: String, CaseIterable, Sendable {
    /// The leaf maps the second target page, same flags.
    case remap
    /// The leaf is cleared (not present).
    case revoke
  }

  /// One combination, before it is a `PagingCase`.
  struct Shape: Hashable {
    var user: Bool
    var leafLevel: Int
    var global: Bool
    var pcid: Bool
    var change: Change
    var invalidation: ConformanceInvalidation
  }

  let shapes: [Shape]
  let features: ConformanceFeatures
  /// X86Paging applied to a case's tables, for the second read through the changed leaf.
  let oracle: PagingOracle

  /// The oracle's MAXPHYADDR and target page when no guest gave them (tests). Neither
  /// changes its answer for these cases: their entries hold no address bit above 4 MiB
  /// (the fake tables' and this target's) and no bit in 51:36, so no MAXPHYADDR makes
  /// one reserved; and the marker the read returns is named by the case, not found at
  /// the physical address.
  public static let oraclePhysicalAddressBits = 52
  public static let oracleTarget: UInt64 = 0x20_0000

  /// The suite for the guest's CPU: its features, MAXPHYADDR and target page.
  public init(capabilities: GuestCapabilities) {
    self.init(
      features: capabilities.features, maxPhysicalAddressBits: capabilities.maxPhysicalAddressBits,
      targetPhysical: capabilities.targetPhysical)
  }

  public init(
    features: ConformanceFeatures, maxPhysicalAddressBits: Int = Self.oraclePhysicalAddressBits,
    targetPhysical: UInt64 = Self.oracleTarget
  ) {
    self.features = features
    oracle = PagingOracle(
      maxPhysicalAddressBits: maxPhysicalAddressBits, features: CPUFeatures(features), targetPhysical: targetPhysical)
    var shapes: [Shape] = []
    for user in [false, true] {
      for leafLevel in [1, 2] {
        for global in [false, true] {
          for pcid in [false, true] {
            for change in Change.allCases {
              for invalidation in ConformanceInvalidation.allCases where pcid || invalidation != .reloadRootKeepingPCID
              {
                shapes.append(
                  Shape(
                    user: user, leafLevel: leafLevel, global: global, pcid: pcid, change: change,
                    invalidation: invalidation))
              }
            }
          }
        }
      }
    }
    self.shapes = shapes
  }

  public var suite: ConformanceSuite { .tlb }
  public var count: Int { shapes.count }

  public func `case`(at index: Int) -> PagingCase {
    let shape = shapes[index]
    let table: UInt64 = 0x27  // P W U A
    var leaf: UInt64 = 0x67 | (shape.global ? 1 << 8 : 0) | (shape.leafLevel > 1 ? 1 << 7 : 0)
    if !shape.user { leaf &= ~4 }  // a supervisor page: no SMAP question arises
    var controls: ConformanceControls = shape.user ? [.userMode] : []
    if shape.global { controls.insert(.globalPages) }
    if shape.pcid { controls.insert(.pcid) }
    let mutation = shape.change == .remap ? leaf | ConformanceABI.remapToSecondTarget : 0
    return PagingCase(
      pml4e: table, pdpte: table, pde: shape.leafLevel == 1 ? table : leaf, pte: shape.leafLevel == 1 ? leaf : 0,
      leafLevel: shape.leafLevel, controls: controls, kind: .read, twice: true, mutation: mutation,
      invalidation: shape.invalidation)
  }

  public func family(of c: PagingCase) -> String {
    let invalidation = c.invalidation.map { Self.name($0) } ?? "none"
    return "tlb/\(invalidation)/\(c.controls.contains(.userMode) ? "cpl3" : "cpl0")"
  }

  public func skipReason(for c: PagingCase) -> String? {
    if c.controls.contains(.pcid) && !features.contains(.pcid) { return "CPU lacks PCID (CPUID.01H:ECX[17])" }
    if c.controls.contains(.globalPages) && !features.contains(.globalPages) {
      return "CPU lacks PGE (CPUID.01H:EDX[13])"
    }
    return nil
  }

  /// Whether the invalidation must remove the old translation of `c`.
  static func mustSeeNew(_ c: PagingCase) -> Bool {
    let global = c.controls.contains(.globalPages) && c.entry(level: c.leafLevel) & (1 << 8) != 0
    switch c.invalidation ?? .none {
    case .none, .reloadRootKeepingPCID: return false
    case .invlpg, .toggleGlobalPages: return true
    case .reloadRoot: return !global
    }
  }

  /// The second read's outcome with the new leaf, and with the old one.
  func outcomes(_ c: PagingCase, address: UInt64) -> (
    new: (AttemptOutcome, UInt64?), old: (AttemptOutcome, UInt64?)
  ) {
    (secondRead(c, address: address), (AttemptOutcome.completed, Optional(ConformanceABI.targetMarker)))
  }

  /// The second read of `address` through the leaf `c.mutation` leaves, as X86Paging
  /// translates it: the guest drops the remap flag and puts in the target's frame, which
  /// `CaseTables` does too. A completed read returns the marker of the page the mutation
  /// names; a model with no answer (never, with these tables) gives a completion with no
  /// marker, which no observation matches.
  func secondRead(_ c: PagingCase, address: UInt64) -> (AttemptOutcome, UInt64?) {
    var changed = c
    let leaf = c.mutation & ~ConformanceABI.remapToSecondTarget
    if c.leafLevel == 1 { changed.pte = leaf } else { changed.pde = leaf }
    let translation = oracle.translation(of: changed, linearAddress: address)
    guard let outcome = PagingOracle.attempt(translation.outcome, linearAddress: address) else {
      return (.completed, nil)
    }
    guard outcome == .completed else { return (outcome, nil) }
    let remapped = c.mutation & ConformanceABI.remapToSecondTarget != 0
    return (.completed, remapped ? ConformanceABI.secondTargetMarker : ConformanceABI.targetMarker)
  }

  public func judge(_ c: PagingCase, observed: Observation) -> Judgement {
    var differences: [Difference] = []
    guard observed.attempts.count == 2 else {
      return Judgement(differences: [Difference(kind: .attempts, detail: "\(observed.attempts.count) attempts, not 2")])
    }
    if observed.attempts[0] != .completed {
      differences.append(
        Difference(kind: .fault, detail: "the first read faulted: \(CaseNames.attempt(observed.attempts[0]))"))
    }
    let (new, old) = outcomes(c, address: observed.linearAddress)
    let second = observed.attempts[1]
    let value: UInt64? = second == .completed ? observed.valueRead : nil
    let sawNew = second == new.0 && value == new.1
    let sawOld = second == old.0 && value == old.1
    if !(sawNew || (sawOld && !Self.mustSeeNew(c))) {
      let kind: DifferenceKind = second.vector == nil ? (new.0.vector == nil ? .entryBits : .noFault) : .fault
      differences.append(Difference(kind: kind, detail: "second read: \(Self.describe(second, value: value))"))
    }
    return Judgement(differences: differences)
  }

  /// True when the second read used the old translation (allowed, recorded).
  public func sawStale(_ c: PagingCase, observed: Observation) -> Bool {
    observed.attempts.count == 2 && observed.attempts[1] == .completed
      && observed.valueRead == ConformanceABI.targetMarker
  }

  public func describe(_ c: PagingCase) -> String {
    let change = c.mutation == 0 ? "revoke" : "remap"
    var words = [c.controls.contains(.userMode) ? "CPL3" : "CPL0", CaseNames.leafSize(c.leafLevel), change]
    if c.controls.contains(.globalPages) { words.append("global (PGE, G)") }
    if c.controls.contains(.pcid) { words.append("PCIDE") }
    words.append("then " + (c.invalidation.map { Self.name($0) } ?? "none"))
    return words.joined(separator: " ")
  }

  public func outcomes(_ c: PagingCase, observed: Observation) -> (expected: String, observed: String) {
    let (new, old) = outcomes(c, address: observed.linearAddress)
    var expected = "second read: " + Self.describe(new.0, value: new.1)
    if !Self.mustSeeNew(c) { expected += ", or (stale) " + Self.describe(old.0, value: old.1) }
    let second = observed.attempts.count == 2 ? observed.attempts[1] : .completed
    return (expected, "second read: " + Self.describe(second, value: second == .completed ? observed.valueRead : nil))
  }

  static func describe(_ outcome: AttemptOutcome, value: UInt64?) -> String {
    guard outcome == .completed else { return CaseNames.attempt(outcome) }
    switch value {
    case ConformanceABI.targetMarker: return "the old page"
    case ConformanceABI.secondTargetMarker: return "the new page"
    default: return "read \(hex(value ?? 0))"
    }
  }

  static func name(_ invalidation: ConformanceInvalidation) -> String {
    switch invalidation {
    case .none: return "none"
    case .invlpg: return "invlpg"
    case .reloadRoot: return "cr3-reload"
    case .reloadRootKeepingPCID: return "cr3-reload-noflush"
    case .toggleGlobalPages: return "cr4-pge-toggle"
    }
  }
}
