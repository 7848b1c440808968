extension JSONReader {
  /// A string literal: escapes decoded, control characters refused, \u
  /// surrogate pairs joined.
  mutating func string() throws(JSONSyntaxError) -> String {
    index += 1
    var run = index
    var utf8: [UInt8] = []
    func flush(_ upTo: Int) { utf8 += bytes[run..<upTo] }
    while true {
      guard let byte = current else { throw fail("the string is not closed") }
      if byte == UInt8(ascii: "\"") {
        flush(index)
        index += 1
        return String(decoding: utf8, as: UTF8.self)
      }
      guard byte >= 0x20 else { throw fail("a control character in a string must be escaped") }
      guard byte == UInt8(ascii: "\\") else {
        index += 1
        continue
      }
      flush(index)
      index += 1
      let scalar = try escape()
      utf8 += Array(String(scalar).utf8)
      run = index
    }
  }

  /// The character an escape (after the backslash) stands for.
  mutating func escape() throws(JSONSyntaxError) -> Unicode.Scalar {
    guard let byte = current else { throw fail("the string ends inside an escape") }
    index += 1
    switch byte {
    case UInt8(ascii: "\""): return "\""
    case UInt8(ascii: "\\"): return "\\"
    case UInt8(ascii: "/"): return "/"
    case UInt8(ascii: "b"): return "\u{8}"
    case UInt8(ascii: "f"): return "\u{C}"
    case UInt8(ascii: "n"): return "\n"
    case UInt8(ascii: "r"): return "\r"
    case UInt8(ascii: "t"): return "\t"
    case UInt8(ascii: "u"):
      let high = try hexQuad()
      guard (0xD800..<0xDC00).contains(high) else {
        guard let scalar = Unicode.Scalar(high) else { throw fail("a lone low surrogate in \\u escape") }
        return scalar
      }
      guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
        throw fail("a high surrogate without its low surrogate")
      }
      index += 2
      let low = try hexQuad()
      guard (0xDC00..<0xE000).contains(low),
        let scalar = Unicode.Scalar(0x10000 + (high - 0xD800) << 10 + (low - 0xDC00))
      else { throw fail("a high surrogate without its low surrogate") }
      return scalar
    default: throw fail("an unknown escape \\\(Character(Unicode.Scalar(byte)))")
    }
  }

  /// Four hex digits of a \u escape.
  mutating func hexQuad() throws(JSONSyntaxError) -> UInt32 {
    var value: UInt32 = 0
    for _ in 0..<4 {
      guard let byte = current, let digit = Self.hexDigit(byte) else { throw fail("\\u needs four hex digits") }
      value = value << 4 | UInt32(digit)
      index += 1
    }
    return value
  }

  static func hexDigit(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
  }

  /// A number literal as RFC 8259 spells it, returned as its text.
  mutating func number() throws(JSONSyntaxError) -> String {
    let start = index
    func digits() -> Int {
      let first = index
      while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
      return index - first
    }
    if current == UInt8(ascii: "-") { index += 1 }
    if current == UInt8(ascii: "0") {
      index += 1
      if let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
        throw fail("a number cannot have leading zeros (write hex as a string: \"0x...\")")
      }
    } else if digits() == 0 {
      throw fail("expected digits")
    }
    if current == UInt8(ascii: ".") {
      index += 1
      guard digits() > 0 else { throw fail("expected digits after the decimal point") }
    }
    if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
      index += 1
      if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
      guard digits() > 0 else { throw fail("expected digits in the exponent") }
    }
    return String(decoding: bytes[start..<index], as: UTF8.self)
  }
}
