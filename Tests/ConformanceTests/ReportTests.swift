import Foundation
import Reporting
import Synchronization
import Testing

@testable import Conformance

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// A run with one family of each kind: passed, failed (with markup and a
/// control character in its mismatch), expected failure, skipped.
private func sampleReport(shard: String? = nil) -> ConformanceReport {
  let hostile = Mismatch(
    caseDescription: "PTE=0x7 <&\"'> CR0.WP=1 \u{1}", expected: "#PF(0x7) <fault>", observed: "completed & 'wrote'")
  let erratum = Mismatch(
    caseDescription: "INVLPG of a global page", expected: "stale translation gone", observed: "stale translation kept",
    erratum: "SKL-123")
  return ConformanceReport(
    platform: "kvm-intel, two-dimensional paging (EPT)", suites: [.paging, .tlb], shard: shard,
    families: [
      FamilyResult(suite: .paging, name: "paging/4k/cpl0/none/read", passed: 4096, seconds: 0.25),
      FamilyResult(suite: .paging, name: "paging/4k/cpl3/wp/write", passed: 4000, failed: 2, mismatches: [hostile]),
      FamilyResult(
        suite: .tlb, name: "tlb/invlpg/global", passed: 100, expectedFailures: 3,
        mismatches: [erratum, erratum, erratum]),
      FamilyResult(suite: .paging, name: "paging/4k/cpl3/pku/read", skipped: 512, skipReason: "CPU lacks PKU"),
    ], seconds: 0.5)
}

/// Elements, attributes and text of an XML document, as XMLParser reads it.
private final class XMLCollector: NSObject, XMLParserDelegate {
  var elements: [(name: String, attributes: [String: String])] = []
  var text: [String: String] = [:]
  private var open: [String] = []

  func parser(
    _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
    attributes: [String: String] = [:]
  ) {
    elements.append((name, attributes))
    open.append(name)
  }

  func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
    open.removeLast()
  }

  func parser(_ parser: XMLParser, foundCharacters string: String) {
    if let name = open.last { text[name, default: ""] += string }
  }

  func all(_ name: String) -> [[String: String]] { elements.filter { $0.name == name }.map(\.attributes) }
}

@Suite struct ReportJUnitTests {
  private func parsed(_ report: ConformanceReport = sampleReport()) -> XMLCollector {
    let parser = XMLParser(data: Data(render(report, as: .junit).utf8))
    let collector = XMLCollector()
    parser.delegate = collector
    #expect(parser.parse(), "parse error: \(String(describing: parser.parserError))")
    return collector
  }

  @Test func countsFamiliesAsTestCases() throws {
    let xml = parsed()
    let root = try #require(xml.all("testsuites").first)
    #expect(root["name"] == "mmlab conformance")
    #expect(root["tests"] == "4")
    #expect(root["failures"] == "1")
    #expect(root["skipped"] == "1")
    #expect(root["time"] == "0.500")
    #expect(xml.all("testsuite").map { $0["name"] } == ["paging", "tlb"])
    #expect(xml.all("testsuite").map { $0["tests"] } == ["3", "1"])
    #expect(xml.all("testcase").count == 4)
    #expect(xml.all("testcase").allSatisfy { $0["classname"]?.hasPrefix("conformance.") == true })
  }

  @Test func failureCarriesEscapedMismatch() throws {
    let xml = parsed()
    let failure = try #require(xml.all("failure").first)
    #expect(xml.all("failure").count == 1)
    #expect(failure["message"] == "2 of 4,002 cases failed")
    #expect(failure["type"] == "mismatch")
    let body = try #require(xml.text["failure"])
    #expect(body.contains("PTE=0x7 <&\"'> CR0.WP=1 \\u{1}"))
    #expect(body.contains("completed & 'wrote'"))
    #expect(body.contains("1 more failed case, not kept"))
  }

  @Test func expectedFailuresPassAndSkipsSkip() throws {
    let xml = parsed()
    #expect(xml.all("skipped").map { $0["message"] } == ["CPU lacks PKU"])
    #expect(xml.text["system-out"]?.contains("3 cases explained by erratum SKL-123") == true)
    let platform = xml.all("property").first { $0["name"] == "platform" }
    #expect(platform?["value"] == "kvm-intel, two-dimensional paging (EPT)")
  }

