import Foundation

/// Serializes a report object (dictionaries, arrays, strings, numbers, Bools)
/// as JSON with sorted keys, so output is stable run to run: two-space
/// indentation and `"key" : value`, as Foundation's pretty printing writes it.
/// Written by hand because Foundation's bridging of `[String: Any]` costs
/// about 200 µs per script step on Linux, most of a long script's report.
public func renderJSON(_ object: Any) -> String {
  var writer = JSONTextWriter()
  writer.write(object, indent: 0)
  writer.text.append("\n")
  return writer.text
}

struct JSONTextWriter {
  var text = ""

  mutating func write(_ value: Any, indent: Int) {
    switch value {
    case let string as String: writeString(string)
    case let bool as Bool: text.append(bool ? "true" : "false")
    case let number as Int: text.append(String(number))
    case let number as UInt64: text.append(String(number))
    case let number as UInt32: text.append(String(number))
    case let number as Int64: text.append(String(number))
    case let number as UInt8: text.append(String(number))
    case let number as UInt: text.append(String(number))
    case let number as Int32: text.append(String(number))
    case let number as Double: writeDouble(number)
    case let dictionary as [String: Any]: writeObject(dictionary, indent: indent)
    case let array as [Any]: writeArray(array, indent: indent)
    case is NSNull: text.append("null")
    default: preconditionFailure("renderJSON: a report built a value JSON cannot hold: \(type(of: value))")
    }
  }

  mutating func writeObject(_ dictionary: [String: Any], indent: Int) {
    guard !dictionary.isEmpty else { return text.append("{\n\n" + String(repeating: " ", count: indent) + "}") }
    text.append("{\n")
    let inner = String(repeating: " ", count: indent + 2)
    for (n, key) in dictionary.keys.sorted().enumerated() {
      if n > 0 { text.append(",\n") }
      text.append(inner)
      writeString(key)
      text.append(" : ")
      write(dictionary[key]!, indent: indent + 2)
    }
    text.append("\n" + String(repeating: " ", count: indent) + "}")
  }

  mutating func writeArray(_ array: [Any], indent: Int) {
    guard !array.isEmpty else { return text.append("[\n\n" + String(repeating: " ", count: indent) + "]") }
    text.append("[\n")
    let inner = String(repeating: " ", count: indent + 2)
    for (n, element) in array.enumerated() {
      if n > 0 { text.append(",\n") }
      text.append(inner)
      write(element, indent: indent + 2)
    }
    text.append("\n" + String(repeating: " ", count: indent) + "]")
  }

  /// A finite Double in Swift's shortest round-trip form (integral values without ".0").
  mutating func writeDouble(_ number: Double) {
    precondition(number.isFinite, "renderJSON: a report built a value JSON cannot hold: \(number)")
    if number == number.rounded(), abs(number) < 1e15 {
      text.append(String(Int64(number)))
    } else {
      text.append(number.description)
    }
  }

  mutating func writeString(_ string: String) {
    text.append("\"")
    for scalar in string.unicodeScalars {
      switch scalar {
      case "\"": text.append("\\\"")
      case "\\": text.append("\\\\")
      case "/": text.append("\\/")
      case "\n": text.append("\\n")
      case "\r": text.append("\\r")
      case "\t": text.append("\\t")
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        text.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
      default: text.unicodeScalars.append(scalar)
      }
    }
    text.append("\"")
  }
}
