/// The summary for a person: what ran where, what failed and why, and one
/// final line a CI log can be grepped for.
enum TextReporter {
  /// Failed cases shown per family; the JSON report has every kept one.
  static let mismatchesShown = 10

  static func render(_ report: ConformanceReport) -> String {
    var lines = ["platform: \(report.platform)"]
    if !report.cpu.isEmpty { lines.append("cpu: \(report.cpu)") }
    if let shard = report.shard { lines.append("shard: \(shard)") }
    lines += report.reportedSuites.map { suiteLine($0, report: report) }
    lines += failedSection(report)
    lines += expectedSection(report)
    lines += skippedSection(report)
    if let nothing = report.nothingTested { lines.append("nothing tested: \(nothing)") }
    lines.append(summaryLine(report))
    return lines.joined(separator: "\n") + "\n"
  }

  /// "paging: 1,000 passed, 2 failed, ... (120 families, 3.2 s)".
  static func suiteLine(_ suite: ConformanceSuite, report: ConformanceReport) -> String {
    let families = report.families.filter { $0.suite == suite }
    guard !families.isEmpty else { return "\(suite.rawValue): no cases" }
    let seconds = families.reduce(0) { $0 + $1.seconds }
    let count = families.count == 1 ? "1 family" : "\(ReportNumbers.grouped(families.count)) families"
    return "\(suite.rawValue): " + counts(families) + " (\(count), \(ReportNumbers.fixed(seconds, places: 1)) s)"
  }

  /// The four counts in the words the summary line uses.
  static func counts(_ families: [FamilyResult]) -> String {
    func sum(_ key: KeyPath<FamilyResult, Int>) -> String {
      ReportNumbers.grouped(families.reduce(0) { $0 + $1[keyPath: key] })
    }
    return "\(sum(\.passed)) passed, \(sum(\.failed)) failed, \(sum(\.expectedFailures)) expected failures, "
      + "\(sum(\.skipped)) skipped"
  }

  /// Every failed family with the mismatches that make it fail.
  static func failedSection(_ report: ConformanceReport) -> [String] {
    let failed = report.families.filter { $0.failed > 0 }
    guard !failed.isEmpty else { return [] }
    var lines = ["failed families: \(ReportNumbers.grouped(failed.count))"]
    for family in failed {
      lines.append(
        "  \(family.name): \(ReportNumbers.grouped(family.failed)) of \(ReportNumbers.cases(family.total)) failed")
      let kept = family.failedMismatches
      for mismatch in kept.prefix(mismatchesShown) { lines += describe(mismatch, indent: "    ") }
      let unshown = family.failed - min(kept.count, mismatchesShown)
      if unshown > 0 { lines.append("    ... and \(ReportNumbers.grouped(unshown)) more failed") }
    }
    return lines
  }

  /// Expected failures by erratum, each with its count and one example.
  static func expectedSection(_ report: ConformanceReport) -> [String] {
    let errata = report.expectedFailuresByErratum
    guard !errata.isEmpty else { return [] }
    var lines = ["expected failures: \(ReportNumbers.cases(report.expectedFailures)) explained by errata"]
    for (erratum, cases, families) in errata {
      let location =
        families.count == 1 ? "in \(families[0].name)" : "in \(ReportNumbers.grouped(families.count)) families"
      lines.append("  \(erratum): \(ReportNumbers.cases(cases)) \(location)")
      let examples = families.lazy.compactMap { family in family.example(of: erratum).map { (family, $0) } }
      if let (family, example) = examples.first {
        lines.append("    e.g. \(family.name):")
        lines += describe(example, indent: "      ")
      }
    }
    return lines
  }

  /// Skipped cases by reason: what the CPU lacked.
  static func skippedSection(_ report: ConformanceReport) -> [String] {
    guard report.skipped > 0 else { return [] }
    return ["skipped \(ReportNumbers.cases(report.skipped)):"]
      + report.skipReasons.map { "  \($0.reason): \(ReportNumbers.grouped($0.cases))" }
  }

  /// The one line that says how the run went, e.g. "conformance: 1,234,567
  /// passed, 0 failed, 12 expected failures, 4,096 skipped in 42.1 s (29,300 cases/s)".
  static func summaryLine(_ report: ConformanceReport) -> String {
    "conformance: " + counts(report.families) + " in \(ReportNumbers.fixed(report.seconds, places: 1)) s "
      + "(\(ReportNumbers.grouped(report.casesPerSecond)) cases/s)"
  }

  /// A mismatch over three lines: the case, then what was expected and seen.
  static func describe(_ mismatch: Mismatch, indent: String) -> [String] {
    [
      indent + "case: " + oneLine(mismatch.caseDescription),
      indent + "  expected: " + oneLine(mismatch.expected),
      indent + "  observed: " + oneLine(mismatch.observed),
    ]
  }

  /// Keeps a multi-line description on its line so the layout holds, and
  /// shows control characters rather than sending them to the terminal.
  static func oneLine(_ text: String) -> String {
    var out = ""
    for scalar in text.split(whereSeparator: \.isNewline).joined(separator: " | ").unicodeScalars {
      if scalar.properties.generalCategory == .control && scalar != "\t" {
        out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
      } else {
        out.unicodeScalars.append(scalar)
      }
    }
    return out
  }
}
