/// How a case, a family of cases or a run ended.
public enum Verdict: String, Codable, Sendable, Hashable {
  /// The platform did what the model predicts.
  case passed
  /// It did not, and no erratum explains it.
  case failed
  /// It did not, and an erratum for this platform explains it.
  case expectedFailure = "expected-failure"
  /// Not run: the CPU lacks a feature the case needs, or a skip erratum keeps
  /// it from running on this platform (the reason says which).
  case skipped
}

/// One case whose observation differs from the model's prediction.
public struct Mismatch: Codable, Sendable, Hashable {
  /// The whole case: every level's entry, the controls, the access.
  public var caseDescription: String
  public var expected: String
  public var observed: String
  /// The erratum that explains it (its identifier), if any.
  public var erratum: String?

  public init(caseDescription: String, expected: String, observed: String, erratum: String? = nil) {
    self.caseDescription = caseDescription
    self.expected = expected
    self.observed = observed
    self.erratum = erratum
  }
}

/// A family of cases reported as one test (a JUnit test case, a TAP test
/// point): e.g. every 4 KiB case at CPL 3 under one set of controls.
public struct FamilyResult: Codable, Sendable, Hashable {
  public var suite: ConformanceSuite
  /// Stable, e.g. "paging/4k/cpl3/wp,nxe/read".
  public var name: String
  public var passed: Int
  public var failed: Int
  public var expectedFailures: Int
  public var skipped: Int
  /// Why the family (or part of it) was skipped: the first reason recorded.
  public var skipReason: String?
  /// Skipped cases by reason (every reason, exact counts).
  public var skippedByReason: [String: Int] = [:]
  /// Expected failures by the id of the erratum that explains them (exact).
  public var expectedByErratum: [String: Int] = [:]
  /// The mismatches, failed ones first; at most `mismatchLimit` kept, the
  /// counts above are complete.
  public var mismatches: [Mismatch]
  public var seconds: Double
  /// `tlb` cases whose second access still used the old translation where
  /// the architecture allows it (no covering invalidation yet): recorded,
  /// not failed.
  public var staleTranslations: Int = 0

  public static let mismatchLimit = 50

  public init(
    suite: ConformanceSuite, name: String, passed: Int = 0, failed: Int = 0, expectedFailures: Int = 0,
    skipped: Int = 0, skipReason: String? = nil, mismatches: [Mismatch] = [], seconds: Double = 0
  ) {
    self.suite = suite
    self.name = name
    self.passed = passed
    self.failed = failed
    self.expectedFailures = expectedFailures
    self.skipped = skipped
    self.skipReason = skipReason
    if skipped > 0 { skippedByReason[skipReason ?? "no reason given"] = skipped }
    self.mismatches = mismatches
    self.seconds = seconds
    // Given counts with example mismatches: each kept example counts for its
    // erratum, one erratum alone counts for them all, the rest is unattributed.
    let named = mismatches.compactMap(\.erratum)
    if expectedFailures > 0, Set(named).count == 1 {
      expectedByErratum[named[0]] = expectedFailures
    } else if expectedFailures > 0 {
      for erratum in named { expectedByErratum[erratum, default: 0] += 1 }
      if named.count < expectedFailures { expectedByErratum[Self.unattributedErratum] = expectedFailures - named.count }
    }
  }

  public var total: Int { passed + failed + expectedFailures + skipped }

  /// The family's verdict: failed if any case failed, else expected-failure
  /// if any was, else skipped if nothing ran, else passed.
  public var verdict: Verdict {
    if failed > 0 { return .failed }
    if expectedFailures > 0 { return .expectedFailure }
    if passed == 0 && skipped > 0 { return .skipped }
    return .passed
  }

  /// Adds one case's verdict (and its mismatch, kept while under the limit).
  /// An expected failure names its erratum (`erratum`, or the mismatch's);
  /// a skip its reason.
  public mutating func record(
    _ verdict: Verdict, mismatch: Mismatch? = nil, erratum: String? = nil, skipReason reason: String? = nil
  ) {
    switch verdict {
    case .passed: passed += 1
    case .failed: failed += 1
    case .expectedFailure:
      expectedFailures += 1
      expectedByErratum[erratum ?? mismatch?.erratum ?? Self.unattributedErratum, default: 0] += 1
    case .skipped:
      skipped += 1
      let why = reason ?? "no reason given"
      skipReason = skipReason ?? why
      skippedByReason[why, default: 0] += 1
    }
    guard let mismatch else { return }
    if mismatches.count < Self.mismatchLimit {
      mismatches.append(mismatch)
    } else if verdict == .failed, let index = mismatches.lastIndex(where: { $0.erratum != nil }) {
      mismatches[index] = mismatch  // an unexplained one is worth more than another example
    }
  }

