import Foundation
import GuestABI
import Machine

/// Why an errata file could not be used, with where and what to fix.
public struct ErrataError: Error, CustomStringConvertible, Equatable {
  /// The file (or "bundled errata").
  public var source: String
  /// The JSON path of the offending value ("errata[2].match.access"), or "".
  public var path: String
  public var problem: String

  public init(source: String, path: String = "", problem: String) {
    self.source = source
    self.path = path
    self.problem = problem
  }

  public var description: String { "\(source): \(path.isEmpty ? "" : path + ": ")\(problem)" }
}

/// A condition on one entry of a case: flags that must be set and flags that
/// must be clear (names as `CaseNames.flagNames` writes them).
public struct EntryCondition: Sendable, Hashable {
  /// 4 = PML4E ... 1 = PTE.
  public var level: Int
  public var set: UInt64
  public var clear: UInt64
}

/// Which cases and which differences an erratum explains. Every condition
/// given must hold; a condition left out matches anything.
public struct ErratumMatch: Sendable, Hashable {
  /// 1, 2 or 3.
  public var leafLevel: Int?
  /// true: CPL 3 ("user"); false: CPL 0 ("supervisor").
  public var user: Bool?
  /// The access kinds matched (one or several).
  public var kinds: Set<ConformanceAccessKind>?
  public var twice: Bool?
  /// true: the case's slot is in the upper half of the address space.
  public var upperHalf: Bool?
  public var controlsSet: ConformanceControls = []
  public var controlsClear: ConformanceControls = []
  public var entries: [EntryCondition] = []
  /// The difference kinds the erratum explains: every difference of a case
  /// must be one of them, so an unrelated difference still fails. nil: any.
  public var differences: Set<DifferenceKind>?

  /// True when `c` meets every condition (differences apart).
  public func matches(_ c: PagingCase) -> Bool {
    if let leafLevel, c.explicitAddress || c.leafLevel != leafLevel { return false }
    if let user, c.controls.contains(.userMode) != user { return false }
    if let kinds, !kinds.contains(c.kind) { return false }
    if let twice, c.twice != twice { return false }
    if let upperHalf, c.upperHalf != upperHalf { return false }
    guard c.controls.isSuperset(of: controlsSet), c.controls.isDisjoint(with: controlsClear) else { return false }
    return entries.allSatisfy { condition in
      let entry = c.entry(level: condition.level)
      return entry & condition.set == condition.set && entry & condition.clear == 0
    }
  }

  /// True when the erratum explains every one of `kinds`.
  public func explains(_ kinds: Set<DifferenceKind>) -> Bool {
    guard let differences else { return true }
    return kinds.isSubset(of: differences)
  }
}

/// One documented way a platform differs from the architecture.
public struct Erratum: Sendable, Hashable {
  /// Stable, quoted in reports ("pvm-pte-accessed-on-rsvd").
  public var id: String
  /// `Platform.Hypervisor.rawValue`: "kvm-intel", "kvm-amd", "kvm-pvm".
  public var platform: String
  public var suite: ConformanceSuite
  public var match: ErratumMatch
  /// Why the platform behaves so, with the evidence.
  public var explanation: String
  /// The matching cases are not run on this platform: they take the guest
  /// down (reported as expected failures, "not run", with this erratum).
  public var skip: Bool = false

  /// True when `c` must not run on `platform` (a `skip` erratum matches it).
  public func skips(_ c: PagingCase, platform: String) -> Bool {
    skip && self.platform == platform && suite == c.suite && match.matches(c)
  }

  /// True when this erratum explains `c` differing in `kinds` on `platform`.
  public func explains(_ c: PagingCase, differences kinds: Set<DifferenceKind>, platform: String) -> Bool {
    !kinds.isEmpty && self.platform == platform && suite == c.suite && match.matches(c) && match.explains(kinds)
  }
}

