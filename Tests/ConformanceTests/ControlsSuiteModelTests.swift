import GuestABI
import Testing
import X86Paging

@testable import Conformance

/// The `controls` table as it was written by hand before X86Paging decided it: name,
/// register, bits cleared and set, and whether CPL 0 may make the write on a CPU with
/// the given features. The derived table must equal it for every feature set.
private let handWrittenControls:
  [(
    name: String, register: ConformanceRegister, clear: UInt64, set: UInt64,
    allowed: @Sendable (ConformanceFeatures) -> Bool
  )] =
    [
      ("CR0.WP cleared", .cr0, 1 << 16, 0, { _ in true }),
      ("CR0 rewritten unchanged", .cr0, 0, 0, { _ in true }),
      ("CR0.PG cleared in IA-32e mode", .cr0, 1 << 31, 0, { _ in false }),
      ("CR0.PE cleared with PG set", .cr0, 1, 0, { _ in false }),
      ("CR0.NW set with CD clear", .cr0, 1 << 30, 1 << 29, { _ in false }),
      ("CR0 bit 32 (reserved) set", .cr0, 0, 1 << 32, { _ in false }),
      ("CR4.PAE cleared in IA-32e mode", .cr4, 1 << 5, 0, { _ in false }),
      ("CR4.LA57 set in IA-32e mode", .cr4, 0, 1 << 12, { _ in false }),
      ("CR4.SMEP set", .cr4, 0, 1 << 20, { $0.contains(.smep) }),
      ("CR4.SMAP set", .cr4, 0, 1 << 21, { $0.contains(.smap) }),
      ("CR4.PKE set", .cr4, 0, 1 << 22, { $0.contains(.protectionKeys) }),
      ("CR4.PCIDE set (CR3[11:0] = 0)", .cr4, 0, 1 << 17, { $0.contains(.pcid) }),
      ("CR4.PGE set", .cr4, 0, 1 << 7, { $0.contains(.globalPages) }),
      ("CR4 bit 15 (reserved) set", .cr4, 0, 1 << 15, { _ in false }),
      ("CR4 bit 63 (reserved) set", .cr4, 0, 1 << 63, { _ in false }),
      ("EFER.NXE cleared", .efer, 1 << 11, 0, { _ in true }),
      ("EFER.NXE set", .efer, 0, 1 << 11, { $0.contains(.noExecute) }),
      ("EFER.LME cleared with paging on", .efer, 1 << 8, 0, { _ in false }),
      ("EFER bit 1 (reserved) set", .efer, 0, 1 << 1, { _ in false }),
      ("EFER bit 63 (reserved) set", .efer, 0, 1 << 63, { _ in false }),
    ]

/// Every combination of the nine features the guest reports (bits 0-8).
private let everyFeatureSet = (0..<512).map { ConformanceFeatures(rawValue: UInt64($0)) }

private func controlWrite(_ suite: ControlsSuite, named name: String, cpl3: Bool = false) -> PagingCase {
  let index = suite.writes.firstIndex { $0.name == name }!
  return suite.case(at: index + (cpl3 ? suite.writes.count : 0))
}

private func controlObservation(_ attempt: AttemptOutcome, readBack: UInt64 = 0) -> Observation {
  Observation(linearAddress: 0, attempts: [attempt], finalEntries: [0, 0, 0, 0], valueRead: readBack)
}

@Suite struct ControlsSuiteModelTests {
  @Test func derivedTableEqualsTheHandWrittenOneForEveryFeatureSet() {
    for features in everyFeatureSet {
      let writes = ControlsSuite(features: features).writes
      #expect(writes.map(\.name) == handWrittenControls.map(\.name))
      #expect(writes.map(\.register) == handWrittenControls.map(\.register))
      #expect(writes.map(\.clear) == handWrittenControls.map(\.clear))
      #expect(writes.map(\.set) == handWrittenControls.map(\.set))
      #expect(writes.map(\.allowed) == handWrittenControls.map { $0.allowed(features) }, "features \(features)")
    }
  }

  @Test func aFeatureDecidesTheVerdictAndTheJudge() {
    let with = ControlsSuite(features: [.smep, .noExecute])
    let without = ControlsSuite(features: [.noExecute])
    let setSMEP = controlWrite(with, named: "CR4.SMEP set")
    let taken = controlObservation(.completed, readBack: 0x20 | 1 << 20)
    let refused = controlObservation(AttemptOutcome(vector: ExceptionVector.generalProtection))
    #expect(with.judge(setSMEP, observed: taken).passed)
    #expect(!with.judge(setSMEP, observed: refused).passed)
    #expect(without.judge(setSMEP, observed: refused).passed)
    #expect(!without.judge(setSMEP, observed: taken).passed)
    #expect(with.outcomes(setSMEP, observed: taken).expected == "taken")
    #expect(without.outcomes(setSMEP, observed: taken).expected == "#GP(0)")
  }

  @Test func everyWriteAtCPL3IsRefused() {
    let suite = ControlsSuite(features: ConformanceFeatures(rawValue: 0x1FF))
    let refused = controlObservation(AttemptOutcome(vector: ExceptionVector.generalProtection))
    for index in suite.writes.count..<suite.count {
      #expect(!suite.expectedAllowed(suite.case(at: index)))
      #expect(suite.judge(suite.case(at: index), observed: refused).passed)
    }
    #expect(!suite.expectedAllowed(controlWrite(suite, named: "CR0.WP cleared", cpl3: true)))
    #expect(suite.expectedAllowed(controlWrite(suite, named: "CR0.WP cleared")))
  }

  /// The starting state is the guest's: with it, the model gives the SDM's reason.
  @Test func startingStateReasons() {
    let features = ProcessorFeatures(ConformanceFeatures(rawValue: 0x1FF))
    func reason(_ register: ConformanceRegister, clear: UInt64 = 0, set: UInt64 = 0) -> ControlRegisterWriteOutcome {
      ControlsSuite.outcome(register: register, clear: clear, set: set, cpl: 0, features: features)
    }
    #expect(reason(.cr0, clear: 1 << 31) == .generalProtection(.pagingClearedIn64BitMode))
    #expect(reason(.cr4, set: 1 << 12) == .generalProtection(.fiveLevelPagingChangedInIA32eMode))
    #expect(reason(.efer, clear: 1 << 8) == .generalProtection(.longModeEnableChangedWithPaging))
    #expect(reason(.efer, set: 1 << 11) == .taken)
  }
}
