import Reporting

/// TAP version 13: one test point per family, for TAP harnesses.
///
/// The directives carry the verdicts TAP has words for: a family whose only
/// problems are errata is `not ok ... # TODO` (TODO is TAP's "expected to
/// fail", which harnesses do not count as a failure), a family with nothing
/// run is `ok ... # SKIP reason`. Failed and TODO points carry a YAML
/// diagnostic block with their mismatches.
enum TAPReporter {
  static func render(_ report: ConformanceReport) -> String {
    var header = ["platform: \(report.platform)"]
    if let shard = report.shard { header.append("shard: \(shard)") }
    // A harness reads "Bail out!" as a failed run: one that tested nothing.
    return TAPDocument(
      header: header, points: report.families.map(testPoint), emptyReason: "no cases were run",
      bailOut: report.nothingTested, footer: TextReporter.summaryLine(report)
    ).render()
  }

  /// The test point of one family and, for failed and TODO points, its YAML block.
  static func testPoint(_ family: FamilyResult) -> TAPDocument.Point {
    switch family.verdict {
    case .passed:
      var note = ReportNumbers.cases(family.passed)
      for (reason, cases) in family.skipsByReason {
        note += ", \(ReportNumbers.grouped(cases)) skipped: \(TAPDocument.oneLine(reason))"
      }
      return TAPDocument.Point(ok: true, description: family.name, directive: note)
    case .skipped:
      return TAPDocument.Point(
        ok: true, description: family.name, directive: "SKIP " + JUnitReporter.skipMessage(family))
    case .expectedFailure:
      let errata = family.expectedFailuresByErratum.map(\.erratum)
      let label = errata.count == 1 ? "erratum" : "errata"
      let count = ReportNumbers.grouped(family.expectedFailures)
      let explanation = "\(count) of \(ReportNumbers.cases(family.total)) fail as documented"
      let examples = errata.compactMap { family.example(of: $0) }
      return TAPDocument.Point(
        ok: false, description: family.name,
        directive: "TODO \(label) \(errata.joined(separator: ", ")): \(explanation)",
        diagnostics: diagnostics(family, message: explanation, severity: "todo", mismatches: examples))
    case .failed:
      let message = "\(ReportNumbers.grouped(family.failed)) of \(ReportNumbers.cases(family.total)) failed"
      return TAPDocument.Point(
        ok: false, description: family.name,
        diagnostics: diagnostics(family, message: message, severity: "fail", mismatches: family.failedMismatches))
    }
  }

  /// The YAML block's lines (the document indents them and adds "---" and "...").
  static func diagnostics(
    _ family: FamilyResult, message: String, severity: String, mismatches: [Mismatch]
  ) -> [String] {
    let yaml = TAPDocument.yaml
    var lines = [
      "message: \(yaml(message))",
      "severity: \(severity)",
      "data:",
      "  suite: \(family.suite.rawValue)",
      "  passed: \(family.passed)",
      "  failed: \(family.failed)",
      "  expectedFailures: \(family.expectedFailures)",
      "  skipped: \(family.skipped)",
      "  seconds: \(ReportNumbers.fixed(family.seconds, places: 3))",
    ]
    if !mismatches.isEmpty { lines.append("mismatches:") }
    for mismatch in mismatches {
      lines.append("  - case: \(yaml(mismatch.caseDescription))")
      lines.append("    expected: \(yaml(mismatch.expected))")
      lines.append("    observed: \(yaml(mismatch.observed))")
      if let erratum = mismatch.erratum { lines.append("    erratum: \(yaml(erratum))") }
    }
    if severity == "fail" && family.failed > mismatches.count {
      lines.append("notKept: \(family.failed - mismatches.count)")
    }
    return lines
  }
}
