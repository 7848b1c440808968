import GuestABI
import Machine
import X86Paging

@testable import Conformance

/// A platform exactly as its bundled errata describe it: what the X86Paging
/// model predicts, plus each documented deviation and nothing else. Running
/// the suites against it, without booting, shows what every erratum matches;
/// adding a `Bug` shows whether an erratum would hide it.
struct DocumentedPlatform: Sendable {
  /// `Platform.Hypervisor.rawValue`.
  let name: String
  /// The CPU the platform's guest reports (seen in a real run's `cpu:` line).
  var capabilities: GuestCapabilities
  /// A planted deviation on top of the documented ones.
  var bug: Bug? = nil

  /// kvm-pvm on these machines: NX SMEP SMAP PGE, no PKU LA57 1 GiB pages PCID; MAXPHYADDR 48.
  static let pvm = DocumentedPlatform(
    name: "kvm-pvm",
    capabilities: GuestCapabilities(
      features: [.noExecute, .smep, .smap, .globalPages], maxPhysicalAddressBits: 48, targetPhysical: 0x0123_4000))
  /// QEMU 7.2 TCG with its maximum CPU model: NX SMEP SMAP PKU LA57 1 GiB pages PGE, no PCID; MAXPHYADDR 40.
  static let tcg = DocumentedPlatform(
    name: "qemu-tcg",
    capabilities: GuestCapabilities(
      features: [.noExecute, .smep, .smap, .protectionKeys, .fiveLevelPaging, .pages1GiB, .globalPages],
      maxPhysicalAddressBits: 40, targetPhysical: 0x0123_4000))

  /// A deviation no erratum documents, planted to see the judge catch it.
  struct Bug: Sendable {
    var name: String
    /// Changes the observation of `c` (already the documented platform's);
    /// true when it changed something.
    var apply: @Sendable (PagingCase, inout Observation, PagingOracle) -> Bool
  }

  var platform: Platform {
    Platform(hypervisor: Platform.Hypervisor(rawValue: name) ?? .unknown, guestPaging: .unknown)
  }

  func suite(_ suite: ConformanceSuite) -> any CaseSuite {
    ConformanceRunner.suite(suite, capabilities: capabilities)
  }

  /// What the model says `c` does: the observation of a CPU obeying it.
  func modelObservation(_ c: PagingCase, in suite: any CaseSuite, firstUpperHalf: Bool) -> Observation {
    if c.controlWrite {
      let controls = suite as! ControlsSuite
      let taken = controls.expectedAllowed(c)
      return Observation(
        linearAddress: 0, attempts: [taken ? .completed : AttemptOutcome(vector: ExceptionVector.generalProtection)],
        finalEntries: [0, 0, 0, 0], valueRead: taken ? c.pde : 0)
    }
    let paging = suite as! PagingSuite
    let slot = c.upperHalf ? 256 : 0
    var observed = paging.oracle.simulate(c, linearAddress: paging.oracle.linearAddress(of: c, slot: slot))
    if firstUpperHalf { observed.events.insert(.firstUserUpperHalfAccess) }
    return observed
  }

  /// The documented deviations of this platform applied to `observed`.
  func deviate(_ c: PagingCase, _ observed: inout Observation, oracle: PagingOracle?) {
    switch name {
    case "kvm-pvm": DocumentedPVM.deviate(c, &observed)
    case "qemu-tcg": DocumentedTCG.deviate(c, &observed, oracle: oracle)
    default: break
    }
  }

  /// True when the platform may deviate from the model on `c` (a cheap,
  /// conservative test: false means the observation is the model's).
  func mayDeviate(_ c: PagingCase) -> Bool {
    if bug != nil || c.controlWrite { return true }
    switch name {
    case "kvm-pvm": return c.upperHalf && c.controls.contains(.userMode)
    case "qemu-tcg":
      return DocumentedTCG.mayHaveReservedBit(c, maxPhysicalAddressBits: capabilities.maxPhysicalAddressBits)
    default: return false
    }
  }
}

