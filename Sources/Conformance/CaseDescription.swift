import GuestABI
import X86Paging

/// The words cases and outcomes are written in, shared by descriptions,
/// family names and the errata file, so a name read in a report can be
/// pasted into an erratum.
public enum CaseNames {
  /// "pml4e", "pdpte", "pde", "pte" for levels 4...1.
  public static func entryName(level: Int) -> String {
    switch level {
    case 4: return "pml4e"
    case 3: return "pdpte"
    case 2: return "pde"
    default: return "pte"
    }
  }

  /// The level an entry name means (the inverse of `entryName`), nil if none.
  public static func level(named name: String) -> Int? {
    (1...4).first { entryName(level: $0) == name.lowercased() }
  }

  /// "4k", "2m", "1g".
  public static func leafSize(_ leafLevel: Int) -> String {
    switch leafLevel {
    case 3: return "1g"
    case 2: return "2m"
    default: return "4k"
    }
  }

  /// "read", "write", "fetch".
  public static func kind(_ kind: ConformanceAccessKind) -> String {
    switch kind {
    case .read: return "read"
    case .write: return "write"
    case .fetch: return "fetch"
    }
  }

  /// The CPU-state controls by name, lowercase, in a fixed order (CPL apart).
  public static let controls: [(name: String, control: ConformanceControls)] = [
    ("wp", .writeProtect), ("nxe", .noExecuteEnable), ("smep", .smep), ("smap", .smap), ("ac", .alignmentCheck),
    ("pke", .protectionKeys),
  ]

  /// The names of the controls set in `controls` (CPL and PKRU apart).
  public static func controlNames(_ controls: ConformanceControls) -> [String] {
    Self.controls.filter { controls.contains($0.control) }.map(\.name)
  }

  /// The names of the bits set in an entry of `level` whose leaf is at
  /// `leafLevel`: "P W U PWT PCD A D PS G NX", "PAT" for bit 7 of a PTE and
  /// bit 12 of a large leaf, "KEYn" for a protection key, "Rn" for bit n
  /// otherwise (the reserved bits the space sets).
  public static func flagNames(_ entry: UInt64, level: Int, leafLevel: Int) -> [String] {
    var names: [String] = []
    for bit in 0..<64 where entry >> UInt64(bit) & 1 != 0 && !(59...62).contains(bit) {
      names.append(bitName(bit, level: level, leafLevel: leafLevel))
    }
    let key = (entry >> 59) & 0xF
    if key != 0 { names.insert("KEY\(key)", at: names.count - (entry >> 63 != 0 ? 1 : 0)) }
    return names
  }

  /// Names of the bits whose name never depends on the level, by bit.
  static let fixedBitNames: [String?] = (0..<64).map { bit in
    [0: "P", 1: "W", 2: "U", 3: "PWT", 4: "PCD", 5: "A", 6: "D", 8: "G", 63: "NX"][bit]
  }

  /// One bit's name (see `flagNames`).
  static func bitName(_ bit: Int, level: Int, leafLevel: Int) -> String {
    if let name = fixedBitNames[bit] { return name }
    if bit == 7 { return level == 1 ? "PAT" : "PS" }
    if bit == 12 && level == leafLevel && level > 1 { return "PAT" }
    if (9...11).contains(bit) { return "AVL\(bit)" }
    return "R\(bit)"
  }

  /// The bits a flag name means in an entry of `level` (the inverse of
  /// `bitName`, plus "KEYn" and "bitN"), nil for an unknown name.
  public static func bits(named name: String, level: Int) -> UInt64? {
    let upper = name.uppercased()
    if let bit = fixedBitNames.firstIndex(of: upper) ?? (upper == "PS" ? 7 : nil) { return 1 << UInt64(bit) }
    if upper == "PAT" { return level == 1 ? 1 << 7 : 1 << 12 }
    for (prefix, range) in [("AVL", 9...11), ("KEY", 0...15), ("BIT", 0...63), ("R", 12...62)]
    where upper.hasPrefix(prefix) {
      guard let n = Int(upper.dropFirst(prefix.count)), range.contains(n) else { return nil }
      return prefix == "KEY" ? UInt64(n) << 59 : 1 << UInt64(n)
    }
    return nil
  }

  static let vectorNames: [UInt32: String] = [
    0: "#DE", 1: "#DB", 3: "#BP", 6: "#UD", 8: "#DF", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF", 17: "#AC",
  ]

  /// An exception vector's mnemonic: "#PF", "#GP", or "vector N".
  public static func vectorName(_ vector: UInt32) -> String {
    vectorNames[vector] ?? "vector \(vector)"
  }

