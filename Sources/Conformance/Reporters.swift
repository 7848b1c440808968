import Foundation

/// The formats `mmlab conformance --format` writes. Text is for a person;
/// JSON for programs; JUnit and TAP for the CI systems users run the suite in
/// (GitHub Actions and GitLab read JUnit; TAP harnesses read TAP).
public enum ReportFormat: String, CaseIterable, Sendable {
  case text
  case json
  case junit
  case tap
}

/// The report in `format`, ending with a newline. Every format is a pure
/// function of the report, so two runs with the same results print the same.
public func render(_ report: ConformanceReport, as format: ReportFormat) -> String {
  switch format {
  case .text: return TextReporter.render(report)
  case .json: return JSONReporter.render(report)
  case .junit: return JUnitReporter.render(report)
  case .tap: return TAPReporter.render(report)
  }
}

extension FamilyResult {
  /// The family's expected failures by erratum, most cases first (exact:
  /// every expected failure is recorded with its erratum).
  public var expectedFailuresByErratum: [(erratum: String, cases: Int)] {
    expectedByErratum.filter { $0.value > 0 }.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
      .map { ($0.key, $0.value) }
  }

  /// Skipped cases by reason, most cases first.
  public var skipsByReason: [(reason: String, cases: Int)] {
    skippedByReason.filter { $0.value > 0 }.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
      .map { ($0.key, $0.value) }
  }

  /// The bucket for an expected failure recorded without its erratum.
  public static let unattributedErratum = "(erratum not recorded)"

  /// The kept mismatches no erratum explains (the real failures).
  var failedMismatches: [Mismatch] { mismatches.filter { $0.erratum == nil } }

  /// The first kept mismatch explained by `erratum`, as an example.
  func example(of erratum: String) -> Mismatch? { mismatches.first { $0.erratum == erratum } }
}

extension ConformanceReport {
  /// The suites to report, in order: the ones asked for, then any others the
  /// families name (a merged shard may bring one in).
  var reportedSuites: [ConformanceSuite] {
    var suites = self.suites
    for family in families where !suites.contains(family.suite) { suites.append(family.suite) }
    return suites
  }

  /// Expected failures over the whole run by erratum, with the families that
  /// show each, most cases first.
  var expectedFailuresByErratum: [(erratum: String, cases: Int, families: [FamilyResult])] {
    var cases: [String: Int] = [:]
    var families: [String: [FamilyResult]] = [:]
    for family in self.families {
      for (erratum, count) in family.expectedFailuresByErratum {
        cases[erratum, default: 0] += count
        families[erratum, default: []].append(family)
      }
    }
    return cases.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { ($0.key, $0.value, families[$0.key]!) }
  }
}

/// Number formatting shared by the reporters: fixed (not the user's locale),
/// so reports compare equal across machines and CI logs stay greppable.
enum ReportNumbers {
  /// 1234567 -> "1,234,567".
  static func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, digit) in digits.enumerated() {
      if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
      out.append(digit)
    }
    return value < 0 ? "-" + out : out
  }

  /// A rounded, grouped whole number; 0 for a value that is not finite.
  static func grouped(_ value: Double) -> String {
    guard value.isFinite, value.magnitude < 9e18 else { return "0" }
    return grouped(Int(value.rounded()))
  }

  /// `value` with `places` decimals and a "." point, e.g. 42.1.
  static func fixed(_ value: Double, places: Int) -> String {
    guard value.isFinite else { return "0" }
    return String(format: "%.\(places)f", value)
  }

  /// "1 case" or "2 cases": for a person.
  static func cases(_ count: Int) -> String {
    count == 1 ? "1 case" : "\(grouped(count)) cases"
  }
}