/// kvm-pvm's documented deviations.
enum DocumentedPVM {
  /// Writes kvm-pvm takes although the SDM refuses them (register, bits set).
  static let takenWrites: [(ConformanceRegister, UInt64)] = [(.cr0, 1 << 32), (.cr4, 1 << 63), (.cr4, 1 << 22)]

  static func deviate(_ c: PagingCase, _ observed: inout Observation) {
    if c.controlWrite {
      let documented = takenWrites.contains { $0.0.rawValue == c.pdpte && $0.1 == c.pde && c.pml4e == 0 }
      if documented && !c.controls.contains(.userMode) {
        observed.attempts = [.completed]
        observed.valueRead = 0  // the bit is dropped
      }
      return
    }
    if observed.events.contains(.firstUserUpperHalfAccess) {
      observed.attempts[0] = AttemptOutcome(vector: 14, errorCode: 0x4, faultAddress: observed.linearAddress)
    }
  }
}

/// QEMU 7.2 TCG's documented deviations.
enum DocumentedTCG {
  /// Refused writes TCG takes (register, bits cleared, bits set).
  static let takenWrites: [(ConformanceRegister, UInt64, UInt64)] = [
    (.cr0, 1, 0), (.cr0, 1 << 30, 1 << 29), (.cr0, 0, 1 << 32), (.cr4, 0, 1 << 17), (.efer, 1 << 8, 0),
    (.efer, 0, 1 << 1), (.efer, 0, 1 << 63),
  ]
  /// Bits 29:13, which a 1 GiB PDPTE reserves and TCG checks only after setting A.
  static let largeLeafBits: UInt64 = ((1 << 30) - 1) & ~((1 << 13) - 1)

  static func deviate(_ c: PagingCase, _ observed: inout Observation, oracle: PagingOracle?) {
    if c.controlWrite {
      let documented = takenWrites.contains { $0.0.rawValue == c.pdpte && $0.1 == c.pml4e && $0.2 == c.pde }
      if documented && !c.controls.contains(.userMode) {
        observed.attempts = [.completed]
        observed.valueRead = 0  // what it reads back is not judged for a refused write
      }
      return
    }
    let reservedFault = PageFaultErrorCode.reservedBit.rawValue
    for n in observed.attempts.indices where observed.attempts[n].vector == 14 {
      if observed.attempts[n].errorCode & reservedFault != 0 { observed.attempts[n].errorCode &= ~1 }
    }
    if let oracle, setsLargeLeafAccessed(c, oracle: oracle) { observed.finalEntries[1] |= PagingAlphabets.accessed }
  }

  /// TCG sets a 1 GiB PDPTE's A before it checks bits 29:13: when one of
  /// them is set and the walk, those bits aside, gets past the PDPTE.
  static func setsLargeLeafAccessed(_ c: PagingCase, oracle: PagingOracle) -> Bool {
    guard c.leafLevel == 3, !c.explicitAddress, c.pdpte & largeLeafBits != 0 else { return false }
    var cleared = c
    cleared.pdpte &= ~largeLeafBits
    let address = oracle.linearAddress(of: c, slot: c.upperHalf ? 256 : 0)
    return oracle.simulate(cleared, linearAddress: address).finalEntries[1] & PagingAlphabets.accessed != 0
  }

  /// A conservative test for a reserved bit anywhere in the case's entries:
  /// bits MAXPHYADDR-51, 63, bit 7 of a PML4E, bits 13 and 21 of a large leaf.
  static func mayHaveReservedBit(_ c: PagingCase, maxPhysicalAddressBits: Int) -> Bool {
    guard !c.explicitAddress else { return false }
    let address: UInt64 = ((1 << 52) - 1) & ~((1 << UInt64(maxPhysicalAddressBits)) - 1)
    let common = address | 1 << 63
    return c.pml4e & (common | 1 << 7) != 0 || c.pdpte & (common | largeLeafBits) != 0
      || c.pde & (common | largeLeafBits) != 0 || c.pte & common != 0
  }
}

