import ArgumentParser

/// A 64-bit number on the command line: 0x-prefixed hexadecimal, or decimal.
/// Underscores are allowed as separators (0xffff_8000_0000_0000).
struct NumberArgument: ExpressibleByArgument, Sendable {
  var value: UInt64

  init?(argument: String) {
    let text = argument.replacingOccurrences(of: "_", with: "").lowercased()
    if text.hasPrefix("0x") {
      guard let value = UInt64(text.dropFirst(2), radix: 16) else { return nil }
      self.value = value
    } else {
      guard let value = UInt64(text, radix: 10) else { return nil }
      self.value = value
    }
  }

  static var defaultCompletionKind: CompletionKind { .default }
}
