import Conformance
import Foundation
import Inspect
import Machine
import X86Paging

/// Bounds every case must keep, whatever its input.
public struct FuzzBounds: Sendable {
  /// Wall time of one case.
  public var seconds: Double = 10
  /// Bytes of output of one case: what the default --max-leaves implies, 1,048,576 leaves
  /// of at most about 300 bytes of JSON each (the longest: a reserved-bits leaf), and room.
  public var outputBytes = 384 << 20
  /// Resident memory after a case (in-process) or peak (a process).
  public var residentBytes = 1 << 30
  public init() {}
}

/// How a case ended.
public struct FuzzOutcome: Sendable {
  /// Nil when the case kept its bounds and any refusal was clear; else what went wrong.
  public var failure: String?
  /// "refused: why" or "read", for the campaign's tallies.
  public var verdict: String
  public var milliseconds: Double
  public var outputBytes: Int
  public var residentBytes: Int
}

/// Runs a case in this process, as the command it names would, into a sink that counts
/// and discards. A trap ends the process: the runner sees it from outside.
public enum FuzzExecution {
  public static func run(_ fuzzCase: FuzzCase, scratch: String, bounds: FuzzBounds = FuzzBounds()) -> FuzzOutcome {
    let start = ContinuousClock.now
    let sink = ReportSink.descriptor(discard)
    var verdict = "read"
    do {
      FileManager.default.createFile(atPath: scratch, contents: Data(fuzzCase.input))
      defer { unlink(scratch) }
      try execute(fuzzCase, path: scratch, sink: sink)
    } catch {
      let message = String(describing: error)
      verdict = "refused"
      if message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
        return outcome("refused without a word (\(type(of: error)))", verdict, start, sink)
      }
    }
    let result = outcome(nil, verdict, start, sink)
    if result.milliseconds > bounds.seconds * 1000 {
      return outcome("took \(Int(result.milliseconds)) ms, over \(Int(bounds.seconds)) s", verdict, start, sink)
    }
    if result.outputBytes > bounds.outputBytes {
      return outcome("wrote \(result.outputBytes) bytes, over \(bounds.outputBytes)", verdict, start, sink)
    }
    if result.residentBytes > bounds.residentBytes {
      return outcome("resident \(result.residentBytes >> 20) MiB after the case", verdict, start, sink)
    }
    return result
  }

  static let discard = open("/dev/null", O_WRONLY | O_CLOEXEC)

  static func outcome(_ failure: String?, _ verdict: String, _ start: ContinuousClock.Instant, _ sink: ReportSink)
    -> FuzzOutcome
  {
    let elapsed = ContinuousClock.now - start
    let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    return FuzzOutcome(
      failure: failure, verdict: verdict, milliseconds: milliseconds, outputBytes: sink.byteCount,
      residentBytes: residentBytes())
  }

  /// This process's resident set now (/proc/self/statm), in bytes.
  public static func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * 4096 : 0
  }

  static func execute(_ fuzzCase: FuzzCase, path: String, sink: ReportSink) throws {
    switch fuzzCase.family {
    case .tables, .core: try readCore(fuzzCase.command, path: path, sink: sink)
    case .image: _ = try Session.loadImage(path, ramSize: 64 << 20)
    case .errata: _ = try Errata.load(from: URL(fileURLWithPath: path))
    case .volume: try readVolume(path, sink: sink)
    case .commandLine: preconditionFailure("FuzzExecution: command lines run as processes")
    }
    try sink.finish()
  }

  /// Everything `image ls` and `image cat` can reach: every directory to a depth
  /// of 16 and every file in them (at most 4,096 entries, 1 MiB a file), FSInfo
  /// and the free count. A refusal of one path is an answer, and the walk goes on.
  static func readVolume(_ path: String, sink: ReportSink) throws {
    let image = try FatImage(path: path)
    var pending: [(String, Int)] = [("/", 0)]
    var visited = 0
    while let (directory, depth) = pending.popLast(), visited < 4096 {
      guard let entries = try? image.list(directory) else { continue }
      for entry in entries where visited < 4096 {
        visited += 1
        let child = (directory == "/" ? "" : directory) + "/" + entry.name
        sink.write("\(entry.isDirectory ? "d" : "-") \(entry.size) \(child)\n")
        if entry.isDirectory {
          if depth < 16 { pending.append((child, depth + 1)) }
        } else if let bytes = try? image.read(child, limit: 1 << 20) {
          sink.write("  \(bytes.count) bytes\n")
        }
      }
    }
    sink.write("free \((try? image.freeClusterCount()) ?? 0), FSInfo \((try? image.fsInfo().freeCount) ?? 0)\n")
  }

  /// What `dump-pagetables`, `pfn` and `translate` do with a core.
  static func readCore(_ command: [String], path: String, sink: ReportSink) throws {
    let snapshot = try GuestSnapshot.core(path: path)
    let json = command.contains("json")
    switch command.first {
    case "dump-pagetables":
      let limit = command.firstIndex(of: "--max-leaves").flatMap { Int(command[$0 + 1]) }
      let options = PageTableDumpReport.Options(
        leaves: command.contains("--leaves"), softwareEntries: command.contains("--software"),
        maxLeaves: limit ?? PageTableDumpReport.defaultMaxLeaves)
      let report = PageTableDumpReport(context: snapshot.pagingContext, memory: snapshot.memory, options: options)
      if json {
        report.writeJSON(source: path, platform: nil, to: sink)
      } else {
        report.writeText(source: path, platform: nil, to: sink)
      }
    case "pfn":
      let report = PfnReport(state: try ScenarioValidation.state(of: snapshot))
      if let at = command.firstIndex(of: "--pfn"), let pfn = UInt64(command[at + 1]) {
        if let detail = report.detail(pfn: pfn) { sink.write(json ? renderJSON(detail.json) : detail.text) }
      } else if command.contains("svg") {
        sink.write(PhysicalMemoryMap(classes: report.pageClasses).svg(caption: path))
      } else {
        sink.write(json ? renderJSON(report.summaryJSON()) : report.summaryText())
      }
    default:
      let address = command.count > 1 ? UInt64(command[1].dropFirst(2), radix: 16) ?? 0 : 0
      let report = TranslationReport(
        address, access: Access(.read, .supervisor), context: snapshot.pagingContext, memory: snapshot.memory)
      sink.write(json ? renderJSON(report.json(source: path, platform: nil)) : report.text(source: path, platform: nil))
    }
  }
}
