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
