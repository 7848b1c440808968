import Reporting

extension StepReport {
  /// The test's name: "#3 NtAllocateVirtualMemory".
  var testName: String { "#\(index) \(call)" + (checkpointName.map { " \($0)" } ?? "") }

  /// Why the step failed, on one line.
  var failureMessage: String {
    var parts: [String] = []
    if let status, let expect, !expect.contains(status), let expectText {
      parts.append("\(NtNames.describeStatus(status)), expected \(expectText)")
    }
    if !violations.isEmpty { parts.append("\(violations.count) violation\(violations.count == 1 ? "" : "s")") }
    return parts.joined(separator: "; ")
  }
}

extension ScriptReport {
  /// The run's own problems (the guest died, exited badly) as one more test, when there are any.
  var guestFailure: String? {
    var lines = problems
    if let exitStatus, exitStatus != 0, problems.isEmpty { lines.append("the guest exited with status \(exitStatus)") }
    if exitStatus == nil && problems.isEmpty { lines.append("the guest never reached the end of the script") }
    return lines.isEmpty ? nil : lines.joined(separator: "\n")
  }

  /// JUnit XML: one test case per step, `script` the suite's name.
  public func junit(name: String) -> String {
    var cases = steps.map { step -> JUnitDocument.TestCase in
      let outcome: JUnitDocument.TestCase.Outcome =
        switch step.verdict {
        case .passed, .reported: .passed
        case .failed:
          .failed(
            message: step.failureMessage, type: "step",
            body: (step.violations + [step.line]).joined(separator: "\n") + "\n")
        case .notRun: .skipped(message: "not run: the guest stopped before this step")
        }
      return JUnitDocument.TestCase(
        classname: "script.\(name)", name: step.testName, seconds: (step.guestMicroseconds ?? 0) / 1e6,
        outcome: outcome,
        systemOut: step.verdict == .reported ? step.line + "\n" : nil)
    }
    if let failure = guestFailure {
      cases.append(
        JUnitDocument.TestCase(
          classname: "script.\(name)", name: "guest", seconds: 0,
          outcome: .failed(
            message: failure.split(separator: "\n").first.map(String.init) ?? "", type: "guest", body: failure + "\n")))
    }
    let suite = JUnitDocument.Suite(
      name: name, properties: [("platform", platform)], cases: cases, seconds: seconds)
    return JUnitDocument(name: "mmlab script", suites: [suite], seconds: seconds).render()
  }

  /// TAP 13: one point per step (a step without "expect" is a plain ok).
  public func tap() -> String {
    var points = steps.map { step -> TAPDocument.Point in
      let yaml = TAPDocument.yaml
      switch step.verdict {
      case .passed: return TAPDocument.Point(ok: true, description: step.testName)
      case .reported:
        return TAPDocument.Point(
          ok: true, description: step.testName, directive: step.status.map(NtNames.describeStatus))
      case .notRun:
        return TAPDocument.Point(
          ok: true, description: step.testName, directive: "SKIP not run: the guest stopped before this step")
      case .failed:
        var lines = ["message: \(yaml(step.failureMessage))", "severity: fail", "step: \(yaml(step.line))"]
        if !step.violations.isEmpty { lines += ["violations:"] + step.violations.map { "  - \(yaml($0))" } }
        return TAPDocument.Point(ok: false, description: step.testName, diagnostics: lines)
      }
    }
    if let failure = guestFailure {
      points.append(
        TAPDocument.Point(ok: false, description: "guest", diagnostics: ["message: \(TAPDocument.yaml(failure))"]))
    }
    return TAPDocument(
      header: ["platform: \(platform)"], points: points, emptyReason: "no steps", footer: summaryLine
    ).render()
  }
}
