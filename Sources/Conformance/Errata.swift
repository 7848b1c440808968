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

/// A condition on one entry of a case: flags that must be set, flags that
/// must be clear, and flags of which at least one must be set (names as
/// `CaseNames.flagNames` writes them).
public struct EntryCondition: Sendable, Hashable {
  /// 4 = PML4E ... 1 = PTE.
  public var level: Int
  public var set: UInt64
  public var clear: UInt64
  /// At least one of these is set; 0 means no such condition.
  public var anySet: UInt64 = 0

  public init(level: Int, set: UInt64 = 0, clear: UInt64 = 0, anySet: UInt64 = 0) {
    self.level = level
    self.set = set
    self.clear = clear
    self.anySet = anySet
  }

  func holds(_ entry: UInt64) -> Bool {
    entry & set == set && entry & clear == 0 && (anySet == 0 || entry & anySet != 0)
  }
}

/// One control-register write a `controls` erratum is about, in the case's
/// own words: the register and exactly the bits the write clears and sets.
public struct ControlWriteCondition: Sendable, Hashable {
  public var register: ConformanceRegister
  public var clear: UInt64
  public var set: UInt64

  public init(register: ConformanceRegister, clear: UInt64 = 0, set: UInt64 = 0) {
    self.register = register
    self.clear = clear
    self.set = set
  }

  /// True when `c` is exactly this write.
  func matches(_ c: PagingCase) -> Bool {
    c.controlWrite && c.pdpte == register.rawValue && c.pml4e == clear && c.pde == set
  }
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
  /// `controls` errata: the case is one of these writes.
  public var writes: [ControlWriteCondition] = []
  /// Conditions on what the runner recorded of the case's place in its
  /// block (`Observation.events`): each must hold (true) or not (false).
  public var firstUserUpperHalfAccess: Bool?
  /// The first attempt's observed exception and error code.
  public var firstAttempt: AttemptOutcome?
  /// The difference kinds the erratum explains: a case's differences must be
  /// exactly these, so an unrelated difference, or a missing one, still
  /// fails. Empty only for `skip` errata, whose cases do not run.
  public var differences: Set<DifferenceKind> = []
  /// Why a case may show only some of `differences` (nil: all of them, exactly).
  public var subsetBecause: String?

  public init() {}

  /// True when `c` meets every condition on the case itself.
  public func matches(_ c: PagingCase) -> Bool {
    if let leafLevel, c.explicitAddress || c.controlWrite || c.leafLevel != leafLevel { return false }
    if let user, c.controls.contains(.userMode) != user { return false }
    if let kinds, !kinds.contains(c.kind) { return false }
    if let twice, c.twice != twice { return false }
    if let upperHalf, c.upperHalf != upperHalf { return false }
    guard c.controls.isSuperset(of: controlsSet), c.controls.isDisjoint(with: controlsClear) else { return false }
    if !writes.isEmpty && !writes.contains(where: { $0.matches(c) }) { return false }
    return entries.allSatisfy { $0.holds(c.entry(level: $0.level)) }
  }

  /// True when the observation meets every condition on what was recorded.
  public func matches(_ observed: Observation?) -> Bool {
    guard firstUserUpperHalfAccess != nil || firstAttempt != nil else { return true }
    guard let observed else { return false }
    if let first = firstUserUpperHalfAccess, observed.events.contains(.firstUserUpperHalfAccess) != first {
      return false
    }
    if let firstAttempt {
      guard let attempt = observed.attempts.first, attempt.vector == firstAttempt.vector,
        attempt.errorCode == firstAttempt.errorCode
      else { return false }
    }
    return true
  }

  /// True when the erratum explains a case differing in exactly `kinds`
  /// (or, with `subsetBecause`, in some of them).
  public func explains(_ kinds: Set<DifferenceKind>) -> Bool {
    guard !kinds.isEmpty, !differences.isEmpty else { return false }
    return subsetBecause == nil ? kinds == differences : kinds.isSubset(of: differences)
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
  /// down (reported as skipped, with this erratum's id).
  public var skip: Bool = false

  /// True when `c` must not run on `platform` (a `skip` erratum matches it).
  public func skips(_ c: PagingCase, platform: String) -> Bool {
    skip && self.platform == platform && suite == c.suite && match.matches(c)
  }

  /// True when this erratum explains `c`, observed as `observed`, differing
  /// in `kinds` on `platform`.
  public func explains(
    _ c: PagingCase, observed: Observation?, differences kinds: Set<DifferenceKind>, platform: String
  ) -> Bool {
    !skip && self.platform == platform && suite == c.suite && match.explains(kinds) && match.matches(c)
      && match.matches(observed)
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
///                  "entries": { "pte": { "set": ["P"], "clear": ["W"], "anySet": ["R13", "R14"] } },
///                  "firstUserUpperHalfAccess": true, "firstAttempt": { "vector": 14, "errorCode": 4 },
///                  "differences": ["accessed-bit"] },
///       "explanation": "…" }
///
/// Every key of "match" but "differences" is optional; "access" may be a
/// string or an array; controls are wp, nxe, smep, smap, ac, pke; flags are
/// P W U PWT PCD A D PS G NX PAT, Rn or bitN (bit n), KEYn; difference kinds
/// are `DifferenceKind`'s raw values. A case's differences must be exactly
/// "differences", unless "subsetBecause" says why some may be missing.
/// `controls` errata name their writes with "write": one object or an array
/// of `{"register": "cr0"|"cr4"|"efer", "clear": [bit numbers], "set": [bit
/// numbers]}`, each matching exactly that write. A `"skip": true` erratum
/// keeps its cases from running and has no "differences". Unknown keys and
/// names are errors, so a typo cannot silently widen an erratum.
public struct Errata: Sendable {
  public var about: String?
  public var errata: [Erratum]

  public init(about: String? = nil, errata: [Erratum] = []) {
    self.about = about
    self.errata = errata
  }

  /// The erratum that explains `c`, observed as `observed`, differing in
  /// `kinds` on `platform`, if any.
  public func erratum(
    for c: PagingCase, observed: Observation? = nil, differences kinds: Set<DifferenceKind>, platform: String
  ) -> Erratum? {
    errata.first { $0.explains(c, observed: observed, differences: kinds, platform: platform) }
  }

  /// The `skip` erratum that keeps `c` from running on `platform`, if any.
  public func skipping(_ c: PagingCase, platform: String) -> Erratum? {
    errata.first { $0.skips(c, platform: platform) }
  }

  /// The same for a judgement.
  public func erratum(
    for c: PagingCase, observed: Observation? = nil, judgement: Judgement, platform: String
  ) -> Erratum? {
    erratum(for: c, observed: observed, differences: judgement.kinds, platform: platform)
  }

  /// The errata in the file at `url`.
  public static func load(from url: URL) throws(ErrataError) -> Errata {
    let data: Data
    do {
      data = Data(try InputFile.read(url.path, limit: 1 << 26))
    } catch {
      throw ErrataError(source: url.path, problem: error.reason)
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