  @Test func escapesEveryMarkupAndControlCharacter() throws {
    #expect(XMLText.escaped("<a&b>\"'") == "&lt;a&amp;b&gt;&quot;&apos;")
    #expect(XMLText.escaped("x\u{0}\u{1B}\u{FFFF}y") == "x\\u{0}\\u{1B}\\u{FFFF}y")
    #expect(XMLText.escaped("a\nb\tc\rd") == "a\nb\tc&#13;d")
    #expect(XMLText.escaped("a\nb\tc", inAttribute: true) == "a&#10;b&#9;c")
    #expect(XMLText.escaped("\u{85}é") == "&#x85;é")
    var report = sampleReport(shard: "1/4")
    report.platform = "odd \u{7} <platform>\n&"
    let xml = parsed(report)
    #expect(xml.all("property").first { $0["name"] == "platform" }?["value"] == "odd \\u{7} <platform>\n&")
    #expect(xml.all("property").contains { $0["name"] == "shard" && $0["value"] == "1/4" })
  }
}

@Suite struct ReportTAPTests {
  let lines = render(sampleReport(), as: .tap).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)

  var points: [String] { lines.filter { $0.hasPrefix("ok ") || $0.hasPrefix("not ok ") } }

  @Test func hasVersionPlatformAndMatchingPlan() {
    #expect(lines.first == "TAP version 13")
    #expect(lines.contains("# platform: kvm-intel, two-dimensional paging (EPT)"))
    #expect(lines.contains("1..\(points.count)"))
    #expect(points.count == 4)
    #expect(points.enumerated().allSatisfy { $1.contains("ok \($0 + 1) - ") })
  }

  @Test func directivesMatchVerdicts() {
    #expect(points[0] == "ok 1 - paging/4k/cpl0/none/read # 4,096 cases")
    #expect(points[1] == "not ok 2 - paging/4k/cpl3/wp/write")
    #expect(points[2] == "not ok 3 - tlb/invlpg/global # TODO erratum SKL-123: 3 of 103 cases fail as documented")
    #expect(points[3] == "ok 4 - paging/4k/cpl3/pku/read # SKIP CPU lacks PKU")
    #expect(points.filter { $0.hasPrefix("not ok") && !$0.contains("# TODO") }.count == 1)
  }

  @Test func yamlBlocksAreIndentedAndQuoted() throws {
    let starts = lines.indices.filter { lines[$0] == "  ---" }
    #expect(starts.count == 2)
    for start in starts {
      #expect(lines[start - 1].hasPrefix("not ok "))
      let end = try #require(lines[start...].firstIndex(of: "  ..."))
      #expect(lines[start...end].allSatisfy { $0.hasPrefix("  ") })
    }
    #expect(lines.contains(#"  message: "2 of 4,002 cases failed""#))
    #expect(lines.contains(#"    - case: "PTE=0x7 <&\"'> CR0.WP=1 \u0001""#))
    #expect(lines.contains("  notKept: 1"))
  }

  @Test func escapesHashInDescriptions() {
    #expect(TAPDocument.description("a#b\nc") == "a\\#b c")
  }
}

@Suite struct ReportJSONAndTextTests {
  @Test func jsonDecodesBackWithTotals() throws {
    let text = render(sampleReport(), as: .json)
    let decoded = try JSONDecoder().decode(ConformanceReport.self, from: Data(text.utf8))
    #expect(decoded.families == sampleReport().families)
    #expect(decoded.platform == sampleReport().platform)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    #expect(object["succeeded"] as? Bool == false)
    #expect(object["failed"] as? Int == 2)
    #expect(object["expectedFailures"] as? Int == 3)
    #expect(object["skipped"] as? Int == 512)
    #expect(object["passed"] as? Int == 8196)
    #expect(object["casesPerSecond"] as? Double == 16402)
    #expect(object.keys.contains("shard"))
    #expect(text.contains(#""name" : "paging/4k/cpl0/none/read""#))
  }

  @Test func textEndsWithSummaryLine() {
    let lines = render(sampleReport(), as: .text).split(separator: "\n").map(String.init)
    #expect(lines.first == "platform: kvm-intel, two-dimensional paging (EPT)")
    #expect(lines.contains("paging: 8,096 passed, 2 failed, 0 expected failures, 512 skipped (3 families, 0.2 s)"))
    #expect(lines.contains("  paging/4k/cpl3/wp/write: 2 of 4,002 cases failed"))
    #expect(lines.contains(#"    case: PTE=0x7 <&"'> CR0.WP=1 \u{1}"#))
    #expect(lines.contains("  SKL-123: 3 cases in tlb/invlpg/global"))
    #expect(lines.contains("skipped 512 cases:"))
    #expect(lines.contains("  CPU lacks PKU: 512"))
    #expect(
      lines.last == "conformance: 8,196 passed, 2 failed, 3 expected failures, 512 skipped in 0.5 s (16,402 cases/s)")
  }

  @Test func groupsThousands() {
    #expect(ReportNumbers.grouped(0) == "0")
    #expect(ReportNumbers.grouped(999) == "999")
    #expect(ReportNumbers.grouped(1000) == "1,000")
    #expect(ReportNumbers.grouped(1_234_567) == "1,234,567")
    #expect(ReportNumbers.grouped(-1234) == "-1,234")
    #expect(ReportNumbers.grouped(29_300.4) == "29,300")
  }

  @Test func attributesErrataBeyondKeptMismatches() {
    let one = Mismatch(caseDescription: "c", expected: "e", observed: "o", erratum: "A")
    let other = Mismatch(caseDescription: "c", expected: "e", observed: "o", erratum: "B")
    let single = FamilyResult(suite: .tlb, name: "x", expectedFailures: 70, mismatches: [one])
    #expect(single.expectedFailuresByErratum.map(\.cases) == [70])
    let mixed = FamilyResult(suite: .tlb, name: "y", expectedFailures: 10, mismatches: [one, one, other])
    #expect(mixed.expectedFailuresByErratum.map(\.erratum) == [FamilyResult.unattributedErratum, "A", "B"])
    #expect(mixed.expectedFailuresByErratum.map(\.cases) == [7, 2, 1])
  }
}

