import Foundation
import GuestABI
import Testing

@testable import Conformance

/// The errata file: the bundled one loads, matching follows every
/// condition, and malformed files say what is wrong and where.
@Suite struct ErrataTests {
  @Test func bundledErrataLoad() throws {
    let errata = try Errata.bundled
    #expect(errata.about?.isEmpty == false)
    for erratum in errata.errata { #expect(!erratum.explanation.isEmpty) }
  }

  /// One erratum with `match` as given.
  func errata(match: String, platform: String = "kvm-pvm") throws -> Errata {
    let json = """
      [{"id": "e1", "platform": "\(platform)", "suite": "paging", "match": \(match), "explanation": "why"}]
      """
    return try Errata.decode(Data(json.utf8), source: "test.json")
  }

  @Test func everyConditionMustHold() throws {
    let e = try errata(
      match: """
        {"leafLevel": 1, "cpl": "user", "access": ["write", "fetch"], "twice": true,
         "controlsSet": ["nxe"], "controlsClear": ["smep"],
         "entries": {"pte": {"set": ["P", "R51"], "clear": ["W"]}, "pde": {"set": ["A"]}},
         "differences": "accessed-bit"}
        """)
    let base = pagingCase(
      pde: Bit.pwu | Bit.a, pte: Bit.p | Bit.u | Bit.r51, controls: [.userMode, .noExecuteEnable], kind: .write,
      twice: true)
    #expect(e.erratum(for: base, differences: [.accessedBit], platform: "kvm-pvm") != nil)
    var variants: [PagingCase] = []
    var c = base
    c.kind = .read
    variants.append(c)
    c = base
    c.twice = false
    variants.append(c)
    c = base
    c.controls.insert(.smep)
    variants.append(c)
    c = base
    c.controls.remove(.userMode)
    variants.append(c)
    c = base
    c.pte |= Bit.w
    variants.append(c)
    c = base
    c.pde &= ~Bit.a
    variants.append(c)
    c = base
    c.controls.remove(.noExecuteEnable)
    variants.append(c)
    for variant in variants {
      #expect(
        e.erratum(for: variant, differences: [.accessedBit], platform: "kvm-pvm") == nil, "\(variant.caseDescription)")
    }
    #expect(e.erratum(for: base, differences: [.accessedBit, .dirtyBit], platform: "kvm-pvm") == nil)
  }

  @Test func differencesMustBeExactlyTheListedOnes() throws {
    let e = try errata(match: #"{"differences": ["fault", "entry-bits"]}"#)
    #expect(e.erratum(for: pagingCase(), differences: [.fault, .entryBits], platform: "kvm-pvm") != nil)
    #expect(e.erratum(for: pagingCase(), differences: [.fault], platform: "kvm-pvm") == nil)
    #expect(e.erratum(for: pagingCase(), differences: [.fault, .entryBits, .dirtyBit], platform: "kvm-pvm") == nil)
    #expect(e.erratum(for: pagingCase(), differences: [], platform: "kvm-pvm") == nil)
    #expect(e.erratum(for: pagingCase(), differences: [.fault, .entryBits], platform: "kvm-amd") == nil)
    let canonical = PagingSpace.canonical(features: testFeatures).case(at: 0)
    #expect(e.erratum(for: canonical, differences: [.fault, .entryBits], platform: "kvm-pvm") == nil)
  }

  @Test func aSubsetOnlyWhereTheErratumSaysWhy() throws {
    let e = try errata(match: #"{"differences": ["fault", "entry-bits"], "subsetBecause": "the bits vary"}"#)
    #expect(e.erratum(for: pagingCase(), differences: [.fault], platform: "kvm-pvm") != nil)
    #expect(e.erratum(for: pagingCase(), differences: [.fault, .entryBits], platform: "kvm-pvm") != nil)
    #expect(e.erratum(for: pagingCase(), differences: [.fault, .dirtyBit], platform: "kvm-pvm") == nil)
    #expect(e.erratum(for: pagingCase(), differences: [], platform: "kvm-pvm") == nil)
  }

  @Test func anySetNeedsOneOfItsFlags() throws {
    let e = try errata(
      match: #"{"leafLevel": 3, "entries": {"pdpte": {"anySet": ["bit13", "bit21"]}}, "differences": "fault"}"#)
    let leaf = Bit.p | Bit.ps
    #expect(
      e.erratum(for: pagingCase(pdpte: leaf | Bit.r13, leafLevel: 3), differences: [.fault], platform: "kvm-pvm") != nil
    )
    #expect(
      e.erratum(for: pagingCase(pdpte: leaf | Bit.r21, leafLevel: 3), differences: [.fault], platform: "kvm-pvm") != nil
    )
    #expect(
      e.erratum(for: pagingCase(pdpte: leaf | Bit.r51, leafLevel: 3), differences: [.fault], platform: "kvm-pvm") == nil
    )
    #expect(e.erratum(for: pagingCase(pdpte: leaf, leafLevel: 3), differences: [.fault], platform: "kvm-pvm") == nil)
  }

