import ArgumentParser

/// Numbers on the command line, read strictly: digits only (0x-prefixed hexadecimal or
/// decimal), underscores between digits as separators, no sign, no spaces, no exponent.
/// Swift's own `UInt64("+5")` and `UInt64("+1", radix: 16)` accept a sign; a typo such as
/// `0x+1` must not become an address.
enum StrictNumber {
  /// "0x1f", "31", "0xffff_8000_0000_0000"; nil for anything else or on overflow.
  static func unsigned(_ text: String) -> UInt64? {
    let lowered = text.lowercased()
    let hexadecimal = lowered.hasPrefix("0x")
    let digits = hexadecimal ? lowered.dropFirst(2) : Substring(lowered)
    guard let first = digits.first, let last = digits.last, first != "_", last != "_",
      !digits.contains("__")
    else { return nil }
    let radix: UInt64 = hexadecimal ? 16 : 10
    var value: UInt64 = 0
    for character in digits where character != "_" {
      guard let digit = character.hexDigitValue, UInt64(digit) < radix else { return nil }
      let (shifted, overflow) = value.multipliedReportingOverflow(by: radix)
      let (sum, carry) = shifted.addingReportingOverflow(UInt64(digit))
      guard !overflow, !carry else { return nil }
      value = sum
    }
    return value
  }

  /// "10", "0.5", "2.25": decimal digits with at most one point; nil for anything else.
  static func decimal(_ text: String) -> Double? {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }) else {
      return nil
    }
    return Double(text)
  }
}

extension Character {
  fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

/// A 64-bit number: 0x-prefixed hexadecimal, or decimal (see `StrictNumber`).
struct NumberArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
  var value: UInt64

  init(_ value: UInt64) { self.value = value }

  init?(argument: String) {
    guard let value = StrictNumber.unsigned(argument) else { return nil }
    self.value = value
  }

  var description: String { String(value) }
  static var defaultCompletionKind: CompletionKind { .default }
}

/// Strict parsers for options typed Int or UInt64 (`@Option(transform:)`): the standard
/// library's parsers accept a sign.
enum StrictArgument {
  struct Invalid: Error, CustomStringConvertible {
    var text: String
    var expected: String
    var description: String { "\"\(text)\" is not \(expected)" }
  }

  /// A count: decimal or 0x-hexadecimal digits that fit an Int.
  static func count(_ text: String) throws -> Int {
    guard let value = StrictNumber.unsigned(text), value <= UInt64(Int.max) else {
      throw Invalid(text: text, expected: "a count (decimal or 0x-hexadecimal digits, no sign)")
    }
    return Int(value)
  }

  /// A 64-bit number: decimal or 0x-hexadecimal digits.
  static func number(_ text: String) throws -> UInt64 {
    guard let value = StrictNumber.unsigned(text) else {
      throw Invalid(text: text, expected: "a 64-bit number (decimal or 0x-hexadecimal digits, no sign)")
    }
    return value
  }
}

/// A duration in seconds: "10", "0.5".
struct SecondsArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
  var value: Double

  init(_ value: Double) { self.value = value }

  init?(argument: String) {
    guard let value = StrictNumber.decimal(argument) else { return nil }
    self.value = value
  }

  var description: String { value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value) }
}

/// A memory size in MiB: "64", "64M", "64MiB", "2G", "2GiB".
struct MemorySizeArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
  var mebibytes: Int

  init(mebibytes: Int) { self.mebibytes = mebibytes }

  init?(argument: String) {
    let units: [(suffix: String, mebibytes: UInt64)] = [("mib", 1), ("m", 1), ("gib", 1024), ("g", 1024), ("", 1)]
    let lowered = argument.lowercased()
    guard let unit = units.first(where: { lowered.hasSuffix($0.suffix) }),
      let count = StrictNumber.unsigned(String(lowered.dropLast(unit.suffix.count))),
      !lowered.hasPrefix("0x") || unit.suffix.isEmpty
    else { return nil }
    let (total, overflow) = count.multipliedReportingOverflow(by: unit.mebibytes)
    guard !overflow, total <= UInt64(Int32.max) else { return nil }
    mebibytes = Int(total)
  }

  var description: String { String(mebibytes) }
}