  /// One attempt: "ok", "#PF 0x7 (P W U) at 0x…", "#GP(0)".
  public static func attempt(_ outcome: AttemptOutcome) -> String {
    guard let vector = outcome.vector else { return "ok" }
    if vector == ExceptionVector.pageFault {
      return "#PF \(PageFaultErrorCode(rawValue: outcome.errorCode)) at \(hex(outcome.faultAddress))"
    }
    return "\(vectorName(vector))(\(hex(UInt64(outcome.errorCode))))"
  }

  /// Several attempts: one text if they agree, else "first; then second".
  static func attempts(_ outcomes: [AttemptOutcome]) -> String {
    guard let first = outcomes.first else { return "no attempt" }
    if outcomes.allSatisfy({ $0 == first }) {
      return attempt(first) + (outcomes.count > 1 ? " (both attempts)" : "")
    }
    return outcomes.map(attempt).joined(separator: "; then ")
  }
}

extension PagingCase {
  /// The suite the case belongs to: `controls` for a control write, `tlb`
  /// for a case that changes its leaf between attempts, `canonical` for an
  /// explicit address, `paging` otherwise.
  public var suite: ConformanceSuite {
    if controlWrite { return .controls }
    if invalidation != nil { return .tlb }
    return explicitAddress ? .canonical : .paging
  }

  /// The whole case on one line: "4k pml4e[P W U] pdpte[P W U] pde[P W U A]
  /// pte[P U NX R51] CPL3 WP NXE write twice" (entries from the PML4E to the
  /// leaf), or "canonical 0x… (non-canonical) CPL0 WP read".
  public var caseDescription: String {
    if explicitAddress {
      let canonical = PagingMode.fourLevel.isCanonical(pml4e)
      let address = "canonical " + hex(pml4e) + (canonical ? "" : " (non-canonical)")
      return address + " " + CaseNames.environmentWords(controls, kind, twice)
    }
    var words = [CaseNames.leafSize(leafLevel)]
    for level in stride(from: 4, through: leafLevel, by: -1) {
      words.append(CaseNames.entryWord(entry(level: level), level: level, leafLevel: leafLevel))
    }
    words.append(CaseNames.environmentWords(controls, kind, twice))
    return words.joined(separator: " ")
  }
}

extension CaseNames {
  /// One entry: "pte[P U R51 NX]", "pte[-]" when no bit is set.
  static func entryWord(_ entry: UInt64, level: Int, leafLevel: Int) -> String {
    let flags = flagNames(entry, level: level, leafLevel: leafLevel)
    return "\(entryName(level: level))[\(flags.isEmpty ? "-" : flags.joined(separator: " "))]"
  }

  /// The CPU state and the access: "CPL3 WP NXE write twice".
  static func environmentWords(_ controls: ConformanceControls, _ kind: ConformanceAccessKind, _ twice: Bool) -> String
  {
    var words = [controls.contains(.userMode) ? "CPL3" : "CPL0"]
    words += controlNames(controls).map { $0.uppercased() }
    if controls.contains(.protectionKeys) { words.append("PKRU=\(hex(UInt64(controls.pkru)))") }
    words.append(self.kind(kind) + (twice ? " twice" : ""))
    return words.joined(separator: " ")
  }
}

extension Prediction {
  /// The expected outcome: "#PF 0x7 (P W U) at 0x… (write to a read-only
  /// page), A: pml4e pdpte pde, A?: pte, D: -" — A lists the entries whose A
  /// must be 1 afterwards, A? those whose A may be, D those whose D must be.
  public func outcomeDescription(for c: PagingCase) -> String {
    var text = CaseNames.attempts(attempts)
    if !reason.isEmpty { text += " (\(reason))" }
    guard accessed.count == 4, dirty.count == 4 else { return text }
    var mustA: [String] = []
    var mayA: [String] = []
    var mustD: [String] = []
    for index in 0...(4 - c.leafLevel) {
      let level = 4 - index
      let name = CaseNames.entryName(level: level)
      let written = c.entry(level: level)
      if accessed[index] == .set || written & PagingAlphabets.accessed != 0 {
        mustA.append(name)
      } else if accessed[index] == .maySet {
        mayA.append(name)
      }
      if dirty[index] == .set || written & PagingAlphabets.dirty != 0 { mustD.append(name) }
    }
    text += ", A: " + (mustA.isEmpty ? "-" : mustA.joined(separator: " "))
    if !mayA.isEmpty { text += ", A?: " + mayA.joined(separator: " ") }
    return text + ", D: " + (mustD.isEmpty ? "-" : mustD.joined(separator: " "))
  }
}