/// The errata file: platform behaviour that differs from the architecture,
/// which the suites report as expected failures rather than failures.
///
/// Format (Sources/Conformance/Errata/errata.json), an object with an
/// optional "about" string and an "errata" array (a bare array works too):
///
///     { "id": "…", "platform": "kvm-pvm", "suite": "paging",
///       "match": { "leafLevel": 1, "cpl": "supervisor", "access": "write",
///                  "twice": false, "upperHalf": true, "controlsSet": ["wp"], "controlsClear": ["smap"],
///                  "entries": { "pte": { "set": ["P"], "clear": ["W"] } },
///                  "differences": ["accessed-bit"] },
///       "explanation": "…" }
///
/// Every key of "match" is optional; "access" may be a string or an array;
/// controls are wp, nxe, smep, smap, ac, pke; flags are P W U PWT PCD A D PS
/// G NX PAT, Rn or bitN (bit n), KEYn; difference kinds are
/// `DifferenceKind`'s raw values. Unknown keys and names are errors, so a typo
/// cannot silently widen an erratum.
public struct Errata: Sendable {
  public var about: String?
  public var errata: [Erratum]

  public init(about: String? = nil, errata: [Erratum] = []) {
    self.about = about
    self.errata = errata
  }

  /// The erratum that explains `c` differing in `kinds` on `platform`, if any.
  public func erratum(for c: PagingCase, differences kinds: Set<DifferenceKind>, platform: String) -> Erratum? {
    errata.first { $0.explains(c, differences: kinds, platform: platform) }
  }

  /// The `skip` erratum that keeps `c` from running on `platform`, if any.
  public func skipping(_ c: PagingCase, platform: String) -> Erratum? {
    errata.first { $0.skips(c, platform: platform) }
  }

  /// The same for a judgement.
  public func erratum(for c: PagingCase, judgement: Judgement, platform: String) -> Erratum? {
    erratum(for: c, differences: judgement.kinds, platform: platform)
  }

  /// The errata in the file at `url`.
  public static func load(from url: URL) throws(ErrataError) -> Errata {
    let data: Data
    do {
      data = try Data(contentsOf: url)
    } catch {
      throw ErrataError(source: url.path, problem: "cannot read the file (\(error.localizedDescription))")
    }
    return try decode(data, source: url.path)
  }

  /// The errata shipped with mmlab (Errata/errata.json in the bundle).
  public static var bundled: Errata {
    get throws(ErrataError) {
      guard let url = Bundle.module.url(forResource: "errata", withExtension: "json", subdirectory: "Errata") else {
        throw ErrataError(source: "bundled errata", problem: "Errata/errata.json is missing from the bundle")
      }
      return try load(from: url)
    }
  }

  /// The errata in `data`, a JSON document from `source` (for messages).
  public static func decode(_ data: Data, source: String) throws(ErrataError) -> Errata {
    let json: JSONValue
    do {
      json = try JSONDecoder().decode(JSONValue.self, from: data)
    } catch {
      throw ErrataError(source: source, problem: "not valid JSON (\(JSONValue.describe(error)))")
    }
    return try ErrataReader(source: source).errata(json)
  }
}

/// Reads the errata document value by value, so every error names the JSON
/// path of the value at fault.
struct ErrataReader {
  let source: String

  func fail(_ path: String, _ problem: String) -> ErrataError {
    ErrataError(source: source, path: path, problem: problem)
  }

  /// The top level: an object with "about" and "errata", or a bare array.
  func errata(_ json: JSONValue) throws(ErrataError) -> Errata {
    if case .array(let list) = json { return Errata(errata: try errataList(list, path: "")) }
    let top = try object(json, "", keys: ["about", "errata"], required: ["errata"])
    let about = try top["about"].map { value throws(ErrataError) in try string(value, "about") }
    guard case .array(let list)? = top["errata"] else { throw fail("errata", "must be an array of errata") }
    return Errata(about: about, errata: try errataList(list, path: "errata"))
  }

  /// The errata array; identifiers must be unique.
  func errataList(_ list: [JSONValue], path: String) throws(ErrataError) -> [Erratum] {
    var result: [Erratum] = []
    var seen = Set<String>()
    for (n, value) in list.enumerated() {
      let erratum = try self.erratum(value, "\(path)[\(n)]")
      guard seen.insert(erratum.id).inserted else { throw fail("\(path)[\(n)].id", "duplicate id '\(erratum.id)'") }
      result.append(erratum)
    }
    return result
  }

