import GuestABI
import Testing
import X86Paging

@testable import Conformance

/// The oracle against cases checked by hand against the SDM (vol. 3A §4.6,
/// §4.7, §4.8; §3.3.7.1 for canonical addresses).
@Suite struct OracleTests {
  /// A user write to a read-only page: #PF with P, W and U (0x7), CR2 the
  /// address; no D anywhere, A may be set on the walk's entries.
  @Test func userWriteToReadOnlyPageFaultsWith0x7() {
    let c = pagingCase(pte: Bit.p | Bit.u, controls: [.userMode, .writeProtect], kind: .write)
    let prediction = predicted(c)
    #expect(prediction.attempts.count == 1)
    #expect(prediction.attempts[0].vector == 14)
    #expect(prediction.attempts[0].errorCode == 0x7)
    #expect(prediction.attempts[0].faultAddress == prediction.linearAddress)
    #expect(prediction.dirty == [.unchanged, .unchanged, .unchanged, .unchanged])
    #expect(prediction.accessed == [.maySet, .maySet, .maySet, .maySet])
  }

  /// A supervisor write to a read-only page with CR0.WP=0 completes and sets
  /// A everywhere and D in the leaf.
  @Test func supervisorWriteWithoutWPCompletesAndSetsDirty() {
    let c = pagingCase(pte: Bit.p, controls: [], kind: .write)
    let prediction = predicted(c)
    #expect(prediction.attempts == [.completed])
    #expect(prediction.accessed == [.set, .set, .set, .set])
    #expect(prediction.dirty == [.unchanged, .unchanged, .unchanged, .set])
    let withWP = pagingCase(pte: Bit.p, controls: [.writeProtect], kind: .write)
    #expect(firstOutcome(withWP) == (14, 0x3))
  }

