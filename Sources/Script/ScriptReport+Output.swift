import Foundation
import Inspect
import X86Paging

extension StepReport {
  /// An out-parameter's value as a person reads it: PAGE_* and MEM_* names
  /// where the value is one, hex otherwise.
  static func describe(_ value: UInt64, _ kind: OutputKind) -> String {
    let low = UInt32(truncatingIfNeeded: value)
    switch kind {
    case .number, .handle: return hex(value)
    case .protection: return NtNames.describeFlags(low, NtNames.protections)
    case .regionState: return NtNames.describeFlags(low, NtNames.regionStates)
    case .regionType: return value == 0 ? "0" : NtNames.describeFlags(low, NtNames.regionTypes)
    case .createResult: return NtNames.createResults.first { UInt64($0.value) == value }?.name ?? hex(value)
    case .boolean: return value == 0 ? "FALSE" : "TRUE"
    case .sectionAttributes: return value == 0 ? "0" : NtNames.describeFlags(low, NtNames.sectionAttributes)
    }
  }

  /// "STATUS_SUCCESS" or "STATUS_A or STATUS_B".
  public var expectText: String? { expect.map { $0.map(NtNames.describeStatus).joined(separator: " or ") } }

  /// The step on one line: index, call, status, what was expected, out-parameters, guest time.
  var line: String {
    var words = ["#\(index)", call + (checkpointName.map { " \"\($0)\"" } ?? "")]
    words.append(status.map(NtNames.describeStatus) ?? "(not run)")
    if let expectText, let status, let expect, !expect.contains(status) { words.append("expected \(expectText)") }
    words += outputs.map { "\($0.name)=\(Self.describe($0.value, $0.kind))" }
    if let guestMicroseconds { words.append("(\(String(format: "%.1f", guestMicroseconds)) µs)") }
    let mark: String =
      switch verdict {
      case .passed: "ok  "
      case .failed: "FAIL"
      case .reported: "    "
      case .notRun: "----"
      }
    return mark + " " + words.joined(separator: "  ")
  }

  var json: [String: Any] {
    var object: [String: Any] = [
      "index": index, "call": call, "verdict": verdict.rawValue, "violations": violations,
      "outputs": Dictionary(uniqueKeysWithValues: outputs.map { ($0.name, hex($0.value)) }),
    ]
    if let status { object["status"] = NtNames.describeStatus(status) }
    if let expect { object["expect"] = expect.map(NtNames.describeStatus) }
    if let guestMicroseconds { object["guestMicroseconds"] = guestMicroseconds }
    if let checkpointName { object["name"] = checkpointName }
    return object
  }
}

extension ScriptReport {
  /// One line per step, its violations under it, and the summary line.
  public var text: String {
    var lines = ["platform: \(platform)"]
    for step in steps {
      lines.append(step.line)
      lines += step.violations.map { "       violation: \($0)" }
    }
    lines += problems.map { "problem: \($0)" }
    if let firstBrokenStep { lines.append("first step after which an invariant broke: #\(firstBrokenStep)") }
    lines.append(summaryLine)
    return lines.joined(separator: "\n") + "\n"
  }

  /// "script: 12 steps, 11 passed, 1 failed, 0 reported, 0 not run in 0.4 s".
  public var summaryLine: String {
    "script: \(steps.count) steps, \(passed) passed, \(failed) failed, \(reported) reported, \(notRun) not run"
      + " in \(String(format: "%.2f", seconds)) s" + (exitStatus.map { $0 == 0 ? "" : " (guest exit \($0))" } ?? "")
  }

  /// The report for programs.
  public var json: String {
    var object: [String: Any] = [
      "platform": platform, "steps": steps.map(\.json), "problems": problems, "seconds": seconds,
      "passed": passed, "failed": failed, "reported": reported, "notRun": notRun, "succeeded": succeeded,
    ]
    if let exitStatus { object["exitStatus"] = Int(exitStatus) }
    if let firstBrokenStep { object["firstBrokenStep"] = firstBrokenStep }
    return renderJSON(object)
  }
}