  /// One erratum object.
  func erratum(_ value: JSONValue, _ path: String) throws(ErrataError) -> Erratum {
    let keys: Set<String> = ["id", "platform", "suite", "match", "explanation", "skip"]
    let fields = try object(value, path, keys: keys, required: keys.subtracting(["skip"]))
    let id = try string(fields["id"]!, path + ".id")
    let platform = try string(fields["platform"]!, path + ".platform")
    guard Platform.Hypervisor(rawValue: platform) != nil else {
      throw fail(
        path + ".platform", "unknown platform '\(platform)' (expected kvm-intel, kvm-amd, kvm-pvm, qemu-tcg or unknown)"
      )
    }
    let suiteName = try string(fields["suite"]!, path + ".suite")
    guard let suite = ConformanceSuite(rawValue: suiteName) else {
      let known = ConformanceSuite.allCases.map(\.rawValue).joined(separator: ", ")
      throw fail(path + ".suite", "unknown suite '\(suiteName)' (expected \(known))")
    }
    let explanation = try string(fields["explanation"]!, path + ".explanation")
    guard !id.isEmpty, !explanation.isEmpty else { throw fail(path, "id and explanation must not be empty") }
    var erratum = Erratum(
      id: id, platform: platform, suite: suite, match: try match(fields["match"]!, path + ".match"),
      explanation: explanation)
    if let value = fields["skip"] {
      guard case .bool(let skip) = value else { throw fail(path + ".skip", "must be true or false") }
      erratum.skip = skip
    }
    return erratum
  }

  /// The match object.
  func match(_ value: JSONValue, _ path: String) throws(ErrataError) -> ErratumMatch {
    let keys: Set<String> = [
      "leafLevel", "cpl", "access", "twice", "upperHalf", "controlsSet", "controlsClear", "entries", "differences",
    ]
    let fields = try object(value, path, keys: keys, required: [])
    var match = ErratumMatch()
    if let v = fields["leafLevel"] {
      guard case .number(let number) = v, let level = Int(exactly: number), (1...3).contains(level) else {
        throw fail(path + ".leafLevel", "must be 1, 2 or 3")
      }
      match.leafLevel = level
    }
    if let v = fields["cpl"] { match.user = try cpl(v, path + ".cpl") }
    if let v = fields["access"] { match.kinds = try kinds(v, path + ".access") }
    if let v = fields["upperHalf"] {
      guard case .bool(let upper) = v else { throw fail(path + ".upperHalf", "must be true or false") }
      match.upperHalf = upper
    }
    if let v = fields["twice"] {
      guard case .bool(let twice) = v else { throw fail(path + ".twice", "must be true or false") }
      match.twice = twice
    }
    if let v = fields["controlsSet"] { match.controlsSet = try controls(v, path + ".controlsSet") }
    if let v = fields["controlsClear"] { match.controlsClear = try controls(v, path + ".controlsClear") }
    if let v = fields["entries"] { match.entries = try entries(v, path + ".entries") }
    if let v = fields["differences"] { match.differences = try differences(v, path + ".differences") }
    return match
  }

  func cpl(_ value: JSONValue, _ path: String) throws(ErrataError) -> Bool {
    switch try string(value, path) {
    case "user": return true
    case "supervisor": return false
    case let other: throw fail(path, "unknown cpl '\(other)' (expected user or supervisor)")
    }
  }

  func kinds(_ value: JSONValue, _ path: String) throws(ErrataError) -> Set<ConformanceAccessKind> {
    var result = Set<ConformanceAccessKind>()
    for name in try strings(value, path, allowSingle: true) {
      guard let kind = ConformanceAccessKind.allCases.first(where: { CaseNames.kind($0) == name }) else {
        throw fail(path, "unknown access kind '\(name)' (expected read, write or fetch)")
      }
      result.insert(kind)
    }
    return result
  }

  func controls(_ value: JSONValue, _ path: String) throws(ErrataError) -> ConformanceControls {
    var result: ConformanceControls = []
    for name in try strings(value, path, allowSingle: false) {
      guard let control = CaseNames.controls.first(where: { $0.name == name })?.control else {
        let known = CaseNames.controls.map(\.name).joined(separator: ", ")
        throw fail(path, "unknown control '\(name)' (expected \(known))")
      }
      result.insert(control)
    }
    return result
  }

