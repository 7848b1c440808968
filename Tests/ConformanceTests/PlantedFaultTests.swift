import Foundation
import GuestABI
import Testing
import X86Paging

@testable import Conformance

/// The suite must be able to fail: a platform obeying a deliberately wrong
/// rule is caught on exactly the cases the rule changes, and an erratum for
/// that rule turns exactly those into expected failures.
@Suite struct PlantedFaultTests {
  /// The planted rule: CR0.WP is ignored (supervisor writes to read-only
  /// pages complete, as with WP=0).
  static func ignoreWriteProtect(_ context: inout PagingContext) { context.cr0.remove(.writeProtect) }

  /// Decides by hand, without X86Paging, whether ignoring WP changes `c`:
  /// a supervisor write with WP=1 whose walk reaches the leaf with no
  /// reserved bit, through some read-only entry, not stopped first by SMAP.
  static func writeProtectDecides(_ c: PagingCase) -> Bool {
    let controls = c.controls
    guard !c.explicitAddress, c.kind == .write, !controls.contains(.userMode), controls.contains(.writeProtect)
    else { return false }
    var writable = true
    var user = true
    for level in stride(from: 4, through: c.leafLevel, by: -1) {
      let entry = c.entry(level: level)
      var reserved = Bit.r48 | Bit.r51 | (controls.contains(.noExecuteEnable) ? 0 : Bit.nx)
      if level == 4 { reserved |= Bit.ps }
      if level == c.leafLevel && level > 1 { reserved |= Bit.r13 | (level == 3 ? Bit.r21 : 0) }
      if entry & Bit.p == 0 || entry & reserved != 0 { return false }
      writable = writable && entry & Bit.w != 0
      user = user && entry & Bit.u != 0
    }
    let smapStops = user && controls.contains(.smap) && !controls.contains(.alignmentCheck)
    return !writable && !smapStops
  }

  /// The cases of the sample with what the planted platform recorded and
  /// the judge's verdict (PKE cases left out: WP also governs PKRU.WD).
  static func plantedRun() -> [(c: PagingCase, judgement: Judgement)] {
    stride(from: 0, to: testSpace.count, by: 61).compactMap { index in
      let c = testSpace.case(at: index)
      guard !c.controls.contains(.protectionKeys) else { return nil }
      let address = testOracle.linearAddress(of: c, slot: c.upperHalf ? 256 : 0)
      let observed = testOracle.simulate(c, linearAddress: address, adjust: ignoreWriteProtect)
      return (c, judge(c, observed: observed, prediction: testOracle.predict(c, linearAddress: address)))
    }
  }

  @Test func judgeReportsExactlyTheCasesTheWrongRuleChanges() {
    var failed = 0
    for (c, judgement) in Self.plantedRun() {
      let decides = Self.writeProtectDecides(c)
      #expect(judgement.passed == !decides, "\(c.caseDescription): \(judgement.summary)")
      if decides {
        failed += 1
        #expect(judgement.kinds.contains(.noFault))
        #expect(judgement.kinds.isSubset(of: [.noFault, .dirtyBit]))
      }
    }
    #expect(failed > 500)
  }

  static let plantedErratum = """
    {
      "about": "test",
      "errata": [
        {
          "id": "planted-wp-ignored",
          "platform": "kvm-pvm",
          "suite": "paging",
          "match": {
            "cpl": "supervisor", "access": "write", "controlsSet": ["wp"],
            "differences": ["no-fault", "dirty-bit"],
            "subsetBecause": "the write sets D only where the case left it clear"
          },
          "explanation": "The test platform ignores CR0.WP."
        }
      ]
    }
    """

  @Test func erratumTurnsPlantedDifferencesIntoExpectedFailures() throws {
    let errata = try Errata.decode(Data(Self.plantedErratum.utf8), source: "planted.json")
    var explained = 0
    for (c, judgement) in Self.plantedRun() where !judgement.passed {
      #expect(errata.erratum(for: c, judgement: judgement, platform: "kvm-pvm")?.id == "planted-wp-ignored")
      #expect(errata.erratum(for: c, judgement: judgement, platform: "kvm-intel") == nil)
      explained += 1
      // The same case with one more, unrelated, difference still fails.
      var more = judgement
      more.differences.append(Difference(kind: .entryBits, detail: "PTE flags changed"))
      #expect(errata.erratum(for: c, judgement: more, platform: "kvm-pvm") == nil)
    }
    #expect(explained > 500)
    // An unrelated difference on an unrelated case is not explained.
    let userWrite = pagingCase(pte: Bit.p | Bit.u, controls: [.userMode], kind: .write)
    #expect(errata.erratum(for: userWrite, differences: [.errorCode], platform: "kvm-pvm") == nil)
    #expect(errata.erratum(for: userWrite, differences: [.noFault], platform: "kvm-pvm") == nil)
    // A passing case needs no erratum.
    #expect(
      errata.erratum(for: pagingCase(controls: [.writeProtect], kind: .write), differences: [], platform: "kvm-pvm")
        == nil)
  }
}
