import Foundation
import GuestABI
import Machine

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
      id: id, platform: platform, suite: suite, match: try match(fields["match"]!, path + ".match", suite: suite),
      explanation: explanation)
    if let value = fields["skip"] { erratum.skip = try bool(value, path + ".skip") }
    try checkExplains(erratum, path + ".match")
    return erratum
  }

  /// A skip erratum explains nothing (its cases never run); any other must
  /// say exactly which differences it explains.
  func checkExplains(_ erratum: Erratum, _ path: String) throws(ErrataError) {
    let match = erratum.match
    if erratum.skip {
      guard match.differences.isEmpty, match.subsetBecause == nil else {
        throw fail(path + ".differences", "a skip erratum's cases are not run: it explains no difference")
      }
      guard match.firstUserUpperHalfAccess == nil, match.firstAttempt == nil else {
        throw fail(path, "a skip erratum's cases are not run: it cannot match on what was observed")
      }
    } else if match.differences.isEmpty {
      throw fail(path, "missing key 'differences' (every erratum but a skip one names the differences it explains)")
    }
    if match.subsetBecause != nil && match.differences.count < 2 {
      throw fail(path + ".subsetBecause", "needs two or more differences to take a subset of")
    }
  }

  /// The match object; `suite` decides which keys make sense.
  func match(_ value: JSONValue, _ path: String, suite: ConformanceSuite) throws(ErrataError) -> ErratumMatch {
    let keys: Set<String> = [
      "leafLevel", "cpl", "access", "twice", "upperHalf", "controlsSet", "controlsClear", "entries", "write",
      "firstUserUpperHalfAccess", "firstAttempt", "differences", "subsetBecause",
    ]
    let fields = try object(value, path, keys: keys, required: [])
    if suite == .controls, fields["entries"] != nil {
      throw fail(path + ".entries", "controls cases have no entries: name the write with \"write\"")
    }
    if suite != .controls, fields["write"] != nil {
      throw fail(path + ".write", "only controls errata name a control-register write")
    }
    var match = ErratumMatch()
    if let v = fields["leafLevel"] {
      guard case .number(let number) = v, let level = Int(exactly: number), (1...3).contains(level) else {
        throw fail(path + ".leafLevel", "must be 1, 2 or 3")
      }
      match.leafLevel = level
    }
    if let v = fields["cpl"] { match.user = try cpl(v, path + ".cpl") }
    if let v = fields["access"] { match.kinds = try kinds(v, path + ".access") }
    if let v = fields["upperHalf"] { match.upperHalf = try bool(v, path + ".upperHalf") }
    if let v = fields["twice"] { match.twice = try bool(v, path + ".twice") }
    if let v = fields["controlsSet"] { match.controlsSet = try controls(v, path + ".controlsSet") }
    if let v = fields["controlsClear"] { match.controlsClear = try controls(v, path + ".controlsClear") }
    if let v = fields["entries"] { match.entries = try entries(v, path + ".entries") }
    if let v = fields["write"] { match.writes = try writes(v, path + ".write") }
    if let v = fields["firstUserUpperHalfAccess"] {
      match.firstUserUpperHalfAccess = try bool(v, path + ".firstUserUpperHalfAccess")
    }
    if let v = fields["firstAttempt"] { match.firstAttempt = try attempt(v, path + ".firstAttempt") }
    if let v = fields["differences"] { match.differences = try differences(v, path + ".differences") }
    if let v = fields["subsetBecause"] {
      let why = try string(v, path + ".subsetBecause")
      guard !why.isEmpty else { throw fail(path + ".subsetBecause", "must say why") }
      match.subsetBecause = why
    }
    return match
  }

  /// "write": one write or an array of them.
  func writes(_ value: JSONValue, _ path: String) throws(ErrataError) -> [ControlWriteCondition] {
    guard case .array(let list) = value else { return [try write(value, path)] }
    guard !list.isEmpty else { throw fail(path, "must name at least one write") }
    var result: [ControlWriteCondition] = []
    for (n, item) in list.enumerated() { result.append(try write(item, "\(path)[\(n)]")) }
    return result
  }

  /// {"register": "cr4", "clear": [5], "set": [22]}: exactly that write.
  func write(_ value: JSONValue, _ path: String) throws(ErrataError) -> ControlWriteCondition {
    let fields = try object(value, path, keys: ["register", "clear", "set"], required: ["register"])
    let name = try string(fields["register"]!, path + ".register")
    guard let register = ConformanceRegister.allCases.first(where: { "\($0)" == name }) else {
      throw fail(path + ".register", "unknown register '\(name)' (expected cr0, cr4 or efer)")
    }
    let write = ControlWriteCondition(
      register: register, clear: try bitNumbers(fields["clear"], path + ".clear"),
      set: try bitNumbers(fields["set"], path + ".set"))
    guard write.clear & write.set == 0 else { throw fail(path, "a bit cannot be both cleared and set") }
    return write
  }

  /// An array of bit numbers 0-63 as a mask (absent: none).
  func bitNumbers(_ value: JSONValue?, _ path: String) throws(ErrataError) -> UInt64 {
    guard let value else { return 0 }
    guard case .array(let list) = value else { throw fail(path, "must be an array of bit numbers (0-63)") }
    var mask: UInt64 = 0
    for (n, item) in list.enumerated() {
      guard case .number(let number) = item, let bit = Int(exactly: number), (0...63).contains(bit) else {
        throw fail("\(path)[\(n)]", "must be a bit number from 0 to 63")
      }
      mask |= 1 << UInt64(bit)
    }
    return mask
  }

  /// {"vector": 14, "errorCode": 4}: the exception an attempt raised.
  func attempt(_ value: JSONValue, _ path: String) throws(ErrataError) -> AttemptOutcome {
    let fields = try object(value, path, keys: ["vector", "errorCode"], required: ["vector", "errorCode"])
    func number(_ key: String, _ range: ClosedRange<UInt32>) throws(ErrataError) -> UInt32 {
      guard case .number(let n) = fields[key]!, let value = UInt32(exactly: n), range.contains(value) else {
        throw fail("\(path).\(key)", "must be a number from \(range.lowerBound) to \(range.upperBound)")
      }
      return value
    }
    return AttemptOutcome(vector: try number("vector", 0...31), errorCode: try number("errorCode", 0...0xFFFF))
  }

  func bool(_ value: JSONValue, _ path: String) throws(ErrataError) -> Bool {
    guard case .bool(let flag) = value else { throw fail(path, "must be true or false") }
    return flag
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
      let fields = try object(condition, at, keys: ["set", "clear", "anySet"], required: [])
      let set = try flags(fields["set"] ?? .array([]), at + ".set", level: level)
      let clear = try flags(fields["clear"] ?? .array([]), at + ".clear", level: level)
      let anySet = try flags(fields["anySet"] ?? .array([]), at + ".anySet", level: level)
      guard set & clear == 0 else { throw fail(at, "a flag cannot be both set and clear") }
      guard anySet == 0 || anySet & ~clear != 0 else { throw fail(at + ".anySet", "every one of them must be clear") }
      result.append(EntryCondition(level: level, set: set, clear: clear, anySet: anySet))
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
    guard !result.isEmpty else { throw fail(path, "must name at least one difference kind") }
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
