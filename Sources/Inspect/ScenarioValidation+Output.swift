extension ScenarioValidation {
  /// Per checkpoint: clean, or each violation on a line of its own.
  public var text: String {
    var lines = [
      "# boot only, on \(platform)"
    ]
    for result in checkpoints {
      let report = result.report
      if report.isClean {
        lines.append(
          "checkpoint \"\(result.checkpoint.name)\": clean (\(report.accountedLeaves) leaves, \(report.tablesFound) tables)"
        )
      } else {
        lines.append("checkpoint \"\(result.checkpoint.name)\": \(report.violationCount) violations")
        for violation in report.violations { lines.append("  \(violation)") }
      }
    }
    var end = "guest exited with status \(exitStatus)"
    if let exception { end += "; it reported \(exception.summary)" }
    lines.append(end)
    lines.append(passed ? "PASS" : "FAIL")
    return lines.joined(separator: "\n") + "\n"
  }

  public var json: [String: Any] {
    var object: [String: Any] = [
      "passed": passed, "exitStatus": Int(exitStatus), "platform": platform.jsonObject,
      "checkpoints": checkpoints.map { result -> [String: Any] in
        [
          "name": result.checkpoint.name, "clean": result.report.isClean,
          "violationCount": result.report.violationCount,
          "violations": result.report.violations.map { $0.json },
        ]
      },
    ]
    if let exception { object["exception"] = exception.summary }
    return object
  }
}