  @Test func observationConditionsNeedTheObservation() throws {
    let e = try errata(
      match:
        #"{"cpl": "user", "firstUserUpperHalfAccess": true, "firstAttempt": {"vector": 14, "errorCode": 4}, "differences": "fault"}"#
    )
    let c = pagingCase(controls: [.userMode])
    let fault = AttemptOutcome(vector: 14, errorCode: 4, faultAddress: 0x1000)
    func observed(_ attempt: AttemptOutcome, first: Bool) -> Observation {
      Observation(
        linearAddress: 0x1000, attempts: [attempt], finalEntries: [0, 0, 0, 0],
        events: first ? [.firstUserUpperHalfAccess] : [])
    }
    #expect(
      e.erratum(for: c, observed: observed(fault, first: true), differences: [.fault], platform: "kvm-pvm") != nil)
    #expect(
      e.erratum(for: c, observed: observed(fault, first: false), differences: [.fault], platform: "kvm-pvm") == nil)
    let other = AttemptOutcome(vector: 14, errorCode: 5, faultAddress: 0x1000)
    #expect(
      e.erratum(for: c, observed: observed(other, first: true), differences: [.fault], platform: "kvm-pvm") == nil)
    #expect(e.erratum(for: c, differences: [.fault], platform: "kvm-pvm") == nil)
  }

  @Test func controlErrataNameExactlyTheirWrites() throws {
    let json = #"""
      [{"id": "w", "platform": "qemu-tcg", "suite": "controls", "explanation": "why",
        "match": {"cpl": "supervisor", "write": [{"register": "efer", "set": [1]}, {"register": "cr0", "clear": [30], "set": [29]}],
                  "differences": ["no-fault"]}}]
      """#
    let e = try Errata.decode(Data(json.utf8), source: "test")
    func write(_ register: ConformanceRegister, clear: UInt64 = 0, set: UInt64 = 0, user: Bool = false) -> PagingCase {
      PagingCase(
        pml4e: clear, pdpte: register.rawValue, pde: set, pte: 0, leafLevel: 1, controls: user ? [.userMode] : [],
        kind: .write, twice: false, controlWrite: true)
    }
    func explained(_ c: PagingCase) -> Bool { e.erratum(for: c, differences: [.noFault], platform: "qemu-tcg") != nil }
    #expect(explained(write(.efer, set: 1 << 1)))
    #expect(explained(write(.cr0, clear: 1 << 30, set: 1 << 29)))
    #expect(!explained(write(.efer, set: 1 << 63)))
    #expect(!explained(write(.cr4, set: 1 << 1)))
    #expect(!explained(write(.cr0, clear: 0, set: 1 << 29)))
    #expect(!explained(write(.efer, set: 1 << 1 | 1 << 63)))
    #expect(!explained(write(.efer, set: 1 << 1, user: true)))
  }

  /// The problem, with the JSON path of the value at fault.
  func problem(_ json: String) -> ErrataError? {
    do {
      _ = try Errata.decode(Data(json.utf8), source: "bad.json")
      return nil
    } catch {
      return error
    }
  }

  func problem(match: String) -> ErrataError? {
    problem(#"[{"id": "e", "platform": "kvm-pvm", "suite": "paging", "match": \#(match), "explanation": "x"}]"#)
  }

  @Test func malformedFilesSayWhatAndWhere() {
    #expect(problem("{")?.problem.hasPrefix("not valid JSON") == true)
    #expect(problem(#"{"errata": {}}"#)?.description == "bad.json: errata: must be an array of errata")
    #expect(problem(#"{"about": "x"}"#)?.problem == "missing key 'errata'")
    #expect(problem(#"{"errata": [], "comment": 1}"#)?.problem.hasPrefix("unknown key 'comment'") == true)
    let leafTypo = problem(match: #"{"leaflevel": 1}"#)
    #expect(leafTypo?.path == "[0].match")
    #expect(leafTypo?.problem.hasPrefix("unknown key 'leaflevel'") == true)
    #expect(problem(match: #"{"leafLevel": 4}"#)?.path == "[0].match.leafLevel")
    #expect(problem(match: #"{"leafLevel": "1"}"#)?.problem == "must be 1, 2 or 3")
    #expect(problem(match: #"{"twice": 1}"#)?.problem == "must be true or false")
    #expect(problem(match: #"{"cpl": "kernel"}"#)?.problem.contains("expected user or supervisor") == true)
    #expect(problem(match: #"{"access": "wirte"}"#)?.problem.contains("unknown access kind 'wirte'") == true)
    #expect(problem(match: #"{"controlsSet": ["cr0.wp"]}"#)?.path == "[0].match.controlsSet")
    #expect(problem(match: #"{"entries": {"pte": {"set": ["RW"]}}}"#)?.path == "[0].match.entries.pte.set")
    #expect(problem(match: #"{"entries": {"pt": {"set": ["P"]}}}"#)?.problem.contains("unknown entry 'pt'") == true)
    #expect(problem(match: #"{"entries": {"pte": {"set": ["P"], "clear": ["P"]}}}"#) != nil)
    #expect(problem(match: #"{"differences": ["accesed-bit"]}"#)?.problem.contains("accessed-bit") == true)
    #expect(problem(match: #"{"differences": []}"#)?.problem == "must name at least one difference kind")
    let platform = problem(#"[{"id": "e", "platform": "kvm-vmx", "suite": "paging", "match": {}, "explanation": "x"}]"#)
    #expect(platform?.path == "[0].platform")
    let suite = problem(#"[{"id": "e", "platform": "kvm-pvm", "suite": "pagin", "match": {}, "explanation": "x"}]"#)
    #expect(suite?.problem.hasPrefix("unknown suite 'pagin' (expected paging, tlb") == true)
    #expect(
      problem(#"[{"id": "e", "platform": "kvm-pvm", "suite": "paging", "match": {}}]"#)?.problem
        == "missing key 'explanation'")
    let twice =
      #"{"id": "e", "platform": "kvm-pvm", "suite": "paging", "match": {"differences": "fault"}, "explanation": "x"}"#
    #expect(problem("[\(twice), \(twice)]")?.problem == "duplicate id 'e'")
    #expect(problem(match: #"{"cpl": "user"}"#)?.problem.hasPrefix("missing key 'differences'") == true)
    #expect(problem(match: #"{"differences": "fault", "subsetBecause": "x"}"#)?.path == "[0].match.subsetBecause")
    #expect(problem(match: #"{"differences": ["fault", "vector"], "subsetBecause": ""}"#)?.problem == "must say why")
    #expect(problem(match: #"{"write": {"register": "cr0"}, "differences": "fault"}"#)?.path == "[0].match.write")
    #expect(
      problem(match: #"{"firstAttempt": {"vector": 14}, "differences": "fault"}"#)?.problem == "missing key 'errorCode'"
    )
    #expect(
      problem(match: #"{"firstUserUpperHalfAccess": 1, "differences": "fault"}"#)?.problem == "must be true or false")
    #expect(
      problem(match: #"{"entries": {"pte": {"anySet": ["P"], "clear": ["P"]}}, "differences": "fault"}"#)?.path
        == "[0].match.entries.pte.anySet")
    func controls(_ match: String, skip: Bool = false) -> ErrataError? {
      problem(
        #"[{"id": "e", "platform": "qemu-tcg", "suite": "controls", "match": \#(match), "explanation": "x""#
          + (skip ? #", "skip": true}]"# : "}]"))
    }
    #expect(
      controls(#"{"entries": {"pde": {"set": ["bit32"]}}, "differences": "no-fault"}"#)?.path == "[0].match.entries")
    #expect(controls(#"{"write": {"register": "cr3"}, "differences": "no-fault"}"#)?.problem.contains("cr3") == true)
    #expect(
      controls(#"{"write": {"register": "cr4", "set": [64]}, "differences": "no-fault"}"#)?.path
        == "[0].match.write.set[0]")
    #expect(controls(#"{"write": {"register": "cr4", "set": [5], "clear": [5]}, "differences": "no-fault"}"#) != nil)
    #expect(controls(#"{"write": [], "differences": "no-fault"}"#)?.problem == "must name at least one write")
    #expect(controls(#"{"write": {"register": "cr4", "set": [15]}}"#, skip: true) == nil)
    #expect(
      controls(#"{"write": {"register": "cr4", "set": [15]}, "differences": "no-fault"}"#, skip: true)?.path
        == "[0].match.differences")
  }

  @Test func missingFileSaysSo() {
    #expect(throws: ErrataError.self) { try Errata.load(from: URL(fileURLWithPath: "/nonexistent/errata.json")) }
    do {
      _ = try Errata.load(from: URL(fileURLWithPath: "/nonexistent/errata.json"))
    } catch {
      #expect(error.description.hasPrefix("/nonexistent/errata.json: no such file"))
    }
    do {
      _ = try Errata.load(from: URL(fileURLWithPath: "/"))
    } catch {
      #expect(error.description.hasPrefix("/: is a directory, not a file"))
    }
  }

  /// Every flag name a case description writes names its bit in an erratum.
  @Test func descriptionNamesAreErratumNames() {
    for index in stride(from: 0, to: testSpace.count, by: 1_009) {
      let c = testSpace.case(at: index)
      for level in c.leafLevel...4 {
        let entry = c.entry(level: level)
        var rebuilt: UInt64 = 0
        for name in CaseNames.flagNames(entry, level: level, leafLevel: c.leafLevel) {
          rebuilt |= CaseNames.bits(named: name, level: level) ?? 0
        }
        #expect(rebuilt == entry, "\(c.caseDescription)")
      }
    }
  }
}

@Suite("Errata that keep cases from running")
struct SkipErrataTests {
  static let json = #"""
    {"errata": [{"id": "crash", "platform": "qemu-tcg", "suite": "controls", "skip": true,
      "match": {"cpl": "supervisor", "write": {"register": "cr0", "clear": [31]}},
      "explanation": "takes the guest down"}]}
    """#

  func controlWrite(clear: UInt64, user: Bool = false) -> PagingCase {
    PagingCase(
      pml4e: clear, pdpte: 0, pde: 0, pte: 0, leafLevel: 1, controls: user ? [.userMode] : [], kind: .write,
      twice: false, controlWrite: true)
  }

  @Test("a skip erratum names exactly the cases it matches, on its platform only")
  func skipMatchesItsCasesOnly() throws {
    let errata = try Errata.decode(Data(Self.json.utf8), source: "test")
    #expect(errata.skipping(controlWrite(clear: 1 << 31), platform: "qemu-tcg")?.id == "crash")
    #expect(errata.skipping(controlWrite(clear: 1 << 31), platform: "kvm-pvm") == nil)
    #expect(errata.skipping(controlWrite(clear: 1 << 16), platform: "qemu-tcg") == nil)
    #expect(errata.skipping(controlWrite(clear: 1 << 31, user: true), platform: "qemu-tcg") == nil)
  }

  @Test("skip must be a boolean")
  func skipMustBeBoolean() {
    let bad = Self.json.replacingOccurrences(of: "\"skip\": true", with: "\"skip\": \"yes\"")
    #expect(throws: ErrataError.self) { try Errata.decode(Data(bad.utf8), source: "test") }
  }
}