  /// A fetch from an NX page with EFER.NXE=1: #PF with I/D (0x15 at CPL 3,
  /// 0x11 at CPL 0). Without NXE, bit 63 is reserved: RSVD, and I/D only if
  /// SMEP is on.
  @Test func noExecuteFetchFaultsWithInstructionFetchBit() {
    let nx = Bit.pwu | Bit.nx
    #expect(firstOutcome(pagingCase(pte: nx, controls: [.userMode, .noExecuteEnable], kind: .fetch)) == (14, 0x15))
    #expect(firstOutcome(pagingCase(pte: nx, controls: [.noExecuteEnable], kind: .fetch)) == (14, 0x11))
    #expect(firstOutcome(pagingCase(pte: nx, controls: [.userMode], kind: .fetch)) == (14, 0xD))
    #expect(firstOutcome(pagingCase(pte: nx, controls: [.userMode, .smep], kind: .fetch)) == (14, 0x1D))
    #expect(
      firstOutcome(pagingCase(pte: Bit.pwu, controls: [.userMode, .noExecuteEnable], kind: .fetch)).vector == nil)
  }

  /// Reserved bit 51 (and bit 48 = MAXPHYADDR): #PF with P and RSVD, 0x9 at
  /// CPL 0 and 0xD at CPL 3, at any level; A stays unchanged on the entry
  /// with the reserved bit and below it.
  @Test func reservedBitsFaultWithRSVD() {
    #expect(firstOutcome(pagingCase(pte: Bit.pwu | Bit.r51)) == (14, 0x9))
    #expect(firstOutcome(pagingCase(pte: Bit.pwu | Bit.r51, controls: [.userMode])) == (14, 0xD))
    #expect(firstOutcome(pagingCase(pde: Bit.pwu | Bit.r48, controls: [.userMode], kind: .write)) == (14, 0xF))
    #expect(firstOutcome(pagingCase(pml4e: Bit.pwu | Bit.ps)) == (14, 0x9))
    #expect(firstOutcome(pagingCase(pdpte: Bit.pwu | Bit.ps | Bit.r13, leafLevel: 3)) == (14, 0x9))
    #expect(firstOutcome(pagingCase(pdpte: Bit.pwu | Bit.ps | Bit.r21, leafLevel: 3)) == (14, 0x9))
    #expect(firstOutcome(pagingCase(pde: Bit.pwu | Bit.ps | Bit.r13, leafLevel: 2)) == (14, 0x9))
    let prediction = predicted(pagingCase(pde: Bit.pwu | Bit.r51))
    #expect(prediction.accessed == [.maySet, .maySet, .unchanged, .unchanged])
  }

  /// SMEP: a supervisor fetch from a user page faults with P and I/D (0x11).
  @Test func smepForbidsSupervisorFetchFromUserPage() {
    #expect(firstOutcome(pagingCase(controls: [.smep], kind: .fetch)) == (14, 0x11))
    #expect(firstOutcome(pagingCase(pte: Bit.p | Bit.w, controls: [.smep], kind: .fetch)).vector == nil)
    #expect(firstOutcome(pagingCase(controls: [.smap], kind: .fetch)).vector == nil)
  }

  /// SMAP: a supervisor data access to a user page faults with RFLAGS.AC=0
  /// (0x1 read, 0x3 write) and completes with AC=1; user accesses ignore it.
  @Test func smapForbidsSupervisorDataAccessUnlessAC() {
    #expect(firstOutcome(pagingCase(controls: [.smap], kind: .read)) == (14, 0x1))
    #expect(firstOutcome(pagingCase(controls: [.smap], kind: .write)) == (14, 0x3))
    #expect(firstOutcome(pagingCase(controls: [.smap, .alignmentCheck], kind: .write)).vector == nil)
    #expect(firstOutcome(pagingCase(pte: Bit.p | Bit.w, controls: [.smap], kind: .write)).vector == nil)
  }

  /// A not-present PDE: #PF without P; A may be set on the PML4E and PDPTE
  /// only, and the PTE below is never touched.
  @Test func notPresentEntryFaultsWithoutP() {
    let c = pagingCase(pde: Bit.w | Bit.u, controls: [.userMode], kind: .write)
    let prediction = predicted(c)
    #expect(prediction.attempts[0].errorCode == 0x6)
    #expect(prediction.accessed == [.maySet, .maySet, .unchanged, .unchanged])
  }

  /// 2 MiB and 1 GiB leaves: rights combine over the levels; D is set in
  /// the large leaf.
  @Test func largeLeavesCombineRightsAndSetDirtyInTheLeaf() {
    let twoMiB = pagingCase(
      pdpte: Bit.p | Bit.u, pde: Bit.pwu | Bit.ps, leafLevel: 2, controls: [.userMode], kind: .write)
    #expect(firstOutcome(twoMiB) == (14, 0x7))
    let oneGiB = pagingCase(pdpte: Bit.pwu | Bit.ps, leafLevel: 3, kind: .write)
    let prediction = predicted(oneGiB)
    #expect(prediction.attempts == [.completed])
    #expect(prediction.accessed == [.set, .set, .unchanged, .unchanged])
    #expect(prediction.dirty == [.unchanged, .set, .unchanged, .unchanged])
  }

  /// A twice case expects the same outcome twice.
  @Test func twiceCasesRepeatTheOutcome() {
    let prediction = predicted(pagingCase(pte: Bit.p | Bit.u, controls: [.userMode], kind: .write, twice: true))
    #expect(prediction.attempts.count == 2)
    #expect(prediction.attempts[0] == prediction.attempts[1])
  }

  /// Non-canonical addresses raise #GP(0); canonical ones complete.
  @Test func canonicalCasesExpectGPOnlyWhenNonCanonical() {
    let space = PagingSpace.canonical(features: testFeatures)
    for index in 0..<space.count {
      let c = space.case(at: index)
      let prediction = testOracle.predict(c, linearAddress: c.pml4e)
      let canonical = PagingMode.fourLevel.isCanonical(c.pml4e)
      #expect(prediction.attempts.count == (c.twice ? 2 : 1))
      #expect(prediction.attempts[0] == (canonical ? .completed : AttemptOutcome(vector: 13, errorCode: 0)))
      #expect(prediction.accessed.isEmpty)
    }
  }

  /// The fake tables hold exactly the guest's entries: flags ORed with the
  /// next table, the target's frame at the leaf, 0 below it.
  @Test func caseTablesHoldTheGuestsEntries() {
    let tables = CaseTables(pagingCase(pde: Bit.pwu | Bit.ps, leafLevel: 2), targetPhysical: testTarget)
    #expect(tables.pml4e == Bit.pwu | 0x2000)
    #expect(tables.pdpte == Bit.pwu | 0x3000)
    #expect(tables.pde == Bit.pwu | Bit.ps | 0x0120_0000)
    #expect(tables.pte == 0)
    #expect(tables.load64(0x1000 + 8 * 300) == tables.pml4e)
    #expect(tables.load64(0x5000) == nil)
  }

  /// Upper-half cases walk the same entries: same outcome, CR2 their own.
  @Test func upperHalfCasesPredictTheSame() {
    let lower = pagingCase(pte: Bit.p | Bit.u, controls: [.userMode], kind: .write)
    var upper = lower
    upper.upperHalf = true
    let a = predicted(lower)
    let b = predicted(upper)
    #expect(b.linearAddress >> 48 == 0xFFFF)
    #expect(a.attempts[0].errorCode == b.attempts[0].errorCode)
    #expect(b.attempts[0].faultAddress == b.linearAddress)
  }
}

