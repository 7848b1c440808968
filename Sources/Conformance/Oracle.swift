import GuestABI
import X86Paging

/// What the architecture allows to happen to one flag (A or D) of one entry.
public enum FlagExpectation: String, Sendable, Hashable, Codable {
  /// The flag must be 1 afterwards.
  case set
  /// It may become 1 (model-specific: SDM §4.8 lets the processor set A on a
  /// faulting walk's entries), but a 1 must stay 1.
  case maySet = "may-set"
  /// It must be as the case wrote it.
  case unchanged
}

/// What the model says one case must do: each attempt's outcome and, per
/// level, what may happen to A and D.
public struct Prediction: Sendable, Hashable {
  /// The linear address the attempts use (CR2 of a #PF).
  public var linearAddress: UInt64
  /// One outcome per attempt (two for `twice` cases, the second equal to the
  /// first: a fault leaves nothing cached, a success is repeatable). Empty
  /// when the model cannot predict (`reason` says why).
  public var attempts: [AttemptOutcome]
  /// Per level, index 0 = PML4E ... 3 = PTE. Empty for explicit-address cases,
  /// which have no entries of their own.
  public var accessed: [FlagExpectation]
  public var dirty: [FlagExpectation]
  /// Per level: the bits the judge compares, everything but the address field
  /// the guest ORs in.
  public var flagMasks: [UInt64]
  /// The model's outcome, kept as a value so predicting never formats text.
  public var outcome: PredictedOutcome

  public init(
    linearAddress: UInt64, attempts: [AttemptOutcome], accessed: [FlagExpectation], dirty: [FlagExpectation],
    flagMasks: [UInt64], outcome: PredictedOutcome
  ) {
    self.linearAddress = linearAddress
    self.attempts = attempts
    self.accessed = accessed
    self.dirty = dirty
    self.flagMasks = flagMasks
    self.outcome = outcome
  }

  /// The model's reason for a fault, or "" for an access that completes.
  public var reason: String { outcome.reason }
}

/// Why the model predicts what it does.
public enum PredictedOutcome: Sendable, Hashable {
  /// The access completes.
  case completes
  /// X86Paging's translation outcome: a #PF or #GP with its reason.
  case translation(TranslationOutcome)
  /// An explicit-address case whose address is not canonical.
  case nonCanonical
  /// The model has no answer (an entry pointed outside the case's tables).
  case unpredictable(TranslationOutcome)

  /// In words: "write to a read-only page", "" for completion.
  public var reason: String {
    switch self {
    case .completes: return ""
    case .translation(.pageFault(_, let reason)): return "\(reason)"
    case .translation(let outcome): return "\(outcome)"
    case .nonCanonical: return "non-canonical linear address"
    case .unpredictable(let outcome):
      return "the model cannot predict: \(outcome) (an entry of the case holds address bits)"
    }
  }
}

/// Exception vectors the suites expect.
public enum ExceptionVector {
  public static let generalProtection: UInt32 = 13
  public static let pageFault: UInt32 = 14
}

/// A case's four entries at fake table addresses: the smallest memory the
/// X86Paging walk can read, with no allocation per case. The PML4 is at
/// 0x1000, the PDPT at 0x2000, the PD at 0x3000 and the PT at 0x4000; every
/// offset of a table page reads that table's one entry, so any linear address
/// walks it.
public struct CaseTables: PhysicalMemory, Sendable {
  /// CR3 of the walk.
  public static let root: UInt64 = 0x1000
  /// The entries with their address fields, PML4E first.
  public var pml4e: UInt64
  public var pdpte: UInt64
  public var pde: UInt64
  public var pte: UInt64

  /// The entries of `c` as the guest writes them: flags ORed with the next
  /// table's address, or with the target's leaf frame at the leaf.
  public init(_ c: PagingCase, targetPhysical: UInt64) {
    let frame = ConformanceABI.leafFrame(leafLevel: c.leafLevel, targetPhysical: targetPhysical)
    func address(_ level: Int) -> UInt64 {
      level < c.leafLevel ? 0 : level == c.leafLevel ? frame : Self.tableAddress(level: level - 1)
    }
    pml4e = c.pml4e | address(4)
    pdpte = c.pdpte | address(3)
    pde = c.pde | address(2)
    pte = c.pte | address(1)
  }

