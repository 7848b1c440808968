import ArgumentParser
import Foundation

/// A command that could not do its work although its command line was right: ArgumentParser
/// prints "Error: " and the message and exits 1, without the usage lines a `ValidationError`
/// (a wrong command line, exit 64) gets.
struct CommandFailure: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// Where the CLI writes: reports to standard output, notes to standard error.
enum Terminal {
  /// Guest console text, as it arrives.
  static func writeConsole(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
  }

  /// A line for the person at the terminal that is not part of the report.
  static func note(_ text: String) {
    FileHandle.standardError.write(Data("mmlab: \(text)\n".utf8))
  }
}

extension Terminal {
  /// The command's report, on standard output.
  static func writeReport(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
  }
}

extension Terminal {
  /// The report on standard output, or into `path` (written whole, replacing
  /// the file) with a note saying where it went.
  static func writeReport(_ text: String, to path: String?) throws {
    guard let path else { return writeReport(text) }
    do {
      try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
      throw CommandFailure("cannot write the report to \(path): \(error.localizedDescription)")
    }
    note("report written to \(path)")
  }
}
