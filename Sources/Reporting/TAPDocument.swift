/// TAP version 13 for every mmlab command that reports tests: one test point
/// per test, a YAML diagnostic block where there is something to show.
public struct TAPDocument: Sendable {
  public struct Point: Sendable {
    public var ok: Bool
    public var description: String
    /// "TODO …", "SKIP …", or a plain comment; nil for none.
    public var directive: String?
    /// The YAML block's lines, unindented (the document indents them), without "---"/"...".
    public var diagnostics: [String]

    public init(ok: Bool, description: String, directive: String? = nil, diagnostics: [String] = []) {
      self.ok = ok
      self.description = description
      self.directive = directive
      self.diagnostics = diagnostics
    }
  }

  /// Comment lines after the version line ("platform: …").
  public var header: [String]
  public var points: [Point]
  /// The plan's directive when there are no points ("1..0 # SKIP …").
  public var emptyReason: String
  /// "Bail out!" with this reason, after the points: the run failed as a whole.
  public var bailOut: String?
  /// The last comment line (the summary).
  public var footer: String

  public init(header: [String], points: [Point], emptyReason: String, bailOut: String? = nil, footer: String) {
    self.header = header
    self.points = points
    self.emptyReason = emptyReason
    self.bailOut = bailOut
    self.footer = footer
  }

  public func render() -> String {
    var lines = ["TAP version 13"] + header.map { "# " + Self.oneLine($0) }
    lines.append(points.isEmpty ? "1..0 # SKIP \(Self.oneLine(emptyReason))" : "1..\(points.count)")
    for (index, point) in points.enumerated() {
      var line = "\(point.ok ? "ok" : "not ok") \(index + 1) - \(Self.description(point.description))"
      if let directive = point.directive { line += " # " + Self.oneLine(directive) }
      lines.append(line)
      if !point.diagnostics.isEmpty { lines += ["  ---"] + point.diagnostics.map { "  " + $0 } + ["  ..."] }
    }
    if let bailOut { lines.append("Bail out! \(Self.oneLine(bailOut))") }
    lines.append("# " + footer)
    return lines.joined(separator: "\n") + "\n"
  }

  /// A test point description: one line, and a literal "#" escaped so it is
  /// not read as the start of a directive.
  public static func description(_ name: String) -> String {
    oneLine(name).replacingOccurrences("#", with: "\\#")
  }

  public static func oneLine(_ text: String) -> String {
    text.split(whereSeparator: \.isNewline).joined(separator: " ")
  }

  /// A YAML double-quoted scalar: always quoted, so no value can be read as
  /// a number, a boolean or YAML syntax.
  public static func yaml(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\\": out += "\\\\"
      case "\"": out += "\\\""
      case "\n": out += "\\n"
      case "\t": out += "\\t"
      case "\r": out += "\\r"
      case "\u{0}"..."\u{1F}", "\u{7F}"..."\u{9F}", "\u{FEFF}", "\u{FFFE}", "\u{FFFF}", "\u{2028}", "\u{2029}":
        let hex = String(scalar.value, radix: 16, uppercase: true)
        out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }
}

extension String {
  func replacingOccurrences(_ target: Character, with replacement: String) -> String {
    var out = ""
    for character in self { if character == target { out += replacement } else { out.append(character) } }
    return out
  }
}