/// What one run against a documented platform gave.
struct DocumentedRun {
  /// Families by name, as the runner folds them.
  var families: [String: FamilyResult] = [:]
  /// Cases whose observation the planted bug changed.
  var planted = 0

  /// Expected failures per erratum per family.
  var matched: [String: [String: Int]] {
    var result: [String: [String: Int]] = [:]
    for (name, family) in families {
      for (erratum, cases) in family.expectedByErratum { result[erratum, default: [:]][name] = cases }
    }
    return result
  }
  var failed: Int { families.values.reduce(0) { $0 + $1.failed } }
  var failedFamilies: [String] { families.filter { $0.value.failed > 0 }.map(\.key).sorted() }
  /// Skipped cases by reason.
  var skipped: [String: Int] {
    families.values.reduce(into: [:]) { $0.merge($1.skippedByReason, uniquingKeysWith: +) }
  }

  /// Cases each skip erratum of `errata` kept from running.
  func skippedByErratum(_ errata: Errata) -> [String: Int] {
    var result: [String: Int] = [:]
    for erratum in errata.errata where erratum.skip {
      if let cases = skipped[ConformanceRunner.skipReason(erratum)] { result[erratum.id] = cases }
    }
    return result
  }
}

extension DocumentedPlatform {
  /// Runs `suite` (or the cases `only` selects) through the runner's own
  /// selection and judging, against this platform, with `errata`.
  func run(
    _ suite: ConformanceSuite, errata: Errata, only: ((PagingCase) -> Bool)? = nil
  ) -> DocumentedRun {
    let cases = self.suite(suite)
    let runner = ConformanceRunner(options: ConformanceOptions(suites: [suite], errata: errata))
    var run = DocumentedRun()
    var order: [String] = []
    var firstUpperHalfSeen: Set<UInt64> = []
    let oracle = (cases as? PagingSuite)?.oracle
    for index in runner.select(cases, platform: name, into: &run.families, order: &order) {
      let c = cases.case(at: index)
      if let only, !only(c) { continue }
      let firstUpperHalf =
        c.upperHalf && c.controls.contains(.userMode) && firstUpperHalfSeen.insert(c.controls.rawValue).inserted
      guard mayDeviate(c) else { continue }  // the model's own observation: passed (counted below)
      var observed = modelObservation(c, in: cases, firstUpperHalf: firstUpperHalf)
      deviate(c, &observed, oracle: oracle)
      if let bug, bug.apply(c, &observed, oracle ?? .unused) { run.planted += 1 }
      runner.record(
        cases, c, name: cases.family(of: c), observed: observed, platform: platform, into: &run.families)
    }
    return run
  }
}

extension PagingOracle {
  /// An oracle for bugs planted on suites that have none (controls).
  static let unused = PagingOracle(maxPhysicalAddressBits: 48, features: .all, targetPhysical: 0x0123_4000)
}

extension DocumentedPlatform {
  /// Per erratum of this platform, the cases of the space (those the CPU can
  /// run) that its conditions on the case select, whatever they showed.
  func candidates(_ errata: Errata) -> [String: Int] {
    var result: [String: Int] = [:]
    for suite in [ConformanceSuite.paging, .canonical, .tlb, .controls] {
      let mine = errata.errata.filter { $0.platform == name && $0.suite == suite }
      guard !mine.isEmpty else { continue }
      let cases = self.suite(suite)
      for index in 0..<cases.count {
        let c = cases.case(at: index)
        guard cases.skipReason(for: c) == nil else { continue }
        for erratum in mine where erratum.match.matches(c) { result[erratum.id, default: 0] += 1 }
      }
    }
    return result
  }
}
