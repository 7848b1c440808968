import Foundation

/// The value grammar of a script's parameters, without aliases: integers,
/// hex, sizes, and NT flag names joined by "|".
public enum ScriptValues {
  /// Size suffixes and their multipliers.
  static let units: [(suffix: String, bytes: UInt64)] = [
    ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40), ("B", 1),
  ]

  /// A JSON number literal as a 64-bit value: a non-negative integer up to
  /// 2^64-1, or a negative one down to -2^63 (two's complement, so -1 is
  /// 0xFFFFFFFFFFFFFFFF). Nil with the reason otherwise.
  public static func integer(literal: String) -> Result<UInt64, ScriptError> {
    guard !literal.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else {
      return .failure(ScriptError("", "\(literal) is not a whole number"))
    }
    if literal.hasPrefix("-") {
      guard let value = Int64(literal) else { return .failure(ScriptError("", "\(literal) is below -2^63")) }
      return .success(UInt64(bitPattern: value))
    }
    guard let value = UInt64(literal) else { return .failure(ScriptError("", "\(literal) does not fit in 64 bits")) }
    return .success(value)
  }

  /// A number written as a string term: "0x1F", "4096", "64KiB", "2MiB";
  /// nil when it is none of them (`why` says what was wrong if it looked like one).
  public static func term(_ text: String) -> Result<UInt64, ScriptError>? {
    let lower = text.lowercased()
    if lower.hasPrefix("0x") {
      let digits = text.dropFirst(2).filter { $0 != "_" }
      guard !digits.isEmpty, let value = UInt64(digits, radix: 16) else {
        return .failure(ScriptError("", "\"\(text)\" is not a 64-bit hex number"))
      }
      return .success(value)
    }
    guard let first = text.first, first.isASCII, first.isNumber else { return nil }
    let unit = units.first { text.hasSuffix($0.suffix) }
    let digits = text.dropLast(unit?.suffix.count ?? 0).filter { $0 != "_" }
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let count = UInt64(digits) else {
      return .failure(ScriptError("", "\"\(text)\" is not a number, hex number or size (64KiB, 2MiB, 1GiB)"))
    }
    let (bytes, overflow) = count.multipliedReportingOverflow(by: unit?.bytes ?? 1)
    guard !overflow else { return .failure(ScriptError("", "\"\(text)\" does not fit in 64 bits")) }
    return .success(bytes)
  }

  /// Flags: names of `table` and number terms joined by "|" ("MEM_RESERVE|MEM_COMMIT",
  /// "PAGE_READWRITE|0x800"). `what` names the kind of flag in messages.
  public static func flags(
    _ text: String, _ table: [(name: String, value: UInt32)], what: String
  ) -> Result<UInt32, ScriptError> {
    var value: UInt32 = 0
    for part in text.split(separator: "|", omittingEmptySubsequences: false) {
      let name = part.trimmingCharacters(in: .whitespaces)
      if let known = table.first(where: { $0.name == name }) {
        value |= known.value
      } else if case .success(let number)? = term(name), let bits = UInt32(exactly: number) {
        value |= bits
      } else if name.isEmpty {
        return .failure(ScriptError("", "an empty \(what) between '|'s in \"\(text)\""))
      } else {
        return .failure(ScriptError("", "unknown \(what) \"\(name)\"" + suggestion(name, table)))
      }
    }
    return .success(value)
  }

  /// " (did you mean X?)" for the closest name of `table`, when one is close.
  static func suggestion(_ name: String, _ table: [(name: String, value: UInt32)]) -> String {
    let scored = table.map { ($0.name, editDistance(name.uppercased(), $0.name.uppercased())) }.min { $0.1 < $1.1 }
    guard let (best, distance) = scored, distance <= max(2, best.count / 4) else { return "" }
    return " (did you mean \(best)?)"
  }

  /// Levenshtein distance between two short names.
  static func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    var row = Array(0...y.count)
    for i in 1...max(x.count, 1) where !x.isEmpty {
      var previous = row[0]
      row[0] = i
      for j in 1...max(y.count, 1) where !y.isEmpty {
        let old = row[j]
        row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (x[i - 1] == y[j - 1] ? 0 : 1))
        previous = old
      }
    }
    return row[y.count]
  }
}
