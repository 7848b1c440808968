import GuestABI
import Testing
import X86Paging

@testable import Conformance

/// The address the guest's runner gives a tlb case in block slot 3.
private func tlbAddress(_ c: PagingCase) -> UInt64 {
  ConformanceABI.linearAddress(slot: 3, leafLevel: c.leafLevel, targetPhysical: testTarget, kind: .read)
}

/// A tlb observation: the first read completed, the second did `second`.
private func tlbObservation(_ c: PagingCase, second: AttemptOutcome, value: UInt64 = 0) -> Observation {
  Observation(
    linearAddress: tlbAddress(c), attempts: [.completed, second], finalEntries: [0, 0, 0, 0], valueRead: value)
}

@Suite struct TLBSuiteModelTests {
  let suite = TLBSuite(features: ConformanceFeatures(rawValue: 0x1FF))

  /// A revoked leaf's second read is X86Paging's not-present #PF: 0x4 at CPL 3, 0 at CPL 0
  /// (what the suite once wrote by hand); a remapped one reads the second target.
  @Test func secondReadComesFromX86Paging() {
    var revoked = (user: 0, supervisor: 0)
    for index in 0..<suite.count {
      let c = suite.case(at: index)
      let address = tlbAddress(c)
      let new = suite.outcomes(c, address: address).new
      guard c.mutation == 0 else {
        #expect(new.0 == .completed && new.1 == ConformanceABI.secondTargetMarker)
        continue
      }
      let user = c.controls.contains(.userMode)
      let code = PageFaultErrorCode(
        .notPresent, access: user ? .userRead : .supervisorRead, rights: nil,
        context: PagingContext(mode: .fourLevel, cr3: 0x1000, maxPhysicalAddressBits: 48))
      #expect(code.rawValue == (user ? 0x4 : 0x0))
      #expect(
        new.0 == AttemptOutcome(vector: ExceptionVector.pageFault, errorCode: code.rawValue, faultAddress: address))
      #expect(new.1 == nil)
      if user { revoked.user += 1 } else { revoked.supervisor += 1 }
    }
    #expect(revoked.user > 0 && revoked.supervisor > 0)
  }

  @Test func aWrongFaultCodeIsCaught() {
    for index in 0..<suite.count where suite.case(at: index).mutation == 0 {
      let c = suite.case(at: index)
      let code: UInt32 = c.controls.contains(.userMode) ? 0x4 : 0x0
      func fault(_ code: UInt32) -> AttemptOutcome {
        AttemptOutcome(vector: ExceptionVector.pageFault, errorCode: code, faultAddress: tlbAddress(c))
      }
      #expect(suite.judge(c, observed: tlbObservation(c, second: fault(code))).passed)
      // The other CPL's code, and a present-bit one, are differences.
      #expect(!suite.judge(c, observed: tlbObservation(c, second: fault(code ^ 0x4))).passed)
      #expect(!suite.judge(c, observed: tlbObservation(c, second: fault(code | 0x1))).passed)
    }
  }
}