extension Observation {
  /// What the guest saw: "ok, A: pml4e pdpte pde pte, D: pte" (the entries
  /// whose A and D are 1 afterwards, PML4E to the leaf).
  public func outcomeDescription(for c: PagingCase) -> String {
    var text = CaseNames.attempts(attempts)
    guard !c.explicitAddress, finalEntries.count == 4 else { return text }
    var withA: [String] = []
    var withD: [String] = []
    for index in 0...(4 - c.leafLevel) {
      let name = CaseNames.entryName(level: 4 - index)
      if finalEntries[index] & PagingAlphabets.accessed != 0 { withA.append(name) }
      if finalEntries[index] & PagingAlphabets.dirty != 0 { withD.append(name) }
    }
    text += ", A: " + (withA.isEmpty ? "-" : withA.joined(separator: " "))
    return text + ", D: " + (withD.isEmpty ? "-" : withD.joined(separator: " "))
  }
}

extension PagingSpace {
  /// `--filter TEXT`: true when `c`'s family or description contains `text`,
  /// ignoring case.
  public func matches(_ c: PagingCase, filter text: String) -> Bool {
    let needle = text.lowercased()
    return family(of: c).lowercased().contains(needle) || c.caseDescription.lowercased().contains(needle)
  }
}

extension PagingSpace {
  /// The indices of the cases in `range` (all by default; a shard's slice)
  /// that `--filter text` selects, in order. A family depends only on a
  /// section's environment, so an environment whose family matches is taken
  /// whole; the others are matched case by case against descriptions
  /// assembled from words made once per alphabet value.
  public func indices(matching text: String, in range: Range<Int>? = nil) -> [Int] {
    let needle = text.lowercased()
    let range = range ?? 0..<count
    var result: [Int] = []
    for (n, section) in sections.enumerated()
    where starts[n] < range.upperBound && starts[n] + section.count > range.lowerBound {
      let words = SectionWords(section)
      let local = (range.lowerBound - starts[n])..<(range.upperBound - starts[n])
      for e in section.environments.indices {
        let first = e * section.entryCombinations
        let cases = (first..<(first + section.entryCombinations)).clamped(to: local)
        if cases.isEmpty { continue }
        result += matching(needle, cases, of: section, words: words).map { starts[n] + $0 }
      }
    }
    return result
  }

  /// The local indices in `cases` (one environment's, or part of it) of
  /// `section` whose family or description contains `needle` (lowercase).
  func matching(_ needle: String, _ cases: Range<Int>, of section: PagingSection, words: SectionWords) -> [Int] {
    let probe = section.case(at: cases.lowerBound)
    if family(of: probe).lowercased().contains(needle) { return Array(cases) }
    if section.explicitAddress { return cases.filter { matches(section.case(at: $0), filter: needle) } }
    let suffix = " " + CaseNames.environmentWords(probe.controls, probe.kind, probe.twice).lowercased()
    return cases.filter { (words.description(of: $0, in: section) + suffix).contains(needle) }
  }
}

/// A section's description words, lowercased, made once per alphabet value.
struct SectionWords {
  var entries: [[String]]
  var leaf: String

  init(_ section: PagingSection) {
    entries = (0..<4).map { index in
      section.alphabets[index].map {
        CaseNames.entryWord($0, level: 4 - index, leafLevel: section.leafLevel).lowercased()
      }
    }
    leaf = CaseNames.leafSize(section.leafLevel)
  }

  /// The description of case `local` of `section` (not an explicit-address
  /// one) without its environment words.
  func description(of local: Int, in section: PagingSection) -> String {
    var text = leaf
    var positions = [0, 0, 0, 0]
    var rest = local % section.entryCombinations
    for index in stride(from: 3, through: 0, by: -1) {
      positions[index] = rest % section.alphabets[index].count
      rest /= section.alphabets[index].count
    }
    for index in 0...(4 - section.leafLevel) { text += " " + entries[index][positions[index]] }
    return text
  }
}

extension Mismatch {
  /// The report's record of a case that differs from the model: the case,
  /// the expected and observed outcomes in words, the differences appended
  /// to the observed side, and the erratum that explains them, if any.
  public init(_ c: PagingCase, observed: Observation, prediction: Prediction, judgement: Judgement, erratum: Erratum?) {
    var observedText = observed.outcomeDescription(for: c)
    if !judgement.passed { observedText += " [\(judgement.summary)]" }
    self.init(
      caseDescription: c.caseDescription, expected: prediction.outcomeDescription(for: c), observed: observedText,
      erratum: erratum?.id)
  }
}
