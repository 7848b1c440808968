import Foundation

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
