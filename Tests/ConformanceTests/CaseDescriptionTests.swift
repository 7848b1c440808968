import GuestABI
import Testing

@testable import Conformance

/// Descriptions of cases and outcomes, and the `--filter` they serve.
@Suite struct CaseDescriptionTests {
  @Test func caseDescriptionNamesEveryLevelTheControlsAndTheAccess() {
    let c = pagingCase(
      pde: Bit.pwu | Bit.a, pte: Bit.p | Bit.u | Bit.nx | Bit.r51, controls: [.userMode, .writeProtect, .noExecuteEnable],
      kind: .write, twice: true)
    #expect(c.caseDescription == "4k pml4e[P W U] pdpte[P W U] pde[P W U A] pte[P U R51 NX] CPL3 WP NXE write twice")
    let large = pagingCase(pdpte: Bit.p | Bit.ps | Bit.r13, leafLevel: 3, controls: [.smap, .alignmentCheck], kind: .fetch)
    #expect(large.caseDescription == "1g pml4e[P W U] pdpte[P PS R13] CPL0 SMAP AC fetch")
    var upper = pagingCase(pte: 0)
    upper.upperHalf = true
    #expect(upper.caseDescription == "4k upper pml4e[P W U] pdpte[P W U] pde[P W U] pte[-] CPL0 read")
    let key = pagingCase(pte: Bit.p | 1 << 59, controls: ConformanceControls(rawValue: ConformanceControls.protectionKeys.rawValue | 0x4 << 32))
    #expect(key.caseDescription.hasSuffix("pte[P KEY1] CPL0 PKE PKRU=0x4 read"))
    let canonical = PagingSpace.canonical(features: testFeatures).case(at: 0)
    #expect(canonical.caseDescription.hasPrefix("canonical 0x") && canonical.caseDescription.contains("(non-canonical)"))
  }

  @Test func outcomesReadLikeTheSDM() {
    let fault = pagingCase(pte: Bit.p | Bit.u, controls: [.userMode], kind: .write)
    let prediction = predicted(fault)
    let text = prediction.outcomeDescription(for: fault)
    #expect(text.hasPrefix("#PF 0x7 (P W U) at 0x"))
    #expect(text.contains("(write to a read-only page)"))
    #expect(text.hasSuffix("A: -, A?: pml4e pdpte pde pte, D: -"))
    let ok = pagingCase(controls: [], kind: .write)
    let okPrediction = predicted(ok)
    #expect(okPrediction.outcomeDescription(for: ok) == "ok, A: pml4e pdpte pde pte, D: pte")
    let observed = testOracle.simulate(ok, linearAddress: okPrediction.linearAddress)
    #expect(observed.outcomeDescription(for: ok) == "ok, A: pml4e pdpte pde pte, D: pte")
    let twice = pagingCase(pte: 0, twice: true)
    #expect(predicted(twice).outcomeDescription(for: twice).contains("(both attempts)"))
  }

  @Test func mismatchCarriesBothSidesAndTheDifferences() {
    let c = pagingCase(pte: Bit.p | Bit.u, controls: [.userMode], kind: .write)
    let prediction = predicted(c)
    var observed = testOracle.simulate(c, linearAddress: prediction.linearAddress)
    observed.attempts[0] = .completed
    let judgement = judge(c, observed: observed, prediction: prediction)
    let mismatch = Mismatch(c, observed: observed, prediction: prediction, judgement: judgement, erratum: nil)
    #expect(mismatch.caseDescription == c.caseDescription)
    #expect(mismatch.expected.hasPrefix("#PF 0x7"))
    #expect(mismatch.observed.hasPrefix("ok"))
    #expect(mismatch.observed.contains("[no-fault: expected #PF 0x7 (P W U) at 0x"))
    #expect(mismatch.erratum == nil)
  }

  @Test func filterMatchesFamilyOrDescriptionIgnoringCase() {
    let c = pagingCase(pte: Bit.pwu | Bit.r51, controls: [.userMode, .smep], kind: .fetch)
    #expect(testSpace.matches(c, filter: "paging/4k/cpl3/smep/fetch"))
    #expect(testSpace.matches(c, filter: "r51"))
    #expect(testSpace.matches(c, filter: "pte[P W U R51]"))
    #expect(!testSpace.matches(c, filter: "r48"))
    #expect(!testSpace.matches(c, filter: "cpl0"))
  }
}
