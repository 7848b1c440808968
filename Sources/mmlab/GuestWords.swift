import ArgumentParser
import GuestABI

/// The words `--append` may pass to the guest: those it knows (`GuestCommandLine.words`),
/// and its number prefixes followed by decimal digits. Anything else is refused here,
/// before a boot that would silently ignore it.
enum GuestWords {
  static func validate(_ words: [String]) throws {
    let known = GuestCommandLine.words.map { String(describing: $0) }
    let prefixes = GuestCommandLine.numberPrefixes.map { String(describing: $0) }
    for word in words where !known.contains(word) {
      if let prefix = prefixes.first(where: { word.hasPrefix($0) }) {
        let digits = word.dropFirst(prefix.count)
        guard !digits.isEmpty, digits.allSatisfy({ ("0"..."9").contains($0) }) else {
          throw ValidationError("--append \(word): \(prefix) takes a decimal number, e.g. \(prefix)1000")
        }
        continue
      }
      throw ValidationError(
        "--append \"\(word)\": the guest knows no such word; it knows "
          + (known + prefixes.map { $0 + "N" }).joined(separator: ", "))
    }
  }
}