  /// The entries object: level name → {"set": [...], "clear": [...]}.
  func entries(_ value: JSONValue, _ path: String) throws(ErrataError) -> [EntryCondition] {
    guard case .object(let levels) = value else {
      throw fail(path, "must be an object keyed by pml4e, pdpte, pde, pte")
    }
    var result: [EntryCondition] = []
    for (name, condition) in levels.sorted(by: { $0.key < $1.key }) {
      let at = "\(path).\(name)"
      guard let level = CaseNames.level(named: name) else {
        throw fail(at, "unknown entry '\(name)' (expected pml4e, pdpte, pde or pte)")
      }
      let fields = try object(condition, at, keys: ["set", "clear"], required: [])
      let set = try flags(fields["set"] ?? .array([]), at + ".set", level: level)
      let clear = try flags(fields["clear"] ?? .array([]), at + ".clear", level: level)
      guard set & clear == 0 else { throw fail(at, "a flag cannot be both set and clear") }
      result.append(EntryCondition(level: level, set: set, clear: clear))
    }
    return result
  }

  func flags(_ value: JSONValue, _ path: String, level: Int) throws(ErrataError) -> UInt64 {
    var mask: UInt64 = 0
    for name in try strings(value, path, allowSingle: false) {
      guard let bits = CaseNames.bits(named: name, level: level) else {
        throw fail(path, "unknown flag '\(name)' (expected P W U PWT PCD A D PS G NX PAT, Rn, bitN or KEYn)")
      }
      mask |= bits
    }
    return mask
  }

  func differences(_ value: JSONValue, _ path: String) throws(ErrataError) -> Set<DifferenceKind> {
    var result = Set<DifferenceKind>()
    for name in try strings(value, path, allowSingle: true) {
      guard let kind = DifferenceKind(rawValue: name) else {
        let known = DifferenceKind.allCases.map(\.rawValue).joined(separator: ", ")
        throw fail(path, "unknown difference kind '\(name)' (expected \(known))")
      }
      result.insert(kind)
    }
    guard !result.isEmpty else { throw fail(path, "must name at least one difference kind (or be left out)") }
    return result
  }

  // MARK: JSON shapes

  func object(_ value: JSONValue, _ path: String, keys: Set<String>, required: Set<String>) throws(ErrataError)
    -> [String: JSONValue]
  {
    guard case .object(let fields) = value else { throw fail(path, "must be an object") }
    if let unknown = fields.keys.sorted().first(where: { !keys.contains($0) }) {
      throw fail(path, "unknown key '\(unknown)' (expected \(keys.sorted().joined(separator: ", ")))")
    }
    if let missing = required.sorted().first(where: { fields[$0] == nil }) {
      throw fail(path, "missing key '\(missing)'")
    }
    return fields
  }

  func string(_ value: JSONValue, _ path: String) throws(ErrataError) -> String {
    guard case .string(let text) = value else { throw fail(path, "must be a string") }
    return text
  }

  func strings(_ value: JSONValue, _ path: String, allowSingle: Bool) throws(ErrataError) -> [String] {
    if allowSingle, case .string(let text) = value { return [text] }
    guard case .array(let list) = value else {
      throw fail(path, allowSingle ? "must be a string or an array of strings" : "must be an array of strings")
    }
    var result: [String] = []
    for (n, item) in list.enumerated() { result.append(try string(item, "\(path)[\(n)]")) }
    return result
  }
}

/// A JSON value as JSONDecoder reads it: booleans and numbers kept apart, so
/// the reader can insist on the type each key wants.
enum JSONValue: Decodable, Sendable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(Double.self) {
      self = .number(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode([JSONValue].self) {
      self = .array(value)
    } else {
      self = .object(try container.decode([String: JSONValue].self))
    }
  }

  /// A decoding error in a sentence (JSONDecoder's own are nested records).
  static func describe(_ error: any Error) -> String {
    guard let error = error as? DecodingError else { return "\(error)" }
    switch error {
    case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context),
      .keyNotFound(_, let context):
      let underlying = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
      return [context.debugDescription, underlying].compactMap { $0 }.joined(separator: ": ")
    @unknown default: return "\(error)"
    }
  }
}