/// Collects what a progress bar writes, and a clock the test moves.
private final class ProgressProbe: Sendable {
  let written = Mutex<[String]>([])
  let time = Mutex<Double>(100)

  func bar(total: Int, isTerminal: Bool) -> ProgressBar {
    ProgressBar(
      total: total, isTerminal: isTerminal, write: { text in self.written.withLock { $0.append(text) } },
      now: { self.time.withLock { $0 } })
  }

  var output: [String] { written.withLock { $0 } }
  func advanceClock(_ seconds: Double) { time.withLock { $0 += seconds } }
}

@Suite struct ReportProgressBarTests {
  @Test func drawsNothingWhenNotATerminal() {
    let probe = ProgressProbe()
    let bar = probe.bar(total: 100, isTerminal: false)
    bar.update(done: 50)
    probe.advanceClock(1)
    bar.advance(by: 50)
    bar.finish()
    #expect(probe.output.isEmpty)
  }

  @Test func drawsThrottledAndClears() {
    let probe = ProgressProbe()
    let bar = probe.bar(total: 100, isTerminal: true)
    probe.advanceClock(10)
    bar.update(done: 50)
    #expect(probe.output == ["\r[##########..........] 50% 50/100 cases 5/s ETA 0:10\u{1B}[K"])
    bar.update(done: 60)
    #expect(probe.output.count == 1)
    probe.advanceClock(0.2)
    bar.update(done: 40)
    #expect(probe.output.count == 2)
    #expect(probe.output[1].contains("60% 60/100"))
    bar.update(done: 100)
    #expect(probe.output.last?.contains("100% 100/100") == true)
    bar.finish()
    #expect(probe.output.last == "\r\u{1B}[K")
  }

  @Test func countsConcurrentReports() async {
    let probe = ProgressProbe()
    let bar = probe.bar(total: 8000, isTerminal: true)
    await withTaskGroup(of: Void.self) { group in
      for _ in 0..<8 {
        group.addTask { for _ in 0..<1000 { bar.advance(by: 1) } }
      }
    }
    #expect(probe.output.last?.contains("100% 8,000/8,000 cases") == true)
  }

  @Test func formatsLineAndDuration() {
    #expect(
      ProgressBar.line(done: 1_003_442, total: 1_930_000, elapsed: 32)
        == "[##########..........] 51% 1,003,442/1,930,000 cases 31,358/s ETA 0:30")
    #expect(ProgressBar.line(done: 0, total: 10, elapsed: 0).hasSuffix("ETA --:--"))
    #expect(ProgressBar.duration(29) == "0:29")
    #expect(ProgressBar.duration(3723) == "1:02:03")
  }
}

@Suite("A family's kept mismatches")
struct ReportMismatchKeepingTests {
  @Test("past the limit an unexplained mismatch takes the place of an expected one; counts stay whole")
  func unexplainedMismatchIsNeverCrowdedOut() {
    var family = FamilyResult(suite: .paging, name: "paging/4k/cpl3/none/read")
    for n in 0..<FamilyResult.mismatchLimit {
      let example = Mismatch(caseDescription: "case \(n)", expected: "ok", observed: "#PF", erratum: "known")
      family.record(.expectedFailure, mismatch: example)
    }
    #expect(!family.keepsMismatch(for: .expectedFailure))
    #expect(family.keepsMismatch(for: .failed))
    family.record(.failed, mismatch: Mismatch(caseDescription: "the real one", expected: "ok", observed: "#GP"))
    #expect(family.mismatches.count == FamilyResult.mismatchLimit)
    #expect(family.mismatches.contains { $0.caseDescription == "the real one" && $0.erratum == nil })
    #expect(family.failed == 1)
    #expect(family.expectedFailures == FamilyResult.mismatchLimit)
  }
}

