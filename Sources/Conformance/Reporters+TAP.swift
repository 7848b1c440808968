/// TAP version 13: one test point per family, for TAP harnesses.
///
/// The directives carry the verdicts TAP has words for: a family whose only
/// problems are errata is `not ok ... # TODO` (TODO is TAP's "expected to
/// fail", which harnesses do not count as a failure), a family with nothing
/// run is `ok ... # SKIP reason`. Failed and TODO points carry a YAML
/// diagnostic block with their mismatches.
enum TAPReporter {
  static func render(_ report: ConformanceReport) -> String {
    var lines = ["TAP version 13", "# platform: \(oneLine(report.platform))"]
    if let shard = report.shard { lines.append("# shard: \(oneLine(shard))") }
    lines.append(report.families.isEmpty ? "1..0 # SKIP no cases were run" : "1..\(report.families.count)")
    for (index, family) in report.families.enumerated() {
      lines += testPoint(family, number: index + 1)
    }
    // A harness reads "Bail out!" as a failed run: one that tested nothing.
    if let nothing = report.nothingTested { lines.append("Bail out! \(oneLine(nothing))") }
    lines.append("# " + TextReporter.summaryLine(report))
    return lines.joined(separator: "\n") + "\n"
  }

  /// The test line and, for failed and TODO points, its YAML block.
  static func testPoint(_ family: FamilyResult, number: Int) -> [String] {
    let point = "\(number) - \(description(family.name))"
    switch family.verdict {
    case .passed:
      var note = ReportNumbers.cases(family.passed)
      for (reason, cases) in family.skipsByReason {
        note += ", \(ReportNumbers.grouped(cases)) skipped: \(oneLine(reason))"
      }
      return ["ok \(point) # \(note)"]
    case .skipped:
      return ["ok \(point) # SKIP \(oneLine(JUnitReporter.skipMessage(family)))"]
    case .expectedFailure:
      let errata = family.expectedFailuresByErratum.map(\.erratum)
      let label = errata.count == 1 ? "erratum" : "errata"
      let count = ReportNumbers.grouped(family.expectedFailures)
      let explanation = "\(count) of \(ReportNumbers.cases(family.total)) fail as documented"
      let examples = errata.compactMap { family.example(of: $0) }
      return ["not ok \(point) # TODO \(label) \(oneLine(errata.joined(separator: ", "))): \(explanation)"]
        + diagnostics(family, message: explanation, severity: "todo", mismatches: examples)
    case .failed:
      let message = "\(ReportNumbers.grouped(family.failed)) of \(ReportNumbers.cases(family.total)) failed"
      let failed = family.failedMismatches
      return ["not ok \(point)"] + diagnostics(family, message: message, severity: "fail", mismatches: failed)
    }
  }

  /// The YAML block: indented two spaces, between "---" and "...".
  static func diagnostics(
    _ family: FamilyResult, message: String, severity: String, mismatches: [Mismatch]
  ) -> [String] {
    var lines = [
      "  ---",
      "  message: \(yaml(message))",
      "  severity: \(severity)",
      "  data:",
      "    suite: \(family.suite.rawValue)",
      "    passed: \(family.passed)",
      "    failed: \(family.failed)",
      "    expectedFailures: \(family.expectedFailures)",
      "    skipped: \(family.skipped)",
      "    seconds: \(ReportNumbers.fixed(family.seconds, places: 3))",
    ]
    if !mismatches.isEmpty { lines.append("  mismatches:") }
    for mismatch in mismatches {
      lines.append("    - case: \(yaml(mismatch.caseDescription))")
      lines.append("      expected: \(yaml(mismatch.expected))")
      lines.append("      observed: \(yaml(mismatch.observed))")
      if let erratum = mismatch.erratum { lines.append("      erratum: \(yaml(erratum))") }
    }
    if severity == "fail" && family.failed > mismatches.count {
      lines.append("  notKept: \(family.failed - mismatches.count)")
    }
    return lines + ["  ..."]
  }

  /// A test point description: one line, and a literal "#" escaped so it is
  /// not read as the start of a directive.
  static func description(_ name: String) -> String {
    oneLine(name).replacingOccurrences(of: "#", with: "\\#")
  }

  static func oneLine(_ text: String) -> String {
    text.split(whereSeparator: \.isNewline).joined(separator: " ")
  }

  /// A YAML double-quoted scalar: always quoted, so no value can be read as
  /// a number, a boolean or YAML syntax.
  static func yaml(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\\": out += "\\\\"
      case "\"": out += "\\\""
      case "\n": out += "\\n"
      case "\t": out += "\\t"
      case "\r": out += "\\r"
      case "\u{0}"..."\u{1F}", "\u{7F}"..."\u{9F}", "\u{FEFF}", "\u{FFFE}", "\u{FFFF}", "\u{2028}", "\u{2029}":
        let hex = String(scalar.value, radix: 16, uppercase: true)
        out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }
}