  /// The fake address of the table holding `level`'s entries (4 = PML4).
  public static func tableAddress(level: Int) -> UInt64 { UInt64(5 - level) << 12 }

  /// The level (4 = PML4E ... 1 = PTE) of an entry address, 0 if none.
  public static func level(ofEntryAt address: UInt64) -> Int {
    let table = Int(truncatingIfNeeded: address >> 12)
    return (1...4).contains(table) ? 5 - table : 0
  }

  public func load64(_ physicalAddress: UInt64) -> UInt64? {
    switch physicalAddress >> 12 {
    case 1: return pml4e
    case 2: return pdpte
    case 3: return pde
    case 4: return pte
    default: return nil
    }
  }

  public func load32(_ physicalAddress: UInt64) -> UInt32? {
    load64(physicalAddress & ~7).map { UInt32(truncatingIfNeeded: physicalAddress & 4 != 0 ? $0 >> 32 : $0) }
  }
}

/// The X86Paging model applied to conformance cases: what a case must do on
/// a CPU with this MAXPHYADDR and these features, whose leaves map
/// `targetPhysical`.
public struct PagingOracle: Sendable {
  public let maxPhysicalAddressBits: Int
  public let features: CPUFeatures
  /// The page every case's leaf maps (the guest reports it at boot).
  public let targetPhysical: UInt64

  /// 4-level paging with CR3 at the fake PML4 and no control set: built
  /// once, so a case's context is a copy and a few ORs.
  let baseContext: PagingContext

  public init(maxPhysicalAddressBits: Int, features: CPUFeatures, targetPhysical: UInt64) {
    self.maxPhysicalAddressBits = maxPhysicalAddressBits
    self.features = features
    self.targetPhysical = targetPhysical
    var context = PagingContext(
      mode: .fourLevel, cr3: CaseTables.root, maxPhysicalAddressBits: maxPhysicalAddressBits)
    context.supports1GiBPages = features.pages1GiB
    baseContext = context
  }

  /// The linear address case `c` accesses from block slot `slot` (the
  /// guest's formula, `ConformanceABI.linearAddress`), or its own address.
  public func linearAddress(of c: PagingCase, slot: Int) -> UInt64 {
    if c.explicitAddress { return c.pml4e }
    return ConformanceABI.linearAddress(
      slot: slot, leafLevel: c.leafLevel, targetPhysical: targetPhysical, kind: c.kind)
  }

  /// The register state the runner sets for `c`: 4-level paging, CR3 at the
  /// fake PML4, and the case's controls.
  public func context(for c: PagingCase) -> PagingContext {
    var context = baseContext
    let controls = c.controls.rawValue
    func bit(_ control: ConformanceControls, _ register: UInt64) -> UInt64 {
      controls & control.rawValue != 0 ? register : 0
    }
    context.cr0.rawValue |= bit(.writeProtect, ControlRegister0.writeProtect.rawValue)
    context.efer.rawValue |= bit(.noExecuteEnable, ExtendedFeatureEnable.noExecuteEnable.rawValue)
    context.cr4.rawValue |=
      bit(.smep, ControlRegister4.supervisorModeExecutionPrevention.rawValue)
      | bit(.smap, ControlRegister4.supervisorModeAccessPrevention.rawValue)
      | bit(.protectionKeys, ControlRegister4.protectionKeysForUserPages.rawValue)
    if !c.controls.contains(.userMode) {
      context.rflags.rawValue |= bit(.alignmentCheck, RFlags.alignmentCheck.rawValue)
    }
    context.pkru = ProtectionKeyRights(rawValue: c.controls.pkru)
    return context
  }

  /// The access `c` makes: its kind at CPL 3 or CPL 0.
  public func access(for c: PagingCase) -> Access {
    let kind: Access.Kind =
      switch c.kind {
      case .read: .read
      case .write: .write
      case .fetch: .fetch
      }
    return Access(kind, c.controls.contains(.userMode) ? .user : .supervisor)
  }

  /// The X86Paging translation of `c`'s access at `linearAddress`.
  public func translation(of c: PagingCase, linearAddress: UInt64, context: PagingContext? = nil) -> Translation {
    translate(
      linearAddress, access: access(for: c), context: context ?? self.context(for: c),
      memory: CaseTables(c, targetPhysical: targetPhysical))
  }

