import Foundation
import Synchronization

/// The campaign of `make fuzz`: every case in its own bounds, one process at a time. The
/// readers' cases run in a worker process, one after another, with a watchdog per case; a
/// case that traps or hangs ends the worker, is saved with the command that reproduces it,
/// and the next worker goes on after it. Command-line cases run `mmlab` itself, one process
/// per case.
public struct FuzzRunner {
  public var mmlab: String
  /// argv of this program's worker subcommand, without the range.
  public var worker: [String]
  public var campaign: FuzzCampaign
  public var cases: Int
  public var failures: String
  public var work: String
  public var bounds = FuzzBounds()
  public var progress: (String) -> Void = { _ in }

  public init(mmlab: String, worker: [String], campaign: FuzzCampaign, cases: Int, failures: String, work: String) {
    self.mmlab = mmlab
    self.worker = worker
    self.campaign = campaign
    self.cases = cases
    self.failures = failures
    self.work = work
  }

  public func run() -> FuzzSummary {
    var summary = FuzzSummary(cases: cases)
    let start = ContinuousClock.now
    try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    var next = 0
    while next < cases {
      next = runWorker(from: next, summary: &summary)
      progress("worker: \(next)/\(cases) cases, \(summary.failures.count) failures")
    }
    let fifo = work + "/fifo"
    unlink(fifo)
    mkfifo(fifo, 0o600)
    for index in 0..<cases where campaign.family(of: index) == .commandLine {
      runCommandLine(campaign.makeCase(index), fifo: fifo, summary: &summary)
      if index % 500 == 0 { progress("command lines: case \(index), \(summary.failures.count) failures") }
    }
    summary.seconds = seconds(ContinuousClock.now - start)
    return summary
  }

  /// One worker over [from, cases); returns where the next worker starts.
  func runWorker(from: Int, summary: inout FuzzSummary) -> Int {
    let log = work + "/worker.log"
    unlink(log)
    let result = ChildProcess.run(
      worker + ["--from", String(from), "--to", String(cases), "--log", log], seconds: 86_400,
      outputLimit: 1 << 20)
    summary.peakWorkerResidentBytes = max(summary.peakWorkerResidentBytes, result.peakResidentBytes)
    let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
    var current: Int?
    for line in lines {
      let fields = line.split(separator: " ", maxSplits: 6).map(String.init)
      guard fields.count >= 2, let index = Int(fields[1]) else { continue }
      switch fields[0] {
      case "start": current = index
      case "done" where fields.count >= 6:
        current = nil
        summary.record(
          family: campaign.family(of: index), verdict: fields[2], milliseconds: Double(fields[3]) ?? 0,
          outputBytes: Int(fields[4]) ?? 0, residentBytes: Int(fields[5]) ?? 0)
      case "fail" where fields.count >= 3:
        current = nil
        save(campaign.makeCase(index), why: fields[2...].joined(separator: " "), summary: &summary)
      default: break
      }
    }
    guard let crashed = current else { return cases }
    let why =
      result.signal.map { "the worker died of signal \($0)" }
      ?? "the worker exited \(result.exitStatus ?? -1): \(result.standardError.suffix(2000))"
    save(campaign.makeCase(crashed), why: why + "\n" + result.standardError.suffix(4000), summary: &summary)
    return crashed + 1
  }

  func runCommandLine(_ fuzzCase: FuzzCase, fifo: String, summary: inout FuzzSummary) {
    let input = work + "/input." + fuzzCase.inputExtension
    FileManager.default.createFile(atPath: input, contents: Data(fuzzCase.input))
    let arguments = [mmlab] + fuzzCase.command(input: input).map { $0 == "FIFO" ? fifo : $0 }
    let result = ChildProcess.run(arguments, seconds: bounds.seconds * 3, outputLimit: bounds.outputBytes)
    summary.peakCommandResidentBytes = max(summary.peakCommandResidentBytes, result.peakResidentBytes)
    if let why = Self.judge(result, bounds: bounds) {
      save(fuzzCase, why: why + "\nstderr:\n" + result.standardError, summary: &summary)
    } else {
      summary.record(
        family: .commandLine, verdict: "exit\(result.exitStatus ?? -1)", milliseconds: result.milliseconds,
        outputBytes: result.outputBytes, residentBytes: result.peakResidentBytes)
    }
  }

  /// What is wrong with how a command ended, if anything.
  static func judge(_ result: ChildProcess.Result, bounds: FuzzBounds) -> String? {
    if let killed = result.killedFor { return "killed: it \(killed)" }
    if let signal = result.signal { return "crashed with signal \(signal)" }
    if result.standardError.contains("Fatal error") || result.standardError.contains("Swift runtime failure") {
      return "trapped"
    }
    if result.peakResidentBytes > bounds.residentBytes { return "peak memory \(result.peakResidentBytes >> 20) MiB" }
    if let status = result.exitStatus, status != 0,
      result.standardError.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
    {
      return "exit \(status) without a word on standard error"
    }
    return nil
  }

