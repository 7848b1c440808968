import Foundation

/// JUnit XML in the Jenkins/Ant shape that GitHub Actions report actions and
/// GitLab read, for every mmlab command that reports tests (conformance
/// families, script steps): one <testsuite> per suite, one <testcase> each.
public struct JUnitDocument: Sendable {
  /// One <testcase>.
  public struct TestCase: Sendable {
    public enum Outcome: Sendable {
      case passed
      /// <failure message="…" type="…">body</failure>
      case failed(message: String, type: String, body: String)
      /// <skipped message="…"/>
      case skipped(message: String)
    }

    public var classname: String
    public var name: String
    public var seconds: Double
    public var outcome: Outcome
    /// <system-out>, when there is something worth knowing.
    public var systemOut: String?

    public init(classname: String, name: String, seconds: Double, outcome: Outcome, systemOut: String? = nil) {
      self.classname = classname
      self.name = name
      self.seconds = seconds
      self.outcome = outcome
      self.systemOut = systemOut
    }

    var failed: Bool { if case .failed = outcome { true } else { false } }
    var skipped: Bool { if case .skipped = outcome { true } else { false } }
  }

  /// One <testsuite>, with its properties (the schema has them on suites only).
  public struct Suite: Sendable {
    public var name: String
    public var properties: [(name: String, value: String)]
    public var cases: [TestCase]
    public var seconds: Double

    public init(name: String, properties: [(name: String, value: String)], cases: [TestCase], seconds: Double) {
      self.name = name
      self.properties = properties
      self.cases = cases
      self.seconds = seconds
    }
  }

  public var name: String
  public var suites: [Suite]
  public var seconds: Double

  public init(name: String, suites: [Suite], seconds: Double) {
    self.name = name
    self.suites = suites
    self.seconds = seconds
  }

  /// The document, ending with a newline.
  public func render() -> String {
    let all = suites.flatMap(\.cases)
    var lines = [
      #"<?xml version="1.0" encoding="UTF-8"?>"#,
      "<testsuites" + Self.attributes([("name", name)] + Self.counts(all) + [("time", Self.time(seconds))]) + ">",
    ]
    for suite in suites { lines += Self.render(suite) }
    lines.append("</testsuites>")
    return lines.joined(separator: "\n") + "\n"
  }

  static func render(_ suite: Suite) -> [String] {
    var lines = [
      "  <testsuite" + attributes([("name", suite.name)] + counts(suite.cases) + [("time", time(suite.seconds))]) + ">",
      "    <properties>",
    ]
    for property in suite.properties {
      lines.append("      <property" + attributes([("name", property.name), ("value", property.value)]) + "/>")
    }
    lines.append("    </properties>")
    for testCase in suite.cases { lines += render(testCase) }
    lines.append("  </testsuite>")
    return lines
  }

  /// One test case: a self-closing element when it simply passed.
  static func render(_ testCase: TestCase) -> [String] {
    let open =
      "    <testcase"
      + attributes([("classname", testCase.classname), ("name", testCase.name), ("time", time(testCase.seconds))])
    var body: [String] = []
    switch testCase.outcome {
    case .failed(let message, let type, let text):
      body.append(
        "      <failure" + attributes([("message", message), ("type", type)]) + ">" + XMLText.escaped(text)
          + "</failure>")
    case .skipped(let message):
      body.append("      <skipped" + attributes([("message", message)]) + "/>")
    case .passed:
      break
    }
    if let out = testCase.systemOut { body.append("      <system-out>" + XMLText.escaped(out) + "</system-out>") }
    return body.isEmpty ? [open + "/>"] : [open + ">"] + body + ["    </testcase>"]
  }

  /// The count attributes JUnit readers sum.
  static func counts(_ cases: [TestCase]) -> [(String, String)] {
    [
      ("tests", String(cases.count)), ("failures", String(cases.count(where: \.failed))), ("errors", "0"),
      ("skipped", String(cases.count(where: \.skipped))),
    ]
  }

  /// ` a="x" b="y"`, values escaped for an attribute.
  public static func attributes(_ pairs: [(String, String)]) -> String {
    pairs.map { " \($0.0)=\"\(XMLText.escaped($0.1, inAttribute: true))\"" }.joined()
  }

  /// Seconds with millisecond precision, as JUnit readers expect.
  public static func time(_ seconds: Double) -> String {
    seconds.isFinite ? String(format: "%.3f", max(0, seconds)) : "0"
  }
}

/// Escaping for XML 1.0 text and attribute values.
public enum XMLText {
  /// `text` safe inside an element (or, with `inAttribute`, a double- or
  /// single-quoted attribute). The five markup characters become entities.
  /// C0 control characters cannot appear in XML 1.0 at all, not even as
  /// character references, so they are written visibly as `\u{1B}`; so are
  /// U+FFFE and U+FFFF. In attributes, tab and newlines become character
  /// references so attribute-value normalization does not turn them into
  /// spaces; carriage returns do everywhere, since parsers fold them away.
  public static func escaped(_ text: String, inAttribute: Bool = false) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
      switch scalar {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&apos;"
      case "\r": out += "&#13;"
      case "\n", "\t": out += inAttribute ? "&#\(scalar.value);" : String(scalar)
      case "\u{0}"..."\u{1F}", "\u{FFFE}", "\u{FFFF}": out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
      case "\u{7F}"..."\u{9F}": out += "&#x\(String(scalar.value, radix: 16, uppercase: true));"
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out
  }
}
