/// JUnit XML in the Jenkins/Ant shape that GitHub Actions report actions and
/// GitLab read: one <testsuite> per suite, one <testcase> per family.
///
/// Only unexplained mismatches are <failure>s: an expected failure (an
/// erratum of this platform) is a passing test case that names the errata in
/// its <system-out>, so CI stays green on known silicon behaviour. A family
/// with nothing run is <skipped> with the reason: the missing CPU feature,
/// or the id of the skip erratum that keeps it from running here.
enum JUnitReporter {
  static func render(_ report: ConformanceReport) -> String {
    let families = report.families
    let totals = counts(families) + [("time", time(report.seconds))]
    var lines = [
      #"<?xml version="1.0" encoding="UTF-8"?>"#,
      "<testsuites" + attributes([("name", "mmlab conformance")] + totals) + ">",
    ]
    for suite in report.reportedSuites {
      lines += testSuite(suite, families: families.filter { $0.suite == suite }, report: report)
    }
    lines.append("</testsuites>")
    return lines.joined(separator: "\n") + "\n"
  }

  /// One suite; the platform (and shard) as properties, since the schema has
  /// properties on test suites only.
  static func testSuite(_ suite: ConformanceSuite, families: [FamilyResult], report: ConformanceReport) -> [String] {
    let totals = counts(families) + [("time", time(families.reduce(0) { $0 + $1.seconds }))]
    var lines = [
      "  <testsuite" + attributes([("name", suite.rawValue)] + totals) + ">",
      "    <properties>",
      "      <property" + attributes([("name", "platform"), ("value", report.platform)]) + "/>",
    ]
    if let shard = report.shard {
      lines.append("      <property" + attributes([("name", "shard"), ("value", shard)]) + "/>")
    }
    lines.append("    </properties>")
    for family in families { lines += testCase(family) }
    lines.append("  </testsuite>")
    return lines
  }

  /// The count attributes JUnit readers sum: test cases are families, a
  /// failure is a failed family, a skip a family with nothing run.
  static func counts(_ families: [FamilyResult]) -> [(String, String)] {
    [
      ("tests", String(families.count)), ("failures", String(families.count(where: { $0.verdict == .failed }))),
      ("errors", "0"), ("skipped", String(families.count(where: { $0.verdict == .skipped }))),
    ]
  }

  /// One family: a self-closing element when it simply passed.
  static func testCase(_ family: FamilyResult) -> [String] {
    let suite = "conformance.\(family.suite.rawValue)"
    let open =
      "    <testcase" + attributes([("classname", suite), ("name", family.name), ("time", time(family.seconds))])
    var body: [String] = []
    switch family.verdict {
    case .failed:
      let message = "\(ReportNumbers.grouped(family.failed)) of \(ReportNumbers.grouped(family.total)) cases failed"
      body.append(
        "      <failure" + attributes([("message", message), ("type", "mismatch")]) + ">"
          + XMLText.escaped(failureText(family)) + "</failure>")
    case .skipped:
      body.append("      <skipped" + attributes([("message", skipMessage(family))]) + "/>")
    case .passed, .expectedFailure:
      break
    }
    if let notes = notes(family) { body.append("      <system-out>" + XMLText.escaped(notes) + "</system-out>") }
    return body.isEmpty ? [open + "/>"] : [open + ">"] + body + ["    </testcase>"]
  }

  /// Every reason a wholly skipped family has ("; "-separated): a skip
  /// erratum's id is in its reason.
  static func skipMessage(_ family: FamilyResult) -> String {
    let reasons = family.skipsByReason.map(\.reason)
    return reasons.isEmpty ? family.skipReason ?? "no reason given" : reasons.joined(separator: "; ")
  }

  /// The failure's body: each kept unexplained mismatch in full.
  static func failureText(_ family: FamilyResult) -> String {
    let kept = family.failedMismatches
    var text = kept.map { "case: \($0.caseDescription)\nexpected: \($0.expected)\nobserved: \($0.observed)\n" }
      .joined(separator: "\n")
    if family.failed > kept.count {
      let more = family.failed - kept.count
      text += "\n(\(ReportNumbers.grouped(more)) more failed \(more == 1 ? "case" : "cases"), not kept)\n"
    }
    return text
  }

  /// What passed but is worth knowing: expected failures by erratum (with
  /// an example) and partly skipped cases. Nil when there is nothing.
  static func notes(_ family: FamilyResult) -> String? {
    var lines: [String] = []
    for (erratum, cases) in family.expectedFailuresByErratum {
      lines.append("expected failure: \(ReportNumbers.cases(cases)) explained by erratum \(erratum)")
      if let example = family.example(of: erratum) {
        lines.append("  e.g. case: \(example.caseDescription)")
        lines.append("  expected: \(example.expected)")
        lines.append("  observed: \(example.observed)")
      }
    }
    if family.skipped > 0 && family.verdict != .skipped {
      for (reason, cases) in family.skipsByReason { lines.append("skipped \(ReportNumbers.cases(cases)): \(reason)") }
    }
    return lines.isEmpty ? nil : lines.joined(separator: "\n") + "\n"
  }

  /// ` a="x" b="y"`, values escaped for an attribute.
  static func attributes(_ pairs: [(String, String)]) -> String {
    pairs.map { " \($0.0)=\"\(XMLText.escaped($0.1, inAttribute: true))\"" }.joined()
  }

  /// Seconds with millisecond precision, as JUnit readers expect.
  static func time(_ seconds: Double) -> String { ReportNumbers.fixed(max(0, seconds), places: 3) }
}

/// Escaping for XML 1.0 text and attribute values.
enum XMLText {
  /// `text` safe inside an element (or, with `inAttribute`, a double- or
  /// single-quoted attribute). The five markup characters become entities.
  /// C0 control characters cannot appear in XML 1.0 at all, not even as
  /// character references, so they are written visibly as `\u{1B}`; so are
  /// U+FFFE and U+FFFF. In attributes, tab and newlines become character
  /// references so attribute-value normalization does not turn them into
  /// spaces; carriage returns do everywhere, since parsers fold them away.
  static func escaped(_ text: String, inAttribute: Bool = false) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
      switch scalar {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&apos;"
      case "\r": out += "&#13;"
      case "\n", "\t": out += inAttribute ? "&#\(scalar.value);" : String(scalar)
      case "\u{0}"..."\u{1F}", "\u{FFFE}", "\u{FFFF}": out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
      case "\u{7F}"..."\u{9F}": out += "&#x\(String(scalar.value, radix: 16, uppercase: true));"
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out
  }
}
