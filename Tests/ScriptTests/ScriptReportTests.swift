import Foundation
import GuestABI
import Testing

@testable import Script

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// How a run reads: one line per step with its status, what was expected
/// when it differs, its out-parameters by kind, and the verdicts.
@Suite("Script reports")
struct ScriptReportTests {
  static func step(
    _ index: Int, _ call: String, status: UInt32?, expect: [UInt32]?, outputs: [(String, UInt64, OutputKind)] = [],
    violations: [String] = []
  ) -> StepReport {
    StepReport(
      index: index, call: call, status: status, expect: expect, outputs: outputs.map { ($0.0, $0.1, $0.2) },
      guestMicroseconds: 12.5, violations: violations, checkpointName: nil)
  }

  static let report = ScriptReport(
    platform: "kvm-pvm (shadow paging)",
    steps: [
      step(
        0, "NtQueryVirtualMemory", status: 0, expect: [0],
        outputs: [
          ("BaseAddress", 0x10000, .number), ("AllocationProtect", 0x104, .protection), ("State", 0x1000, .regionState),
          ("Type", 0x20000, .regionType),
        ]),
      step(1, "NtAllocateVirtualMemory", status: 0xC000_0045, expect: [0xC000_00F2]),
      step(
        2, "NtFreeVirtualMemory", status: 0xC000_0045, expect: [0xC000_0045],
        violations: ["the call failed but changed state: PFN 0x5's record changed"]),
      step(3, "Touch", status: 0xC000_0005, expect: nil),
      step(4, "Touch", status: nil, expect: [0]),
    ], exitStatus: 0, problems: [], seconds: 0.5, firstBrokenStep: nil)

  @Test("verdicts: accepted, wrong status, a violation, no expect, not run")
  func verdicts() {
    #expect(Self.report.steps.map(\.verdict) == [.passed, .failed, .failed, .reported, .notRun])
    #expect(Self.report.passed == 1 && Self.report.failed == 2 && Self.report.reported == 1 && Self.report.notRun == 1)
    #expect(!Self.report.succeeded)
    var clean = Self.report
    clean.steps = [clean.steps[0], clean.steps[3]]
    #expect(clean.succeeded)
    clean.exitStatus = 0x7F
    #expect(!clean.succeeded)
  }

  @Test("the text names statuses, expectations, out-parameters and violations")
  func text() {
    let lines = Self.report.text.split(separator: "\n").map(String.init)
    #expect(lines[1].hasPrefix("ok   #0  NtQueryVirtualMemory  STATUS_SUCCESS  BaseAddress=0x10000"))
    #expect(lines[1].contains("AllocationProtect=PAGE_READWRITE|PAGE_GUARD  State=MEM_COMMIT  Type=MEM_PRIVATE"))
    #expect(
      lines[2]
        == "FAIL #1  NtAllocateVirtualMemory  STATUS_INVALID_PAGE_PROTECTION  expected STATUS_INVALID_PARAMETER_4  (12.5 µs)"
    )
    #expect(lines[4] == "       violation: the call failed but changed state: PFN 0x5's record changed")
    #expect(lines.last == "script: 5 steps, 1 passed, 2 failed, 1 reported, 1 not run in 0.50 s")
  }

  @Test("unknown statuses and flags are written as numbers")
  func numbersForUnknowns() {
    #expect(NtNames.describeStatus(0xC000_1234) == "0xC0001234")
    #expect(NtNames.describeFlags(0x804, NtNames.protections) == "PAGE_READWRITE|0x800")
    #expect(NtNames.describeFlags(0, NtNames.protections) == "0")
  }
}

@Suite("Script reports for CI")
struct ScriptCIReportTests {
  @Test("JUnit: a test case per step, failures and skips counted, and it parses")
  func junit() throws {
    let xml = ScriptReportTests.report.junit(name: "basics")
    #expect(xml.contains(#"<testsuites name="mmlab script" tests="5" failures="2" errors="0" skipped="1""#))
    #expect(xml.contains(##"<testcase classname="script.basics" name="#1 NtAllocateVirtualMemory""##))
    #expect(xml.contains(#"message="STATUS_INVALID_PAGE_PROTECTION, expected STATUS_INVALID_PARAMETER_4""#))
    #expect(xml.contains(#"<skipped message="not run: the guest stopped before this step"/>"#))
    let parser = XMLParser(data: Data(xml.utf8))
    #expect(parser.parse())
    var dead = ScriptReportTests.report
    dead.problems = ["the guest exited with status 127 before the script's end"]
    #expect(dead.junit(name: "basics").contains(#"name="guest""#))
  }

  @Test("TAP: a point per step, a plan that matches, diagnostics for failures")
  func tap() {
    let lines = ScriptReportTests.report.tap().split(separator: "\n").map(String.init)
    #expect(lines[0] == "TAP version 13")
    #expect(lines.contains("1..5"))
    #expect(lines.contains("ok 1 - \\#0 NtQueryVirtualMemory"))
    #expect(lines.contains("not ok 2 - \\#1 NtAllocateVirtualMemory"))
    #expect(lines.contains("ok 4 - \\#3 Touch # STATUS_ACCESS_VIOLATION"))
    #expect(lines.contains { $0.hasPrefix("ok 5 - \\#4 Touch # SKIP not run") })
    #expect(lines.contains { $0.contains("violations:") })
  }
}
