import Dispatch
import Foundation
import Inspect

/// `mmlab bench`'s figures for scripts: steps per second for a long script of
/// cheap calls, the interpreter's own cost per call beside the platform's
/// port-exit floor, and what `--validate every-step` adds per step.
public struct ScriptBenchmark: Sendable {
  /// Steps of the cheap-call scripts.
  public var steps: Int
  /// Wall seconds for the NtQueryVirtualMemory script (boot and exit included).
  public var querySeconds: Double
  /// Median guest microseconds of one NtQueryVirtualMemory step.
  public var queryGuestMicroseconds: Double
  /// Wall seconds for the same number of steps that fail at the handle check:
  /// the interpreter's cost with no Mm work in it.
  public var invalidHandleSeconds: Double
  public var invalidHandleGuestMicroseconds: Double
  /// Steps validated one by one, and the seconds with and without that.
  public var everyStepSteps: Int
  public var everyStepSeconds: Double
  public var checkpointSeconds: Double
  public var memoryMiB: Int

  public var queryStepsPerSecond: Double { Double(steps) / max(querySeconds, 1e-9) }
  /// Microseconds per step of the interpreter alone (wall time of the invalid-handle script).
  public var interpreterMicroseconds: Double { invalidHandleSeconds * 1e6 / Double(steps) }
  /// Milliseconds `--validate every-step` adds to a step.
  public var everyStepMilliseconds: Double {
    (everyStepSeconds - checkpointSeconds) * 1e3 / Double(max(everyStepSteps, 1))
  }
  /// The target: the interpreter's overhead per call at most this many port-exit round trips.
  public static let overheadTargetRatio = 2.0

  /// A script: one process with a reserved MiB, then `count` queries through `handle`.
  static func queries(_ count: Int, handle: String) -> String {
    let query =
      #"{"call": "NtQueryVirtualMemory", "ProcessHandle": \#(handle), "BaseAddress": "0x10000000", "#
      + #""MemoryInformationClass": "MemoryBasicInformation", "expect": "#
      + (handle == #""A""# ? #""STATUS_SUCCESS"}"# : #""STATUS_INVALID_HANDLE"}"#)
    let setup = [
      #"{"call": "CreateProcess", "as": "A"}"#,
      #"{"call": "NtAllocateVirtualMemory", "ProcessHandle": "A", "BaseAddress": "0x10000000", "ZeroBits": 0, "RegionSize": "1MiB", "AllocationType": "MEM_RESERVE", "Protect": "PAGE_READWRITE"}"#,
    ]
    return #"{"steps": ["# + (setup + Array(repeating: query, count: count)).joined(separator: ",\n") + "]}"
  }

  /// Runs `text` and returns its wall seconds and the median guest time of its steps after the setup.
  static func time(_ text: String, boot: BootOptions, policy: ValidationPolicy) throws -> (Double, Double) {
    let script = try Script.parse(text)
    let start = DispatchTime.now()
    let report = try ScriptRunner(script: script, options: ScriptOptions(boot: boot, validation: policy)).run()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    guard report.succeeded else {
      throw SessionError.inspection("the bench's script did not pass: \(report.summaryLine)")
    }
    let guest = report.steps.dropFirst(2).compactMap(\.guestMicroseconds).sorted()
    return (seconds, guest.isEmpty ? 0 : guest[guest.count / 2])
  }

  /// Measures every figure on `boot`'s backend.
  public static func measure(boot: BootOptions, steps: Int = 10_000, everyStepSteps: Int = 300) throws
    -> ScriptBenchmark
  {
    let (query, queryGuest) = try time(queries(steps, handle: #""A""#), boot: boot, policy: .checkpoints)
    let (invalid, invalidGuest) = try time(queries(steps, handle: "4"), boot: boot, policy: .checkpoints)
    let short = queries(everyStepSteps, handle: #""A""#)
    let (checkpoints, _) = try time(short, boot: boot, policy: .checkpoints)
    let (every, _) = try time(short, boot: boot, policy: .everyStep)
    return ScriptBenchmark(
      steps: steps, querySeconds: query, queryGuestMicroseconds: queryGuest, invalidHandleSeconds: invalid,
      invalidHandleGuestMicroseconds: invalidGuest, everyStepSteps: everyStepSteps, everyStepSeconds: every,
      checkpointSeconds: checkpoints, memoryMiB: boot.memoryMiB)
  }

  /// The lines `mmlab bench` prints, the port-exit floor of the same run beside them.
  public func text(portExitMicroseconds: Double?) -> String {
    let exit = portExitMicroseconds.map { String(format: "%.1f µs", $0) } ?? "unknown"
    var verdict = ""
    if let portExitMicroseconds, portExitMicroseconds > 0 {
      let ratio = interpreterMicroseconds / portExitMicroseconds
      verdict = String(
        format: " = %.2fx the port exit; target <= %.0fx: %@", ratio, Self.overheadTargetRatio,
        ratio <= Self.overheadTargetRatio ? "met" : "NOT met")
    }
    return [
      String(
        format:
          "script, %d NtQueryVirtualMemory steps (--validate checkpoints): %.2f s = %.0f steps/s; the guest's median per query %.1f µs",
        steps, querySeconds, queryStepsPerSecond, queryGuestMicroseconds),
      String(
        format:
          "  interpreter alone (%d steps refused at the handle check): %.1f µs per step, %.1f µs of it in the guest; port exit %@",
        steps, interpreterMicroseconds, invalidHandleGuestMicroseconds, exit) + verdict,
      String(
        format: "  --validate every-step, %d MiB guest: %.2f ms more per step (%d steps: %.2f s against %.2f s)",
        memoryMiB, everyStepMilliseconds, everyStepSteps, everyStepSeconds, checkpointSeconds),
    ].joined(separator: "\n") + "\n"
  }

  public var json: [String: Any] {
    [
      "steps": steps, "querySeconds": querySeconds, "queryStepsPerSecond": queryStepsPerSecond,
      "queryGuestMicroseconds": queryGuestMicroseconds, "interpreterMicroseconds": interpreterMicroseconds,
      "invalidHandleGuestMicroseconds": invalidHandleGuestMicroseconds, "everyStepSteps": everyStepSteps,
      "everyStepMilliseconds": everyStepMilliseconds, "memoryMiB": memoryMiB,
      "overheadTargetRatio": Self.overheadTargetRatio,
    ]
  }
}