  /// What `c` must do when it accesses `linearAddress`.
  public func predict(_ c: PagingCase, linearAddress: UInt64) -> Prediction {
    if c.explicitAddress { return predictExplicit(c) }
    let t = translation(of: c, linearAddress: linearAddress)
    let outcome = Self.attempt(t.outcome, linearAddress: linearAddress)
    let accessed = Self.levelMask(t.accessedSet)
    let mayBeAccessed = Self.levelMask(t.accessedMayBeSet)
    let dirty = Self.levelMask(t.dirtySet)
    return Prediction(
      linearAddress: linearAddress,
      attempts: outcome.map { Array(repeating: $0, count: c.twice ? 2 : 1) } ?? [],
      accessed: (0..<4).map { accessed[$0] ? .set : mayBeAccessed[$0] ? .maySet : .unchanged },
      dirty: (0..<4).map { dirty[$0] ? .set : .unchanged },
      flagMasks: (0..<4).map { flagMask(level: 4 - $0, leafLevel: c.leafLevel) },
      outcome: outcome == nil ? .unpredictable(t.outcome) : outcome == .completed ? .completes : .translation(t.outcome)
    )
  }

  /// An explicit-address case: #GP(0) when the address is not canonical
  /// (SDM §3.3.7.1), completion otherwise; no entries to judge.
  func predictExplicit(_ c: PagingCase) -> Prediction {
    let canonical = PagingMode.fourLevel.isCanonical(c.pml4e)
    let outcome = canonical ? AttemptOutcome.completed : AttemptOutcome(vector: ExceptionVector.generalProtection)
    return Prediction(
      linearAddress: c.pml4e, attempts: Array(repeating: outcome, count: c.twice ? 2 : 1), accessed: [], dirty: [],
      flagMasks: [], outcome: canonical ? .completes : .nonCanonical)
  }

  /// One attempt's outcome from the model's; nil when the model has no
  /// answer (an entry pointed outside the fake tables).
  static func attempt(_ outcome: TranslationOutcome, linearAddress: UInt64) -> AttemptOutcome? {
    switch outcome {
    case .mapped: return .completed
    case .pageFault(let code, _):
      return AttemptOutcome(vector: ExceptionVector.pageFault, errorCode: code.rawValue, faultAddress: linearAddress)
    case .generalProtection: return AttemptOutcome(vector: ExceptionVector.generalProtection)
    case .tableOutsideMemory: return nil
    }
  }

  /// Which levels (index 0 = PML4E ... 3 = PTE) `addresses` name.
  static func levelMask(_ addresses: [UInt64]) -> [Bool] {
    var mask = [false, false, false, false]
    for address in addresses {
      let level = CaseTables.level(ofEntryAt: address)
      if level > 0 { mask[4 - level] = true }
    }
    return mask
  }

  /// The bits of `level`'s entry the judge compares: all but the address
  /// field (bits M-1:12 of a table reference, M-1:page size of a leaf).
  public func flagMask(level: Int, leafLevel: Int) -> UInt64 {
    let width = UInt64(min(max(maxPhysicalAddressBits, 32), 52))
    let lowest: UInt64 = level == leafLevel ? 12 + 9 * UInt64(leafLevel - 1) : 12
    let addressField: UInt64 = ((1 << width) - 1) & ~((1 << lowest) - 1)
    return ~addressField
  }
}

/// `PagingOracle(…).predict(c, linearAddress:)` in one call.
public func predict(
  _ c: PagingCase, linearAddress: UInt64, targetPhysical: UInt64, maxPhysicalAddressBits: Int,
  features: CPUFeatures
) -> Prediction {
  PagingOracle(maxPhysicalAddressBits: maxPhysicalAddressBits, features: features, targetPhysical: targetPhysical)
    .predict(c, linearAddress: linearAddress)
}

// MARK: - Judging

