import GuestABI
import Testing

@testable import Conformance

/// Descriptions of cases and outcomes, and the `--filter` they serve.
@Suite struct CaseDescriptionTests {
  @Test func caseDescriptionNamesEveryLevelTheControlsAndTheAccess() {
    let c = pagingCase(
      pde: Bit.pwu | Bit.a, pte: Bit.p | Bit.u | Bit.nx | Bit.r51,
      controls: [.userMode, .writeProtect, .noExecuteEnable],
      kind: .write, twice: true)
    #expect(c.caseDescription == "4k pml4e[P W U] pdpte[P W U] pde[P W U A] pte[P U R51 NX] CPL3 WP NXE write twice")
    let large = pagingCase(
      pdpte: Bit.p | Bit.ps | Bit.r13, leafLevel: 3, controls: [.smap, .alignmentCheck], kind: .fetch)
    #expect(large.caseDescription == "1g pml4e[P W U] pdpte[P PS R13] CPL0 SMAP AC fetch")
    #expect(pagingCase(pte: 0).caseDescription == "4k pml4e[P W U] pdpte[P W U] pde[P W U] pte[-] CPL0 read")
    let key = pagingCase(
      pte: Bit.p | 1 << 59,
      controls: ConformanceControls(rawValue: ConformanceControls.protectionKeys.rawValue | 0x4 << 32))
    #expect(key.caseDescription.hasSuffix("pte[P KEY1] CPL0 PKE PKRU=0x4 read"))
    let canonical = PagingSpace.canonical(features: testFeatures).case(at: 0)
    #expect(
      canonical.caseDescription.hasPrefix("canonical 0x") && canonical.caseDescription.contains("(non-canonical)"))
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

/// `indices(matching:in:)` selects exactly what `matches` does, faster.
@Suite struct FilterIndicesTests {
  /// Slices from the 4k, 2m and 1g sections (the whole space takes long in
  /// a debug build).
  static let slices: [Range<Int>] = {
    var result: [Range<Int>] = []
    var start = 0
    for section in testSpace.sectionSizes {
      if ["4k", "2m", "1g", "pku-4k"].contains(section.name) {
        result.append(start..<(start + min(section.count, 30_000)))
      }
      start += section.count
    }
    return result
  }()

  @Test(arguments: [
    "paging/4k/cpl3/none/write", "pte[p u r51]", "1g pml4e[p w u] pdpte[p ps r21]", "pke", "nothing-matches",
  ])
  func indicesMatchingAgreeWithMatches(filter: String) {
    var found = 0
    for slice in Self.slices {
      let indices = testSpace.indices(matching: filter, in: slice)
      #expect(indices == indices.sorted())
      let selected = Set(indices)
      for index in slice where index % 7 == 0 {
        #expect(selected.contains(index) == testSpace.matches(testSpace.case(at: index), filter: filter))
      }
      for index in indices.prefix(200) {
        #expect(slice.contains(index) && testSpace.matches(testSpace.case(at: index), filter: filter))
      }
      found += indices.count
    }
    #expect(filter == "nothing-matches" ? found == 0 : found > 0)
  }

  @Test func canonicalIndicesMatchToo() {
    let space = PagingSpace.canonical(features: testFeatures)
    let indices = space.indices(matching: "(non-canonical) cpl3 wp write")
    #expect(indices.count == 36 * 2)
    for index in indices { #expect(space.case(at: index).kind == .write) }
    #expect(space.indices(matching: "canonical/cpl0/fetch").count == 36 * 2 + 2)
  }
}
