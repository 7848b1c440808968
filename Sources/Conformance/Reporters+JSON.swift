import Foundation

/// The report for programs: the Codable report itself (so it decodes back as
/// a `ConformanceReport`) plus the totals at the top level, so a CI step can
/// read `.succeeded` or `.failed` without summing families.
enum JSONReporter {
  static func render(_ report: ConformanceReport) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    // A report must always print; a non-finite time is written as a string
    // rather than failing the whole report.
    encoder.nonConformingFloatEncodingStrategy = .convertToString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    guard let data = try? encoder.encode(Document(report: report)), let text = String(data: data, encoding: .utf8)
    else {
      preconditionFailure("JSONReporter: the report could not be encoded")
    }
    return text + "\n"
  }

  /// The top-level object. Every key is always present (`shard` is null for a
  /// whole run), so consumers see one schema.
  struct Document: Encodable {
    var report: ConformanceReport

    enum CodingKeys: String, CodingKey {
      case platform, suites, shard, families, seconds, attempts, cpu
      case passed, failed, expectedFailures, skipped, total, casesPerSecond, succeeded, nothingTested
      case expectedFailuresByErratum
    }

    func encode(to encoder: any Encoder) throws {
      var container = encoder.container(keyedBy: CodingKeys.self)
      try container.encode(report.platform, forKey: .platform)
      try container.encode(report.suites, forKey: .suites)
      try container.encode(report.shard, forKey: .shard)
      try container.encode(report.families, forKey: .families)
      try container.encode(report.seconds, forKey: .seconds)
      try container.encode(report.attempts, forKey: .attempts)
      try container.encode(report.cpu, forKey: .cpu)
      try container.encode(report.passed, forKey: .passed)
      try container.encode(report.failed, forKey: .failed)
      try container.encode(report.expectedFailures, forKey: .expectedFailures)
      try container.encode(report.skipped, forKey: .skipped)
      try container.encode(report.total, forKey: .total)
      try container.encode(report.casesPerSecond, forKey: .casesPerSecond)
      try container.encode(report.succeeded, forKey: .succeeded)
      try container.encode(report.nothingTested, forKey: .nothingTested)
      let byErratum = Dictionary(uniqueKeysWithValues: report.expectedFailuresByErratum.map { ($0.erratum, $0.cases) })
      try container.encode(byErratum, forKey: .expectedFailuresByErratum)
    }
  }
}
