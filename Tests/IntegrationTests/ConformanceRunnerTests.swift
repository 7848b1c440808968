import Conformance
import GuestABI
import Inspect
import Testing

/// The guest's conformance runner against hand-checked SDM outcomes.
@Suite("The conformance runner on KVM", .enabled(if: BootingTests.enabled, BootingTests.reason))
struct ConformanceRunnerTests {
  static let table: UInt64 = 0x27  // P W U A
  static let leaf: UInt64 = 0x67  // P W U A D

  func pagingCase(
    pte: UInt64, controls: ConformanceControls, kind: ConformanceAccessKind, twice: Bool = false
  ) -> PagingCase {
    PagingCase(
      pml4e: Self.table, pdpte: Self.table, pde: Self.table, pte: pte, leafLevel: 1, controls: controls, kind: kind,
      twice: twice)
  }

  @Test func userAndSupervisorAccessesFaultAsTheSDMSays() throws {
    let guest = try ConformanceGuest(options: BootOptions()) { print("guest: \($0)", terminator: "") }
    let cases = [
      pagingCase(pte: Self.leaf, controls: [.userMode], kind: .read),
      pagingCase(pte: Self.leaf & ~2, controls: [.userMode], kind: .write),
      pagingCase(pte: 0, controls: [.userMode], kind: .read, twice: true),
      pagingCase(pte: Self.leaf & ~2, controls: [], kind: .write),
      pagingCase(pte: Self.leaf & ~2, controls: [.writeProtect], kind: .write),
      pagingCase(pte: Self.leaf | 1 << 63, controls: [.noExecuteEnable], kind: .fetch),
      pagingCase(pte: 0x27, controls: [.userMode], kind: .write),
    ]
    var observed: [Observation] = []
    try guest.run(cases) { _, observation in observed.append(observation) }
    try guest.finish()
    #expect(observed.count == cases.count)
    #expect(observed[0].attempts == [.completed])
    #expect(observed[1].attempts.first?.vector == 14)
    #expect(observed[1].attempts.first?.errorCode == 0x7)
    #expect(observed[1].attempts.first?.faultAddress == observed[1].linearAddress)
    #expect(observed[2].attempts.map(\.errorCode) == [0x4, 0x4])
    #expect(observed[3].attempts == [.completed])
    #expect(observed[4].attempts.first?.errorCode == 0x3)
    #expect(observed[5].attempts.first?.errorCode == 0x11)
    #expect(observed[6].attempts == [.completed])
    #expect(observed[6].finalEntries[3] & 0x60 == 0x60, "a write sets A and D in the PTE")
    #expect(observed[0].finalEntries[3] & 0x40 == 0x40, "D was set in the case's own entry")
  }
}

extension ConformanceRunnerTests {
  @Test func tlbCasesSeeTheNewLeafAfterAnInvalidation() throws {
    let guest = try ConformanceGuest(options: BootOptions())
    let remap = Self.leaf | ConformanceABI.remapToSecondTarget
    let cases = [
      PagingCase(
        pml4e: Self.table, pdpte: Self.table, pde: Self.table, pte: Self.leaf, leafLevel: 1, controls: [.userMode],
        kind: .read, twice: true, mutation: remap, invalidation: .invlpg),
      PagingCase(
        pml4e: Self.table, pdpte: Self.table, pde: Self.table, pte: Self.leaf, leafLevel: 1, controls: [],
        kind: .read, twice: true, mutation: remap, invalidation: .reloadRoot),
      PagingCase(
        pml4e: Self.table, pdpte: Self.table, pde: Self.table, pte: Self.leaf, leafLevel: 1, controls: [.userMode],
        kind: .read, twice: true, mutation: 0, invalidation: .invlpg),
    ]
    var observed: [Observation] = []
    try guest.run(cases) { _, observation in observed.append(observation) }
    try guest.finish()
    #expect(observed[0].attempts == [.completed, .completed])
    #expect(observed[0].valueRead == ConformanceABI.secondTargetMarker)
    #expect(observed[1].valueRead == ConformanceABI.secondTargetMarker)
    #expect(observed[2].attempts.last?.vector == 14)
    #expect(observed[2].attempts.last?.errorCode == 0x4)
  }

  @Test func controlWritesFaultWhereTheSDMSays() throws {
    let guest = try ConformanceGuest(options: BootOptions())
    func write(_ register: ConformanceRegister, clear: UInt64, set: UInt64, user: Bool = false) -> PagingCase {
      PagingCase(
        pml4e: clear, pdpte: register.rawValue, pde: set, pte: 0, leafLevel: 1, controls: user ? [.userMode] : [],
        kind: .write, twice: false, controlWrite: true)
    }
    let cases = [
      write(.cr0, clear: 1 << 31, set: 0),  // clearing PG in long mode: #GP(0)
      write(.cr0, clear: 0, set: 0),  // rewriting the same value: fine
      write(.cr4, clear: 0, set: 1 << 12),  // LA57 in long mode: #GP(0)
      write(.cr0, clear: 0, set: 0, user: true),  // at CPL 3: #GP(0)
    ]
    var observed: [Observation] = []
    try guest.run(cases) { _, observation in observed.append(observation) }
    try guest.finish()
    #expect(observed[0].attempts.first?.vector == 13)
    #expect(observed[1].attempts == [.completed])
    #expect(observed[1].valueRead & (1 << 31) != 0, "CR0 read back after the write has PG")
    #expect(observed[2].attempts.first?.vector == 13)
    #expect(observed[3].attempts.first?.vector == 13)
  }
}

extension ConformanceRunnerTests {
  /// The suite must be able to fail: the real guest runs the cases while the
  /// host judges them with a wrong rule planted in the model (CR0.WP read
  /// inverted). Exactly the cases whose outcome WP decides must be reported,
  /// and nothing else.
  @Test func aWrongRuleInTheModelIsReportedExactly() throws {
    let guest = try ConformanceGuest(options: BootOptions())
    let capabilities = guest.capabilities
    let suite = PagingSuite(
      space: .paging(
        maxPhysicalAddressBits: capabilities.maxPhysicalAddressBits, features: CPUFeatures(capabilities.features)),
      capabilities: capabilities)
    let cases = stride(from: 3, to: suite.space.count, by: 331).map { suite.case(at: $0) }
      .filter { suite.skipReason(for: $0) == nil }
    var reported: Set<Int> = []
    var decidedByWP: Set<Int> = []
    try guest.run(cases) { n, observed in
      var wrongModel = cases[n]
      wrongModel.controls.formSymmetricDifference(.writeProtect)
      let right = suite.oracle.predict(cases[n], linearAddress: observed.linearAddress)
      let wrong = suite.oracle.predict(wrongModel, linearAddress: observed.linearAddress)
      #expect(judge(cases[n], observed: observed, prediction: right).passed, "\(cases[n].caseDescription)")
      if !judge(cases[n], observed: observed, prediction: wrong).passed { reported.insert(n) }
      if right.attempts != wrong.attempts || right.accessed != wrong.accessed || right.dirty != wrong.dirty {
        decidedByWP.insert(n)
      }
    }
    try guest.finish()
    #expect(cases.count > 5000)
    #expect(!decidedByWP.isEmpty)
    #expect(reported == decidedByWP)
  }
}
