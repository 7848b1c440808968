/// Guest console bytes turned into text a line at a time (a partial line
/// waits for its newline, or for `flush` at a stop), with a bounded
/// transcript of everything delivered: the latest `transcriptLimit` bytes.
public struct ConsoleBuffer: Sendable {
  private var line: [UInt8] = []
  public private(set) var transcript = ""
  public static let transcriptLimit = 1 << 20

  public init() {}

  /// Appends `bytes`; returns the text of every line they complete, or nil.
  public mutating func append(_ bytes: [UInt8]) -> String? {
    line.append(contentsOf: bytes)
    guard let lastNewline = line.lastIndex(of: UInt8(ascii: "\n")) else { return nil }
    let text = record(Array(line[...lastNewline]))
    line.removeSubrange(...lastNewline)
    return text
  }

  /// What is buffered, complete line or not; nil when nothing is.
  public mutating func flush() -> String? {
    guard !line.isEmpty else { return nil }
    let text = record(line)
    line.removeAll(keepingCapacity: true)
    return text
  }

  private mutating func record(_ bytes: [UInt8]) -> String {
    let text = String(decoding: bytes, as: UTF8.self)
    transcript += text
    if transcript.utf8.count > Self.transcriptLimit { transcript = String(transcript.suffix(Self.transcriptLimit / 2)) }
    return text
  }
}
