import Reporting

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
    let suites = report.reportedSuites.map { suite in
      let families = report.families.filter { $0.suite == suite }
      var properties = [(name: "platform", value: report.platform)]
      if let shard = report.shard { properties.append(("shard", shard)) }
      return JUnitDocument.Suite(
        name: suite.rawValue, properties: properties, cases: families.map(testCase),
        seconds: families.reduce(0) { $0 + $1.seconds })
    }
    return JUnitDocument(name: "mmlab conformance", suites: suites, seconds: report.seconds).render()
  }

  /// One family as a test case: failed when a case failed, skipped when none ran.
  static func testCase(_ family: FamilyResult) -> JUnitDocument.TestCase {
    let outcome: JUnitDocument.TestCase.Outcome
    switch family.verdict {
    case .failed:
      let message = "\(ReportNumbers.grouped(family.failed)) of \(ReportNumbers.grouped(family.total)) cases failed"
      outcome = .failed(message: message, type: "mismatch", body: failureText(family))
    case .skipped: outcome = .skipped(message: skipMessage(family))
    case .passed, .expectedFailure: outcome = .passed
    }
    return JUnitDocument.TestCase(
      classname: "conformance.\(family.suite.rawValue)", name: family.name, seconds: family.seconds, outcome: outcome,
      systemOut: notes(family))
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
}