/// How an observation can differ from a prediction: machine-checkable, so an
/// erratum names the kinds it explains.
public enum DifferenceKind: String, Sendable, Hashable, Codable, CaseIterable {
  /// The model says the access completes; it faulted.
  case fault
  /// The model says it faults; it completed.
  case noFault = "no-fault"
  /// Both faulted, with different exceptions.
  case vector
  case errorCode = "error-code"
  /// A reserved-bit #PF whose error code differs from the model's only in P
  /// (the SDM: P is 1, the entry is present).
  case reservedBitFaultPresentFlag = "rsvd-fault-present-flag"
  /// CR2 of a #PF is not the linear address.
  case faultAddress = "fault-address"
  case accessedBit = "accessed-bit"
  case dirtyBit = "dirty-bit"
  /// An entry's other flag bits changed.
  case entryBits = "entry-bits"
  /// The guest recorded a different number of attempts (or the model had none).
  case attempts
  /// The guest accessed another address than the model predicted for.
  case linearAddress = "linear-address"
}

/// One way an observation differs from the prediction.
public struct Difference: Sendable, Hashable, CustomStringConvertible {
  public var kind: DifferenceKind
  /// In words, with both values: "PTE.D: expected unchanged (0), observed 1".
  public var detail: String

  public init(kind: DifferenceKind, detail: String) {
    self.kind = kind
    self.detail = detail
  }

  public var description: String { "\(kind.rawValue): \(detail)" }
}

/// The judge's verdict on one case.
public struct Judgement: Sendable, Hashable {
  public var differences: [Difference]

  public init(differences: [Difference]) { self.differences = differences }

  /// The platform did what the model predicts.
  public var passed: Bool { differences.isEmpty }
  /// The kinds of the differences, for matching errata.
  public var kinds: Set<DifferenceKind> { Set(differences.map(\.kind)) }
  /// Every difference in words, "; "-separated ("" when passed).
  public var summary: String { differences.map(\.description).joined(separator: "; ") }
}

/// Compares what the guest observed for `c` with the model's prediction:
/// each attempt's vector and error code, CR2 for a #PF, and every entry from
/// the PML4E to the leaf: A as `prediction.accessed` allows, D as
/// `prediction.dirty` allows, every other flag bit unchanged.
/// Without `details` the differences carry their kinds only (empty details):
/// enough for a verdict and for errata, and no string work.
public func judge(_ c: PagingCase, observed: Observation, prediction: Prediction, details: Bool = true) -> Judgement {
  var differences: [Difference] = []
  if observed.linearAddress != prediction.linearAddress {
    differences.append(
      Difference(
        kind: .linearAddress,
        detail: details ? "expected \(hex(prediction.linearAddress)), observed \(hex(observed.linearAddress))" : ""))
  }
  differences += judgeAttempts(observed.attempts, prediction: prediction, details: details)
  if !c.explicitAddress { differences += judgeEntries(c, observed.finalEntries, prediction: prediction) }
  return Judgement(differences: differences)
}

/// The attempts' differences: count, then per attempt vector, error code, CR2.
func judgeAttempts(_ observed: [AttemptOutcome], prediction: Prediction, details: Bool = true) -> [Difference] {
  guard observed.count == prediction.attempts.count, !prediction.attempts.isEmpty else {
    let why = prediction.attempts.isEmpty ? prediction.reason : "expected \(prediction.attempts.count)"
    return [Difference(kind: .attempts, detail: "\(observed.count) attempt(s) recorded; \(why)")]
  }
  var differences: [Difference] = []
  for (n, (expected, actual)) in zip(prediction.attempts, observed).enumerated() {
    if expected == actual { continue }  // the common case: no words to build
    let which = prediction.attempts.count > 1 ? "attempt \(n + 1): " : ""
    let detail = details ? "\(which)expected \(CaseNames.attempt(expected)), observed \(CaseNames.attempt(actual))" : ""
    switch (expected.vector, actual.vector) {
    case (nil, nil): continue
    case (nil, _): differences.append(Difference(kind: .fault, detail: detail))
    case (_, nil): differences.append(Difference(kind: .noFault, detail: detail))
    case (let e?, let a?) where e != a: differences.append(Difference(kind: .vector, detail: detail))
    case (let e?, _):
      if expected.errorCode != actual.errorCode {
        // A reserved-bit fault whose error code differs only in P: its own
        // kind, so an erratum can name exactly that (QEMU's TCG clears P).
        let onlyPresentBit =
          expected.errorCode & PageFaultErrorCode.reservedBit.rawValue != 0
          && expected.errorCode ^ actual.errorCode == PageFaultErrorCode.present.rawValue
        differences.append(Difference(kind: onlyPresentBit ? .reservedBitFaultPresentFlag : .errorCode, detail: detail))
      }
      if e == ExceptionVector.pageFault && expected.faultAddress != actual.faultAddress {
        differences.append(Difference(kind: .faultAddress, detail: detail))
      }
    }
  }
  return differences
}

