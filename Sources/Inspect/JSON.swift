import Foundation

/// Serializes a report object (dictionaries, arrays, strings, numbers, Bools)
/// as JSON with sorted keys, so output is stable run to run: two-space
/// indentation and `"key" : value`, as Foundation's pretty printing writes it.
/// Written by hand because Foundation's bridging of `[String: Any]` costs
/// about 200 µs per script step on Linux, most of a long script's report.
public func renderJSON(_ object: Any) -> String {
  let sink = ReportSink.memory()
  var stream = JSONStream(sink)
  stream.value(object)
  sink.write(byte: 0x0A)
  return sink.string
}

/// JSON written as it is produced, into a `ReportSink`: every command that prints
/// leaves or records streams its document through this, so memory stays constant per
/// record and a document cut short by a limit is still whole (the caller closes what
/// it opened and says why in a field). Objects and arrays are laid out as `renderJSON`
/// lays them out; `record` writes a small object on one line, for long arrays.
public struct JSONStream {
  public let sink: ReportSink
  /// Per open container: whether something was written in it yet.
  private var started: [Bool] = []

  public init(_ sink: ReportSink) { self.sink = sink }

  private var indent: Int { started.count * 2 }

  /// Starts the next member or element: a comma after the previous one, a newline, the indentation.
  private mutating func separate() {
    guard let last = started.last else { return }
    sink.write(last ? ",\n" : "\n")
    started[started.count - 1] = true
    writeSpaces(indent)
  }

  private func writeSpaces(_ count: Int) {
    sink.append(reserving: count) { out in
      out.initialize(repeating: 0x20, count: count)
      return count
    }
  }

  public mutating func beginObject() { open("{") }
  public mutating func endObject() { close("}") }
  public mutating func beginArray() { open("[") }
  public mutating func endArray() { close("]") }

  private mutating func open(_ bracket: StaticString) {
    sink.write(bracket)
    started.append(false)
  }

  private mutating func close(_ bracket: StaticString) {
    let wrote = started.removeLast()
    sink.write(wrote ? "\n" : "\n\n")
    writeSpaces(indent)
    sink.write(bracket)
  }

  /// `"name" : ` inside an object; the value follows.
  public mutating func key(_ name: String) {
    separate()
    writeString(name)
    sink.write(" : ")
  }

  /// The next element of an array (no-op separator inside an object after `key`).
  public mutating func element() { separate() }

  /// A member holding a whole value.
  public mutating func field(_ name: String, _ value: Any) {
    key(name)
    self.value(value)
  }

  /// An array member whose elements `body` writes (each after `element()`).
  public mutating func array(_ name: String, _ body: (inout JSONStream) -> Void) {
    key(name)
    beginArray()
    body(&self)
    endArray()
  }

  /// An object member whose members `body` writes.
  public mutating func object(_ name: String, _ body: (inout JSONStream) -> Void) {
    key(name)
    beginObject()
    body(&self)
    endObject()
  }

  /// A small object on one line, its keys in the order given: `{"a" : 1, "b" : "x"}`.
  public mutating func record(_ fields: KeyValuePairs<String, Any>) {
    element()
    sink.write("{")
    for (n, (name, value)) in fields.enumerated() {
      if n > 0 { sink.write(", ") }
      writeString(name)
      sink.write(" : ")
      writeInline(value)
    }
    sink.write("}")
  }

  /// The next array element: a value on one line (a record held as a dictionary).
  public mutating func inlineElement(_ value: Any) {
    element()
    writeInline(value)
  }

  /// A value, laid out over lines as `renderJSON` does (object keys sorted).
  public mutating func value(_ value: Any) {
    switch value {
    case let dictionary as [String: Any]:
      beginObject()
      for key in dictionary.keys.sorted() { field(key, dictionary[key]!) }
      endObject()
    case let array as [Any]:
      beginArray()
      for item in array {
        element()
        self.value(item)
      }
      endArray()
    default:
      writeScalar(value)
    }
  }

  /// A value on one line (nested containers too).
  private mutating func writeInline(_ value: Any) {
    switch value {
    case let dictionary as [String: Any]:
      sink.write("{")
      for (n, key) in dictionary.keys.sorted().enumerated() {
        if n > 0 { sink.write(", ") }
        writeString(key)
        sink.write(" : ")
        writeInline(dictionary[key]!)
      }
      sink.write("}")
    case let array as [Any]:
      sink.write("[")
      for (n, item) in array.enumerated() {
        if n > 0 { sink.write(", ") }
        writeInline(item)
      }
      sink.write("]")
    default:
      writeScalar(value)
    }
  }

  private func writeScalar(_ value: Any) {
    switch value {
    case let string as String: writeString(string)
    case let bool as Bool: sink.write(bool ? "true" : "false")
    case let number as Int: sink.write(String(number))
    case let number as UInt64: sink.write(String(number))
    case let number as UInt32: sink.write(String(number))
    case let number as Int64: sink.write(String(number))
    case let number as UInt8: sink.write(String(number))
    case let number as UInt: sink.write(String(number))
    case let number as Int32: sink.write(String(number))
    case let number as Double: writeDouble(number)
    case is NSNull: sink.write("null")
    default: preconditionFailure("JSONStream: a report built a value JSON cannot hold: \(type(of: value))")
    }
  }

  /// A finite Double in Swift's shortest round-trip form (integral values without ".0").
  private func writeDouble(_ number: Double) {
    precondition(number.isFinite, "JSONStream: a report built a value JSON cannot hold: \(number)")
    if number == number.rounded(), abs(number) < 1e15 {
      sink.write(String(Int64(number)))
    } else {
      sink.write(number.description)
    }
  }

  public func writeString(_ string: String) {
    sink.write(byte: 0x22)
    for byte in string.utf8 {
      switch byte {
      case 0x22: sink.write("\\\"")
      case 0x5C: sink.write("\\\\")
      case 0x2F: sink.write("\\/")
      case 0x0A: sink.write("\\n")
      case 0x0D: sink.write("\\r")
      case 0x09: sink.write("\\t")
      case 0..<0x20:
        let hex = String(byte, radix: 16)
        sink.write("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
      default: sink.write(byte: byte)
      }
    }
    sink.write(byte: 0x22)
  }
}
