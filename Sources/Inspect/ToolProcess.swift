import Foundation

/// Runs one of the standard tools mmlab leans on (cp, mkfs.fat, mcopy,
/// fsck.fat) and collects what it says: the one place such a process is
/// started, so each caller only decides what a failure means.
public enum ToolProcess {
  public struct Outcome: Sendable {
    public var status: Int32
    /// Standard output, with standard error unless it was discarded.
    public var output: Data
    public var words: String {
      String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
  }

  /// `tool` with `arguments`; nil when it cannot be started. mtools is told not to
  /// check the image's geometry (a FAT32 volume without a partition table).
  public static func run(_ tool: String, _ arguments: [String], discardErrors: Bool = false) -> Outcome? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["MTOOLS_SKIP_CHECK"] = "1"
    process.environment = environment
    let output = Pipe()
    process.standardOutput = output
    process.standardError = discardErrors ? FileHandle.nullDevice : output
    guard (try? process.run()) != nil else { return nil }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Outcome(status: process.terminationStatus, output: data)
  }
}