  /// Whether `record(verdict, mismatch:)` would keep a mismatch: callers build
  /// one (strings for the whole case) only then.
  public func keepsMismatch(for verdict: Verdict) -> Bool {
    mismatches.count < Self.mismatchLimit || (verdict == .failed && mismatches.contains { $0.erratum != nil })
  }

  /// Folds another shard's result for the same family into this one.
  public mutating func merge(_ other: FamilyResult) {
    passed += other.passed
    failed += other.failed
    expectedFailures += other.expectedFailures
    skipped += other.skipped
    skipReason = skipReason ?? other.skipReason
    skippedByReason.merge(other.skippedByReason, uniquingKeysWith: +)
    expectedByErratum.merge(other.expectedByErratum, uniquingKeysWith: +)
    mismatches = Array((mismatches + other.mismatches).prefix(Self.mismatchLimit))
    seconds += other.seconds
    staleTranslations += other.staleTranslations
  }
}

/// How the accesses of a run ended, by privilege: the mix the event floor
/// (`mmlab bench`) is weighted by.
public struct AttemptTally: Codable, Sendable, Hashable {
  public var userCompleted = 0
  /// Second attempts of user cases that completed: a TLB hit, no event.
  public var userRepeated = 0
  public var userFaulted = 0
  public var supervisorCompleted = 0
  public var supervisorFaulted = 0
  public init() {}

  public var total: Int { userCompleted + userRepeated + userFaulted + supervisorCompleted + supervisorFaulted }
  /// Blocks the guest ran (each loads CR3 once).
  public var blocks = 0

  public mutating func add(_ other: AttemptTally) {
    userCompleted += other.userCompleted
    userRepeated += other.userRepeated
    blocks += other.blocks
    userFaulted += other.userFaulted
    supervisorCompleted += other.supervisorCompleted
    supervisorFaulted += other.supervisorFaulted
  }
}

/// A whole run: what `mmlab conformance` prints in every format.
public struct ConformanceReport: Codable, Sendable {
  /// The platform that answered (KVM flavour, shadow or two-dimensional paging).
  public var platform: String
  public var suites: [ConformanceSuite]
  /// "I/N" when this run is one shard, nil for a whole run.
  public var shard: String?
  public var families: [FamilyResult]
  public var seconds: Double
  /// Every access attempt the guest made (paging, canonical and tlb suites).
  public var attempts: AttemptTally = AttemptTally()
  /// The paging features the guest's CPUID reports, and its MAXPHYADDR.
  public var cpu: String = ""

  public init(
    platform: String, suites: [ConformanceSuite], shard: String? = nil, families: [FamilyResult] = [],
    seconds: Double = 0
  ) {
    self.platform = platform
    self.suites = suites
    self.shard = shard
    self.families = families
    self.seconds = seconds
  }

  public var passed: Int { families.reduce(0) { $0 + $1.passed } }
  public var failed: Int { families.reduce(0) { $0 + $1.failed } }
  public var expectedFailures: Int { families.reduce(0) { $0 + $1.expectedFailures } }
  public var skipped: Int { families.reduce(0) { $0 + $1.skipped } }
  public var total: Int { passed + failed + expectedFailures + skipped }
  /// Cases run (not skipped) per second of wall time.
  public var casesPerSecond: Double { seconds > 0 ? Double(total - skipped) / seconds : 0 }
  /// Cases that ran and were judged (passed, failed or expected to fail).
  public var judged: Int { passed + failed + expectedFailures }
  /// Why the run showed nothing, when it did not: no case selected, or every
  /// selected one skipped. Such a run fails, since it tested nothing.
  public var nothingTested: String? {
    if total == 0 { return "no case was selected: check --suite, --filter and --shard" }
    if judged == 0 { return "every selected case (\(ReportNumbers.cases(skipped))) was skipped: nothing was tested" }
    return nil
  }
  /// True when something was tested and nothing failed unexpectedly: the
  /// exit status is 0 exactly then.
  public var succeeded: Bool { failed == 0 && nothingTested == nil }
  /// Skip reasons with the number of cases each skipped, for the summary.
  public var skipReasons: [(reason: String, cases: Int)] {
    var counts: [String: Int] = [:]
    for family in families { counts.merge(family.skippedByReason, uniquingKeysWith: +) }
    return counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
  }
}