  /// The input, the command that reproduces it and what happened, in failures/INDEX-FAMILY/.
  func save(_ fuzzCase: FuzzCase, why: String, summary: inout FuzzSummary) {
    let folder = failures + "/\(fuzzCase.index)-\(fuzzCase.family.rawValue)"
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let input = folder + "/input." + fuzzCase.inputExtension
    FileManager.default.createFile(atPath: input, contents: Data(fuzzCase.input))
    let command = ([mmlab] + fuzzCase.command(input: input)).map { "'\($0)'" }.joined(separator: " ")
    let script = """
      #!/bin/sh
      # mmlab-fuzz case \(fuzzCase.index) of seed \(campaign.seed) (\(fuzzCase.family.rawValue)): \(fuzzCase.mutation)
      # in process: \(worker.joined(separator: " ")) --from \(fuzzCase.index) --to \(fuzzCase.index + 1)
      \(command)

      """
    FileManager.default.createFile(
      atPath: folder + "/command.sh", contents: Data(script.utf8), attributes: [.posixPermissions: 0o755])
    FileManager.default.createFile(atPath: folder + "/outcome.txt", contents: Data((why + "\n").utf8))
    summary.failures.append("\(fuzzCase.index) \(fuzzCase.family.rawValue): \(why.prefix(200)) (\(folder))")
  }
}

/// The worker's side: runs cases in this process and logs each one before and after, with a
/// watchdog that ends the process if a case runs past twice its bound.
public enum FuzzWorker {
  public static func run(campaign: FuzzCampaign, range: Range<Int>, log: String, bounds: FuzzBounds = FuzzBounds()) {
    FileManager.default.createFile(atPath: log, contents: nil)
    guard let handle = FileHandle(forWritingAtPath: log) else { return }
    let scratch = NSTemporaryDirectory() + "mmlab-fuzz-\(getpid())-input"
    let started = Atomic<Int>(0)
    let watchdog = Thread {
      while true {
        Thread.sleep(forTimeInterval: 0.5)
        let since = started.load(ordering: .relaxed)
        if since != 0, Int(Date().timeIntervalSince1970) - since > Int(bounds.seconds * 2) {
          FileHandle.standardError.write(Data("hung: a case ran past \(Int(bounds.seconds * 2)) s\n".utf8))
          exit(3)
        }
      }
    }
    watchdog.start()
    for index in range where campaign.family(of: index) != .commandLine {
      let fuzzCase = campaign.makeCase(index)
      handle.write(Data("start \(index)\n".utf8))
      started.store(Int(Date().timeIntervalSince1970), ordering: .relaxed)
      let outcome = FuzzExecution.run(fuzzCase, scratch: scratch + "." + fuzzCase.inputExtension, bounds: bounds)
      started.store(0, ordering: .relaxed)
      if let failure = outcome.failure {
        handle.write(Data("fail \(index) \(failure)\n".utf8))
      } else {
        let line = "done \(index) \(outcome.verdict) \(String(format: "%.3f", outcome.milliseconds)) "
        handle.write(Data((line + "\(outcome.outputBytes) \(outcome.residentBytes)\n").utf8))
      }
    }
  }
}

/// What a campaign saw.
public struct FuzzSummary: Sendable {
  public var cases: Int
  public var seconds: Double = 0
  public var failures: [String] = []
  public var byFamily: [String: Int] = [:]
  public var verdicts: [String: Int] = [:]
  public var slowestMilliseconds: Double = 0
  public var slowest = ""
  public var largestOutputBytes = 0
  public var peakWorkerResidentBytes = 0
  public var peakCommandResidentBytes = 0

  mutating func record(family: FuzzFamily, verdict: String, milliseconds: Double, outputBytes: Int, residentBytes: Int)
  {
    byFamily[family.rawValue, default: 0] += 1
    verdicts["\(family.rawValue) \(verdict)", default: 0] += 1
    if milliseconds > slowestMilliseconds {
      slowestMilliseconds = milliseconds
      slowest = family.rawValue
    }
    largestOutputBytes = max(largestOutputBytes, outputBytes)
  }

  public var text: String {
    var lines = [
      "\(cases) cases in \(Int(seconds)) s: \(failures.count) failures",
      "by family: " + byFamily.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
      "verdicts: " + verdicts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
      "slowest case: \(String(format: "%.1f", slowestMilliseconds)) ms (\(slowest)); largest output: "
        + "\(largestOutputBytes) bytes",
      "peak resident: worker \(peakWorkerResidentBytes >> 20) MiB, mmlab processes \(peakCommandResidentBytes >> 20) MiB",
    ]
    lines += failures.map { "FAIL \($0)" }
    return lines.joined(separator: "\n") + "\n"
  }
}

func seconds(_ duration: Duration) -> Double {
  Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
