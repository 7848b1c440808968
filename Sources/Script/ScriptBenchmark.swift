import Dispatch
import Foundation
import Inspect

/// `mmlab bench`'s figures for scripts: steps per second for a long script of
/// cheap calls; what a step costs beyond its call (the interpreter's decoding
/// and the host's batches) beside the platform's port-exit floor; the system
/// call's own entry and exit; and what `--validate every-step` adds per step.
///
/// A step's guest time is what the interpreter measures at CPL 3 around the
/// call, so it includes the system call's way into the kernel and back, as a
/// user program calling NT pays it. The interpreter's overhead is the rest of
/// the wall time: a run of the same script without the steps is subtracted
/// (boot and exit), and the guest time of every step.
public struct ScriptBenchmark: Sendable {
  /// Steps of the cheap-call scripts.
  public var steps: Int
  /// Per repetition: wall seconds of the NtQueryVirtualMemory script, of the
  /// same script without the queries, and the queries' mean guest microseconds.
  public var querySeconds: [Double]
  public var baselineSeconds: [Double]
  public var queryGuestMeanMicroseconds: [Double]
  /// Median guest microseconds of one NtQueryVirtualMemory step (the last repetition).
  public var queryGuestMicroseconds: Double
  /// Median guest microseconds of a call refused at the handle check, run
  /// with no stops: the system call's entry and exit and little else.
  public var systemCallMicroseconds: Double
  /// Steps validated one by one, and the seconds with and without that.
  public var everyStepSteps: Int
  public var everyStepSeconds: Double
  public var checkpointSeconds: Double
  public var memoryMiB: Int

  static func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
  }

  /// Wall microseconds per query step, boot and exit taken out (median of the repetitions).
  public var stepMicroseconds: Double {
    Self.median(zip(querySeconds, baselineSeconds).map { ($0 - $1) * 1e6 / Double(steps) })
  }
  public var queryStepsPerSecond: Double { 1e6 / max(stepMicroseconds, 1e-9) }
  /// Microseconds per step that are not the call: the interpreter and the host
  /// (median over the repetitions of wall per step minus the mean call).
  public var interpreterMicroseconds: Double {
    Self.median(
      querySeconds.indices.map {
        (querySeconds[$0] - baselineSeconds[$0]) * 1e6 / Double(steps) - queryGuestMeanMicroseconds[$0]
      })
  }
  /// Milliseconds `--validate every-step` adds to a step.
  public var everyStepMilliseconds: Double {
    (everyStepSeconds - checkpointSeconds) * 1e3 / Double(max(everyStepSteps, 1))
  }
  /// The target: the interpreter's overhead per call at most this many port-exit round trips.
  public static let overheadTargetRatio = 2.0
  public static let repetitions = 3

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

  /// Runs `text`: its wall seconds, and the median and mean guest microseconds of its steps after the setup.
  static func time(_ text: String, boot: BootOptions, policy: ValidationPolicy) throws -> (Double, Double, Double) {
    let script = try Script.parse(text)
    let runner = ScriptRunner(script: script, options: ScriptOptions(boot: boot, validation: policy))
    let start = DispatchTime.now()
    let report = try runner.run()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    guard report.succeeded else {
      throw SessionError.inspection("the bench's script did not pass: \(report.summaryLine)")
    }
    let guest = report.steps.dropFirst(2).compactMap(\.guestMicroseconds).sorted()
    guard !guest.isEmpty else { return (seconds, 0, 0) }
    return (seconds, guest[guest.count / 2], guest.reduce(0, +) / Double(guest.count))
  }

  /// Measures every figure on `boot`'s backend.
  public static func measure(boot: BootOptions, steps: Int = 10_000, everyStepSteps: Int = 300) throws
    -> ScriptBenchmark
  {
    var query: [Double] = []
    var baseline: [Double] = []
    var mean: [Double] = []
    var median = 0.0
    for _ in 0..<repetitions {
      baseline.append(try time(queries(0, handle: #""A""#), boot: boot, policy: .checkpoints).0)
      let (seconds, queryMedian, queryMean) = try time(
        queries(steps, handle: #""A""#), boot: boot, policy: .checkpoints)
      query.append(seconds)
      mean.append(queryMean)
      median = queryMedian
    }
    let (_, systemCall, _) = try time(queries(steps, handle: "4"), boot: boot, policy: .checkpointsOnly)
    let short = queries(everyStepSteps, handle: #""A""#)
    let (checkpoints, _, _) = try time(short, boot: boot, policy: .checkpoints)
    let (every, _, _) = try time(short, boot: boot, policy: .everyStep)
    return ScriptBenchmark(
      steps: steps, querySeconds: query, baselineSeconds: baseline, queryGuestMeanMicroseconds: mean,
      queryGuestMicroseconds: median, systemCallMicroseconds: systemCall, everyStepSteps: everyStepSteps,
      everyStepSeconds: every, checkpointSeconds: checkpoints, memoryMiB: boot.memoryMiB)
  }
}

extension ScriptBenchmark {
  /// The lines `mmlab bench` prints, the floors of the same run beside them.
  public func text(portExitMicroseconds: Double?, userTrapMicroseconds: Double?) -> String {
    let exit = portExitMicroseconds.map { String(format: "%.1f µs", $0) } ?? "unknown"
    var verdict = ""
    if let portExitMicroseconds, portExitMicroseconds > 0 {
      let ratio = interpreterMicroseconds / portExitMicroseconds
      verdict = String(
        format: " = %.2fx the port exit (%@); target <= %.0fx: %@", ratio, exit, Self.overheadTargetRatio,
        ratio <= Self.overheadTargetRatio ? "met" : "NOT met")
    }
    let trap = userTrapMicroseconds.map {
      String(format: ", beside the bare #PF round trip from user mode %.1f µs", $0)
    }
    return [
      String(
        format:
          "script, %d NtQueryVirtualMemory steps (--validate checkpoints, median of %d runs): %.0f steps/s, %.1f µs a step",
        steps, querySeconds.count, queryStepsPerSecond, stepMicroseconds),
      String(
        format: "  the call from user mode, system call included: mean %.1f µs, median %.1f µs",
        Self.median(queryGuestMeanMicroseconds), queryGuestMicroseconds),
      String(
        format: "  the rest (the interpreter at CPL 3, the host's batches): %.1f µs a step", interpreterMicroseconds)
        + verdict,
      String(
        format: "  the system call's entry and exit (%d calls refused at the handle check, no stops): median %.1f µs",
        steps, systemCallMicroseconds) + (trap ?? ""),
      String(
        format: "  --validate every-step, %d MiB guest: %.2f ms more per step (%d steps: %.2f s against %.2f s)",
        memoryMiB, everyStepMilliseconds, everyStepSteps, everyStepSeconds, checkpointSeconds),
    ].joined(separator: "\n") + "\n"
  }

  public var json: [String: Any] {
    [
      "steps": steps, "querySeconds": querySeconds, "baselineSeconds": baselineSeconds,
      "queryStepsPerSecond": queryStepsPerSecond, "stepMicroseconds": stepMicroseconds,
      "queryGuestMeanMicroseconds": queryGuestMeanMicroseconds, "queryGuestMicroseconds": queryGuestMicroseconds,
      "interpreterMicroseconds": interpreterMicroseconds, "systemCallMicroseconds": systemCallMicroseconds,
      "everyStepSteps": everyStepSteps, "everyStepMilliseconds": everyStepMilliseconds, "memoryMiB": memoryMiB,
      "overheadTargetRatio": Self.overheadTargetRatio,
    ]
  }
}