/// The judge: it passes the model's own behaviour and reports every way an
/// observation can differ.
@Suite struct JudgeTests {
  /// The model, run as if it were the platform, passes on a sample of the space.
  @Test func modelObservationsPass() {
    for index in stride(from: 0, to: testSpace.count, by: 499) {
      let c = testSpace.case(at: index)
      let address = testOracle.linearAddress(of: c, slot: c.upperHalf ? 300 : 40)
      let judgement = judge(
        c, observed: testOracle.simulate(c, linearAddress: address),
        prediction: testOracle.predict(c, linearAddress: address))
      #expect(judgement.passed, "\(c.caseDescription): \(judgement.summary)")
    }
  }

  /// The result of `c` as the model would record it, then `change`d.
  func judged(_ c: PagingCase, _ change: (inout Observation) -> Void) -> Judgement {
    let address = testOracle.linearAddress(of: c, slot: 9)
    var observed = testOracle.simulate(c, linearAddress: address)
    change(&observed)
    return judge(c, observed: observed, prediction: testOracle.predict(c, linearAddress: address))
  }

  @Test func everyKindOfDifferenceIsReported() {
    let write = pagingCase(pte: Bit.p | Bit.u, controls: [.userMode], kind: .write)
    let ok = pagingCase(controls: [.userMode], kind: .write)
    #expect(judged(write) { $0.attempts[0] = .completed }.kinds == [.noFault])
    #expect(
      judged(ok) { $0.attempts[0] = AttemptOutcome(vector: 14, errorCode: 7, faultAddress: $0.linearAddress) }.kinds
        == [.fault])
    #expect(judged(write) { $0.attempts[0].errorCode = 0x5 }.kinds == [.errorCode])
    #expect(judged(write) { $0.attempts[0].faultAddress ^= 0x1000 }.kinds == [.faultAddress])
    #expect(judged(write) { $0.attempts[0].vector = 13 }.kinds == [.vector])
    #expect(judged(write) { $0.attempts.append($0.attempts[0]) }.kinds == [.attempts])
    #expect(judged(write) { $0.linearAddress ^= 0x1000 }.kinds == [.linearAddress])
    #expect(judged(ok) { $0.finalEntries[3] &= ~Bit.d }.kinds == [.dirtyBit])
    #expect(judged(ok) { $0.finalEntries[0] &= ~Bit.a }.kinds == [.accessedBit])
    #expect(judged(ok) { $0.finalEntries[1] |= Bit.d }.kinds == [.dirtyBit])  // D of a table entry: never set
    #expect(judged(ok) { $0.finalEntries[2] &= ~Bit.u }.kinds == [.entryBits])
    // The address field is the guest's business; a reserved bit is not.
    #expect(judged(ok) { $0.finalEntries[3] ^= 0x7000 }.passed)
    #expect(judged(ok) { $0.finalEntries[3] |= Bit.r51 }.kinds == [.entryBits])
  }

  /// A on a faulting walk: may be set on the entries used, never below the
  /// entry that ended the walk, never cleared.
  @Test func accessedBitOnFaultingWalks() {
    let pdeMissing = pagingCase(pde: 0, controls: [.userMode])
    #expect(
      judged(pdeMissing) {
        $0.finalEntries[0] &= ~Bit.a; $0.finalEntries[1] &= ~Bit.a
      }.passed)
    #expect(judged(pdeMissing) { $0.finalEntries[3] |= Bit.a }.kinds == [.accessedBit])
    let alreadyAccessed = pagingCase(pte: Bit.p | Bit.a | Bit.u, controls: [.userMode], kind: .write)
    #expect(judged(alreadyAccessed) { $0.finalEntries[3] &= ~Bit.a }.kinds == [.accessedBit])
  }

  /// Explicit-address cases are judged on their attempts only.
  @Test func explicitCasesIgnoreEntries() {
    let c = PagingSpace.canonical(features: testFeatures).case(at: 0)
    let prediction = testOracle.predict(c, linearAddress: c.pml4e)
    let observed = Observation(linearAddress: c.pml4e, attempts: prediction.attempts, finalEntries: [1, 2, 3, 4])
    #expect(judge(c, observed: observed, prediction: prediction).passed)
    let wrong = Observation(
      linearAddress: c.pml4e, attempts: [AttemptOutcome(vector: 13, errorCode: 8)], finalEntries: [])
    #expect(judge(c, observed: wrong, prediction: prediction).kinds == [.errorCode])
  }
}
