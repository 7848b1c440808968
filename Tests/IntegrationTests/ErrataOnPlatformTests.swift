import Conformance
import Foundation
import GuestABI
import Inspect
import Testing

/// Bugs planted in the model where an erratum's platform would have hidden
/// them under the old, wider errata: the real guest runs the cases, the host
/// judges them with the planted model, and the bundled errata must leave
/// exactly the planted differences failed (while the old erratum, rebuilt
/// here, would have excused them).
@Suite("Planted model bugs on the errata's own platforms", .serialized)
struct ErrataOnPlatformTests {
  static let errata = try! Errata.bundled

  /// The verdicts of `cases` as the runner gives them: nil when the case
  /// passed, else the id of the erratum that explains it ("" for none).
  static func verdicts(
    _ cases: [PagingCase], on guest: ConformanceGuest, platform: String,
    prediction: (PagingCase, Observation) -> Prediction, old: Errata
  ) throws -> (new: [String?], old: [String?]) {
    var new = [String?](repeating: nil, count: cases.count)
    var before = [String?](repeating: nil, count: cases.count)
    try guest.run(cases) { n, observed in
      let judgement = judge(cases[n], observed: observed, prediction: prediction(cases[n], observed))
      guard !judgement.passed else { return }
      let explained = { (errata: Errata) in
        errata.erratum(for: cases[n], observed: observed, judgement: judgement, platform: platform)?.id ?? ""
      }
      new[n] = explained(errata)
      before[n] = explained(old)
    }
    return (new, before)
  }

  /// kvm-pvm: the model wrongly lets user mode through a supervisor PTE in the
  /// upper half. The CPU faults (0x5); the old erratum excused any fault of an
  /// upper-half user case, the new one only the first access's 0x4.
  @Test(
    "kvm-pvm: a wrong U rule on upper-half user cases is not excused",
    .enabled(if: BootingTests.enabled, BootingTests.reason))
  func upperHalfUserRule() throws {
    let guest = try ConformanceGuest(options: BootOptions())
    let platform = guest.session.machine.platform.hypervisor.rawValue
    let suite = ConformanceRunner.suite(.paging, capabilities: guest.capabilities) as! PagingSuite
    let open = (suite.count - 3..<suite.count).map { suite.case(at: $0) }  // read, write, fetch; U everywhere
    let closed = open.map { c -> PagingCase in
      var supervisor = c
      supervisor.pte &= ~0x4
      return supervisor
    }
    let cases = open + closed
    let wrongU = { (c: PagingCase, observed: Observation) -> Prediction in
      var userPage = c
      userPage.pte |= 0x4  // the planted bug: the PTE's U bit is not checked
      return suite.oracle.predict(userPage, linearAddress: observed.linearAddress)
    }
    let old = try Errata.decode(
      Data(
        #"""
        [{"id": "old-upper-half", "platform": "kvm-pvm", "suite": "paging",
          "match": {"cpl": "user", "upperHalf": true, "differences": ["fault"]},
          "explanation": "as it was: any fault of an upper-half user case"}]
        """#.utf8), source: "old")
    let (new, before) = try Self.verdicts(cases, on: guest, platform: platform, prediction: wrongU, old: old)
    try guest.finish()
    for n in open.indices.dropFirst() { #expect(new[n] == nil, "\(suite.describe(cases[n]))") }
    if platform == "kvm-pvm" { #expect(new[0] == "pvm-upper-half-user-first-access") }
    for n in closed.indices.map({ $0 + open.count }) {
      #expect(new[n] == "", "\(suite.describe(cases[n])): the planted bug must fail")
      if platform == "kvm-pvm" { #expect(before[n] == "old-upper-half", "the old erratum hid it") }
    }
  }

  /// QEMU TCG: the model wrongly leaves a 1 GiB PDPTE's A clear on a
  /// successful access. TCG sets it; the old erratum (any subset of P and A
  /// on a 1 GiB case) excused that, the new one needs a reserved bit of 29:13
  /// and both differences.
  @Test(
    "qemu-tcg: a model that drops A on a successful 1 GiB access is not excused",
    .enabled(if: LibvirtTests.enabled, LibvirtTests.reason))
  func largeLeafAccessed() throws {
    let guest = try ConformanceGuest(options: BootOptions(timeoutSeconds: 120, backend: LibvirtTests.tcg))
    let platform = guest.session.machine.platform.hypervisor.rawValue
    let suite = ConformanceRunner.suite(.paging, capabilities: guest.capabilities) as! PagingSuite
    let cases = stride(from: 0, to: suite.space.count, by: 7).lazy.map { suite.case(at: $0) }
      .filter { $0.leafLevel == 3 && suite.skipReason(for: $0) == nil && $0.pdpte & 0x20 == 0 }.prefix(4000)
    let sample = Array(cases)
    let dropA = { (c: PagingCase, observed: Observation) -> Prediction in
      var p = suite.oracle.predict(c, linearAddress: observed.linearAddress)
      if p.outcome == .completes { p.accessed[1] = .unchanged }  // the planted bug
      return p
    }
    let old = try Errata.decode(
      Data(
        #"""
        [{"id": "old-1g", "platform": "qemu-tcg", "suite": "paging",
          "match": {"leafLevel": 3, "differences": ["rsvd-fault-present-flag", "accessed-bit"], "subsetBecause": "old"},
          "explanation": "as it was: any subset of P and A on a 1 GiB case"}]
        """#.utf8), source: "old")
    let (new, before) = try Self.verdicts(sample, on: guest, platform: platform, prediction: dropA, old: old)
    try guest.finish()
    #expect(platform == "qemu-tcg")
    var planted = 0
    for (n, c) in sample.enumerated() {
      let completes = suite.oracle.predict(c, linearAddress: 0).outcome == .completes
      if completes {
        planted += 1
        #expect(new[n] == "", "\(suite.describe(c)): the planted bug must fail")
        #expect(before[n] == "old-1g", "\(suite.describe(c)): the old erratum hid it")
      } else {
        #expect(new[n] != "", "\(suite.describe(c)): \(new[n] ?? "passed")")
      }
    }
    #expect(planted > 100)
  }
}