@Suite("Honest counts")
struct ReportHonestCountTests {
  /// A family whose one write a skip erratum keeps from running, beside one that passed.
  static func skippedByErratum() -> ConformanceReport {
    var skipped = FamilyResult(suite: .controls, name: "controls/cpl0/cr4/bit-15-reserved-set")
    skipped.record(.skipped, skipReason: "erratum tcg-cr4-bit15-crash: not run on qemu-tcg, it takes the guest down")
    var passed = FamilyResult(suite: .controls, name: "controls/cpl0/cr4/smep-set")
    passed.record(.passed)
    return ConformanceReport(platform: "qemu-tcg", suites: [.controls], families: [passed, skipped], seconds: 1)
  }

  @Test("a case a skip erratum keeps from running is skipped, with the erratum's id, in every format")
  func skipErratumIsSkipped() {
    let report = Self.skippedByErratum()
    #expect(report.skipped == 1 && report.expectedFailures == 0 && report.passed == 1)
    let junit = render(report, as: .junit)
    #expect(junit.contains(#"<skipped message="erratum tcg-cr4-bit15-crash: not run on qemu-tcg"#))
    #expect(junit.contains(#"skipped="1""#))
    let tap = render(report, as: .tap)
    #expect(tap.contains("ok 2 - controls/cpl0/cr4/bit-15-reserved-set # SKIP erratum tcg-cr4-bit15-crash"))
    #expect(!tap.contains("TODO"))
    let text = render(report, as: .text)
    #expect(text.contains("conformance: 1 passed, 0 failed, 0 expected failures, 1 skipped"))
    #expect(text.contains("erratum tcg-cr4-bit15-crash: not run on qemu-tcg, it takes the guest down: 1"))
    #expect(report.succeeded)
  }

  @Test("a family keeps every skip reason with its own count")
  func everySkipReasonCounted() {
    var family = FamilyResult(suite: .paging, name: "paging/4k/cpl3/pke/read")
    for _ in 0..<3 { family.record(.skipped, skipReason: "CPU lacks PKU") }
    family.record(.skipped, skipReason: "erratum x: not run")
    family.record(.passed)
    #expect(family.skipsByReason.map(\.cases) == [3, 1])
    let report = ConformanceReport(platform: "p", suites: [.paging], families: [family])
    #expect(report.skipReasons.map(\.reason) == ["CPU lacks PKU", "erratum x: not run"])
    #expect(render(report, as: .junit).contains("skipped 1 case: erratum x: not run"))
  }

  @Test("a run that selected nothing, or skipped everything, did not succeed")
  func nothingTestedFails() {
    let empty = ConformanceReport(platform: "p", suites: [.paging])
    #expect(!empty.succeeded)
    #expect(empty.nothingTested?.hasPrefix("no case was selected") == true)
    #expect(render(empty, as: .text).contains("nothing tested: no case was selected"))
    #expect(render(empty, as: .tap).contains("Bail out! no case was selected"))
    let skipped = ConformanceReport(
      platform: "p", suites: [.paging],
      families: [FamilyResult(suite: .paging, name: "f", skipped: 5, skipReason: "CPU lacks PKU")])
    #expect(!skipped.succeeded)
    #expect(skipped.nothingTested == "every selected case (5 cases) was skipped: nothing was tested")
    let json = render(skipped, as: .json)
    #expect(json.contains(#""succeeded" : false"#))
    #expect(json.contains(#""nothingTested" : "every selected case"#))
    let ran = ConformanceReport(
      platform: "p", suites: [.paging], families: [FamilyResult(suite: .paging, name: "f", expectedFailures: 1)])
    #expect(ran.succeeded && ran.nothingTested == nil)
  }

  @Test("expected failures are counted per erratum exactly, past the kept examples")
  func expectedFailuresExactPerErratum() {
    var family = FamilyResult(suite: .paging, name: "f")
    for n in 0..<120 {
      let erratum = n % 3 == 0 ? "A" : "B"
      let mismatch = Mismatch(caseDescription: "\(n)", expected: "e", observed: "o", erratum: erratum)
      if family.keepsMismatch(for: .expectedFailure) {
        family.record(.expectedFailure, mismatch: mismatch)
      } else {
        family.record(.expectedFailure, erratum: erratum)
      }
    }
    #expect(family.mismatches.count == FamilyResult.mismatchLimit)
    #expect(family.expectedFailuresByErratum.map(\.erratum) == ["B", "A"])
    #expect(family.expectedFailuresByErratum.map(\.cases) == [80, 40])
  }
}
