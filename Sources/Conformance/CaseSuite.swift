import GuestABI
import X86Paging

/// One suite's cases as the runner sees them: enumerable by index (so shards
/// and filters slice without materialising millions of values), each case
/// in a family, skipped with a reason or judged against the model.
public protocol CaseSuite: Sendable {
  var suite: ConformanceSuite { get }
  var count: Int { get }
  func `case`(at index: Int) -> PagingCase
  /// The family (a JUnit test case, a TAP point) `c` is reported in.
  func family(of c: PagingCase) -> String
  /// Why `c` cannot run on this CPU, nil when it can.
  func skipReason(for c: PagingCase) -> String?
  /// What the model says of what the guest observed.
  func judge(_ c: PagingCase, observed: Observation) -> Judgement
  /// The same; without `details` its differences may carry kinds only.
  func judge(_ c: PagingCase, observed: Observation, details: Bool) -> Judgement
  /// The whole case in one line, for mismatches and `--filter`.
  func describe(_ c: PagingCase) -> String
  /// The expected and the observed outcome, in words.
  func outcomes(_ c: PagingCase, observed: Observation) -> (expected: String, observed: String)
}

extension CaseSuite {
  public func judge(_ c: PagingCase, observed: Observation, details: Bool) -> Judgement {
    judge(c, observed: observed)
  }

  /// `--filter TEXT`: the family or the description contains `text`, ignoring case.
  public func matches(_ c: PagingCase, filter text: String) -> Bool {
    let needle = text.lowercased()
    return family(of: c).lowercased().contains(needle) || describe(c).lowercased().contains(needle)
  }
}

/// The `paging` and `canonical` suites: a `PagingSpace` judged by the
/// X86Paging oracle, plus (paging) the user accesses through the upper half
/// of the address space that the space itself keeps in the lower half.
public struct PagingSuite: CaseSuite {
  public let space: PagingSpace
  public let oracle: PagingOracle
  /// Cases after the space's: user-mode accesses through upper-half slots.
  let upperHalfCases: [PagingCase]

  public init(space: PagingSpace, capabilities: GuestCapabilities) {
    self.space = space
    oracle = PagingOracle(
      maxPhysicalAddressBits: capabilities.maxPhysicalAddressBits, features: CPUFeatures(capabilities.features),
      targetPhysical: capabilities.targetPhysical)
    upperHalfCases = space.suite == .paging ? Self.upperHalfUserCases() : []
  }

  public var suite: ConformanceSuite { space.suite }
  public var count: Int { space.count + upperHalfCases.count }

  /// Case `index`. Supervisor cases alternate between the halves of the
  /// address space (so a block holds 510); user cases stay in the lower half.
  public func `case`(at index: Int) -> PagingCase {
    guard index < space.count else { return upperHalfCases[index - space.count] }
    var c = space.case(at: index)
    c.upperHalf = !c.explicitAddress && !c.controls.contains(.userMode) && index & 1 == 1
    return c
  }

  public func family(of c: PagingCase) -> String {
    if c.upperHalf && c.controls.contains(.userMode) { return "paging/upper-half/cpl3/\(CaseNames.kind(c.kind))" }
    return space.family(of: c)
  }

  public func skipReason(for c: PagingCase) -> String? { space.skipReason(for: c) }

  public func judge(_ c: PagingCase, observed: Observation) -> Judgement {
    if let wrong = wrongAddress(c, observed: observed) { return Judgement(differences: [wrong]) }
    return Conformance.judge(
      c, observed: observed, prediction: oracle.predict(c, linearAddress: observed.linearAddress))
  }

  public func describe(_ c: PagingCase) -> String {
    c.caseDescription + (c.upperHalf && !c.explicitAddress ? " upper-half" : "")
  }

  public func outcomes(_ c: PagingCase, observed: Observation) -> (expected: String, observed: String) {
    let prediction = oracle.predict(c, linearAddress: observed.linearAddress)
    return (prediction.outcomeDescription(for: c), observed.outcomeDescription(for: c))
  }

  /// The guest picks each case's slot; the address it reports must be that
  /// of a slot in the half the case asked for, with the case's page offset.
  func wrongAddress(_ c: PagingCase, observed: Observation) -> Difference? {
    guard !c.explicitAddress else { return nil }
    let slot = Int((observed.linearAddress >> 39) & 0x1FF)
    let expected = oracle.linearAddress(of: c, slot: slot)
    let inHalf = c.upperHalf ? (256..<511).contains(slot) : (0..<255).contains(slot)
    guard !inHalf || expected != observed.linearAddress else { return nil }
    return Difference(
      kind: .linearAddress,
      detail: "accessed \(hex(observed.linearAddress)), not a \(c.upperHalf ? "upper" : "lower")-half slot's address")
  }

  /// User reads, writes and fetches through fully permissive 4 KiB mappings
  /// in the upper half: the architecture lets them complete.
  static func upperHalfUserCases() -> [PagingCase] {
    let table: UInt64 = 0x27  // P W U A
    let leaf: UInt64 = 0x67  // P W U A D
    return ConformanceAccessKind.allCases.map { kind in
      PagingCase(
        pml4e: table, pdpte: table, pde: table, pte: leaf, leafLevel: 1, controls: [.userMode, .noExecuteEnable],
        kind: kind, twice: false, upperHalf: true)
    }
  }
}
