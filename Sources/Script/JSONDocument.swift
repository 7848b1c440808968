/// A JSON value as a script holds it: numbers kept as their literal text (so
/// a 64-bit address is exact, never a Double), object members in order (so
/// duplicates are caught and errors follow the file).
public indirect enum JSONNode: Sendable, Equatable {
  case null
  case bool(Bool)
  /// The number's literal, e.g. "4096", "-1", "1.5e3".
  case number(String)
  case string(String)
  case array([JSONNode])
  case object([(key: String, value: JSONNode)])

  public static func == (a: JSONNode, b: JSONNode) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.number(let x), .number(let y)), (.string(let x), .string(let y)): return x == y
    case (.array(let x), .array(let y)): return x == y
    case (.object(let x), .object(let y)):
      return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    default: return false
    }
  }

  /// What the value is, in a word, for messages ("a string", "an object").
  public var kind: String {
    switch self {
    case .null: return "null"
    case .bool: return "a boolean"
    case .number: return "a number"
    case .string: return "a string"
    case .array: return "an array"
    case .object: return "an object"
    }
  }
}

/// Why a text is not JSON: the problem and where (line and column, 1-based).
public struct JSONSyntaxError: Error, Equatable, CustomStringConvertible {
  public var line: Int
  public var column: Int
  public var problem: String

  public var description: String { "line \(line), column \(column): \(problem)" }
}

/// A strict JSON (RFC 8259) reader over UTF-8 bytes. Nesting is bounded so a
/// hostile file cannot exhaust the stack.
public struct JSONReader {
  let bytes: [UInt8]
  var index = 0
  static let maximumDepth = 64

  /// The document in `text`: exactly one value, white space around it.
  public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONNode {
    var reader = JSONReader(bytes: Array(text.utf8))
    reader.skipWhiteSpace()
    let value = try reader.value(depth: 0)
    reader.skipWhiteSpace()
    guard reader.index == reader.bytes.count else { throw reader.fail("text after the JSON value") }
    return value
  }

  func fail(_ problem: String) -> JSONSyntaxError {
    var line = 1
    var column = 1
    for byte in bytes[..<min(index, bytes.count)] {
      if byte == UInt8(ascii: "\n") {
        line += 1
        column = 1
      } else if byte & 0xC0 != 0x80 {
        column += 1
      }
    }
    return JSONSyntaxError(line: line, column: column, problem: problem)
  }

  var current: UInt8? { index < bytes.count ? bytes[index] : nil }

  mutating func skipWhiteSpace() {
    while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
  }

  /// One value at `depth` levels of nesting.
  mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONNode {
    guard depth < Self.maximumDepth else { throw fail("nested deeper than \(Self.maximumDepth) levels") }
    switch current {
    case UInt8(ascii: "{"): return try object(depth: depth)
    case UInt8(ascii: "["): return try array(depth: depth)
    case UInt8(ascii: "\""): return .string(try string())
    case UInt8(ascii: "t"): return try literal("true", .bool(true))
    case UInt8(ascii: "f"): return try literal("false", .bool(false))
    case UInt8(ascii: "n"): return try literal("null", .null)
    case let byte? where byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte):
      return .number(try number())
    case nil: throw fail("the text ends where a value should be")
    default: throw fail("a value cannot start here")
    }
  }

  mutating func literal(_ word: String, _ node: JSONNode) throws(JSONSyntaxError) -> JSONNode {
    let expected = Array(word.utf8)
    guard bytes.count - index >= expected.count, Array(bytes[index..<index + expected.count]) == expected else {
      throw fail("expected \(word)")
    }
    index += expected.count
    return node
  }

  mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONNode {
    index += 1
    var members: [(key: String, value: JSONNode)] = []
    skipWhiteSpace()
    if current == UInt8(ascii: "}") {
      index += 1
      return .object(members)
    }
    while true {
      skipWhiteSpace()
      guard current == UInt8(ascii: "\"") else { throw fail("expected a member name in double quotes") }
      let key = try string()
      guard !members.contains(where: { $0.key == key }) else { throw fail("the member \"\(key)\" appears twice") }
      skipWhiteSpace()
      guard current == UInt8(ascii: ":") else { throw fail("expected ':' after the member name") }
      index += 1
      skipWhiteSpace()
      members.append((key, try value(depth: depth + 1)))
      skipWhiteSpace()
      guard let next = current else { throw fail("the object is not closed") }
      index += 1
      if next == UInt8(ascii: "}") { return .object(members) }
      guard next == UInt8(ascii: ",") else {
        index -= 1
        throw fail("expected ',' or '}' in the object")
      }
    }
  }

  mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONNode {
    index += 1
    var items: [JSONNode] = []
    skipWhiteSpace()
    if current == UInt8(ascii: "]") {
      index += 1
      return .array(items)
    }
    while true {
      skipWhiteSpace()
      items.append(try value(depth: depth + 1))
      skipWhiteSpace()
      guard let next = current else { throw fail("the array is not closed") }
      index += 1
      if next == UInt8(ascii: "]") { return .array(items) }
      guard next == UInt8(ascii: ",") else {
        index -= 1
        throw fail("expected ',' or ']' in the array")
      }
    }
  }
}