/// The entries' differences, PML4E down to the leaf.
func judgeEntries(_ c: PagingCase, _ finalEntries: [UInt64], prediction: Prediction) -> [Difference] {
  guard finalEntries.count == 4, prediction.accessed.count == 4, prediction.flagMasks.count == 4 else {
    return [Difference(kind: .entryBits, detail: "\(finalEntries.count) final entries recorded, expected 4")]
  }
  var differences: [Difference] = []
  for index in 0...(4 - c.leafLevel) {
    let level = 4 - index
    let mask = prediction.flagMasks[index]
    let written = c.entry(level: level) & mask
    let final = finalEntries[index] & mask
    let name = { CaseNames.entryName(level: level).uppercased() }
    if let a = judgeFlag(PagingAlphabets.accessed, written, final, prediction.accessed[index], { name() + ".A" }) {
      differences.append(Difference(kind: .accessedBit, detail: a))
    }
    if let d = judgeFlag(PagingAlphabets.dirty, written, final, prediction.dirty[index], { name() + ".D" }) {
      differences.append(Difference(kind: .dirtyBit, detail: d))
    }
    let others = (written ^ final) & ~(PagingAlphabets.accessed | PagingAlphabets.dirty)
    if others != 0 {
      differences.append(
        Difference(
          kind: .entryBits, detail: "\(name()) flags \(hex(written)) became \(hex(final)) (bits \(hex(others)))"))
    }
  }
  return differences
}

/// The difference for one flag, nil when `final` is what `expectation` allows
/// (the flag's name is built only for a difference).
func judgeFlag(
  _ bit: UInt64, _ written: UInt64, _ final: UInt64, _ expectation: FlagExpectation, _ name: () -> String
) -> String? {
  let before = written & bit != 0
  let after = final & bit != 0
  let allowed: Bool
  switch expectation {
  case .set: allowed = after
  case .maySet: allowed = after || !before
  case .unchanged: allowed = after == before
  }
  if allowed { return nil }
  let expected = expectation == .unchanged ? "unchanged (\(before ? 1 : 0))" : expectation.rawValue
  return "\(name()): expected \(expected), observed \(after ? 1 : 0)"
}

// MARK: - The model as a platform

extension PagingOracle {
  /// What a CPU obeying the model would record for `c` (the guest's result
  /// record): for tests of the judge and for dry runs without a guest.
  /// `adjust` changes the registers the model sees, so a test can plant a
  /// deliberately wrong rule (e.g. ignore CR0.WP). Entries carry the fake
  /// tables' addresses; A is set wherever the model says it is or may be.
  public func simulate(
    _ c: PagingCase, linearAddress: UInt64, adjust: (inout PagingContext) -> Void = { _ in }
  ) -> Observation {
    if c.explicitAddress {
      let attempts = predictExplicit(c).attempts
      return Observation(linearAddress: c.pml4e, attempts: attempts, finalEntries: [0, 0, 0, 0])
    }
    var context = self.context(for: c)
    adjust(&context)
    let t = translation(of: c, linearAddress: linearAddress, context: context)
    let outcome = Self.attempt(t.outcome, linearAddress: linearAddress) ?? .completed
    let tables = CaseTables(c, targetPhysical: targetPhysical)
    var entries = [tables.pml4e, tables.pdpte, tables.pde, tables.pte]
    for (n, touched) in Self.levelMask(t.accessedMayBeSet).enumerated() where touched {
      entries[n] |= PagingAlphabets.accessed
    }
    for (n, touched) in Self.levelMask(t.dirtySet).enumerated() where touched { entries[n] |= PagingAlphabets.dirty }
    for level in 1..<c.leafLevel { entries[4 - level] = 0 }
    return Observation(
      linearAddress: linearAddress, attempts: Array(repeating: outcome, count: c.twice ? 2 : 1), finalEntries: entries)
  }
}
