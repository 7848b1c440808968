import Dispatch
import Foundation
import GuestABI
import Inspect
import Machine
import Synchronization

/// Family names by what they depend on (a case less its entry flags): the
/// runner asks for one per case, and building it is string work.
struct FamilyNameCache {
  private var names: [PagingCase: String] = [:]

  mutating func name(of c: PagingCase, in suite: any CaseSuite) -> String {
    var key = c
    if !c.controlWrite {  // a control write's words are the write, and its family is per write
      key.pml4e = c.explicitAddress ? c.pml4e >> 47 : 0  // canonical cases: which half, not the address
      key.pdpte = 0
      key.pde = 0
    }
    key.pte = 0
    key.mutation = 0
    if let name = names[key] { return name }
    let name = suite.family(of: c)
    names[key] = name
    return name
  }
}

/// What `mmlab conformance` was asked to run.
public struct ConformanceOptions: Sendable {
  public var suites: [ConformanceSuite]
  /// Only cases whose family or description contains this (case-insensitive).
  public var filter: String?
  /// This run is shard `index` (1-based) of `count`: every `count`th case.
  public var shard: (index: Int, count: Int)?
  /// Guests run in parallel, each on its own share of the cases.
  public var jobs: Int
  public var boot: BootOptions
  public var errata: Errata
  /// Machines the jobs spread over (`--hosts`): job j boots on
  /// `hosts[j % hosts.count]`; empty means every job uses `boot.backend`.
  public var hosts: [Backend] = []

  public init(
    suites: [ConformanceSuite], filter: String? = nil, shard: (index: Int, count: Int)? = nil, jobs: Int = 1,
    boot: BootOptions = BootOptions(), errata: Errata
  ) {
    self.suites = suites
    self.filter = filter
    self.shard = shard
    self.jobs = jobs
    self.boot = boot
    self.errata = errata
  }
}

/// Runs the suites: boots one guest to learn the CPU, selects and skips
/// cases, spreads the rest over `jobs` guests, judges every observation and
/// folds it into its family.
public struct ConformanceRunner: Sendable {
  public let options: ConformanceOptions
  /// Called with the number of cases finished so far (any thread).
  public var progress: (@Sendable (Int, Int) -> Void)?

  public init(options: ConformanceOptions, progress: (@Sendable (Int, Int) -> Void)? = nil) {
    self.options = options
    self.progress = progress
  }

  /// The whole run's report.
  public func run() throws -> ConformanceReport {
    let start = DispatchTime.now()
    let probe = try ConformanceGuest(options: options.boot)
    let capabilities = probe.capabilities
    let platform = probe.session.machine.platform
    var families: [String: FamilyResult] = [:]
    var order: [String] = []
    var work: [(suite: any CaseSuite, indices: [Int])] = []
    for suite in options.suites where suite != .mm {
      let cases = Self.suite(suite, capabilities: capabilities)
      work.append((cases, select(cases, platform: platform.hypervisor.rawValue, into: &families, order: &order)))
    }
    var tally = AttemptTally()
    runJobs(
      work, capabilities: capabilities, first: probe, platform: platform, into: &families, order: &order,
      tally: &tally)
    if options.suites.contains(.mm) {
      for family in try MmSuite.run(boot: options.boot, shard: options.shard, filter: options.filter) {
        families[family.name] = family
        order.append(family.name)
      }
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    var report = ConformanceReport(
      platform: platform.description, suites: options.suites,
      shard: options.shard.map { "\($0.index)/\($0.count)" }, families: order.compactMap { families[$0] },
      seconds: seconds)
    report.attempts = tally
    report.cpu = capabilities.summary
    return report
  }

  /// The cases of `suite` for this CPU.
  public static func suite(_ suite: ConformanceSuite, capabilities: GuestCapabilities) -> any CaseSuite {
    let features = CPUFeatures(capabilities.features)
    switch suite {
    case .paging:
      return PagingSuite(
        space: .paging(maxPhysicalAddressBits: capabilities.maxPhysicalAddressBits, features: features),
        capabilities: capabilities)
    case .canonical:
      return PagingSuite(
        space: .canonical(maxPhysicalAddressBits: capabilities.maxPhysicalAddressBits, features: features),
        capabilities: capabilities)
    case .tlb: return TLBSuite(capabilities: capabilities)
    case .controls, .mm: return ControlsSuite(features: capabilities.features)
    }
  }

  /// The indices of `suite` this run executes (shard, filter), with every
  /// case the CPU cannot run counted as skipped in its family instead.
  func select(
    _ suite: any CaseSuite, platform: String, into families: inout [String: FamilyResult], order: inout [String]
  ) -> [Int] {
    var indices: [Int] = []
    var names = FamilyNameCache()
    indices.reserveCapacity(suite.count / (options.shard?.count ?? 1) + 1)
    for index in 0..<suite.count {
      if let shard = options.shard, index % shard.count != shard.index - 1 { continue }
      let c = suite.case(at: index)
      if let filter = options.filter, !suite.matches(c, filter: filter) { continue }
      let name = names.name(of: c, in: suite)
      if families[name] == nil {
        families[name] = FamilyResult(suite: suite.suite, name: name)
        order.append(name)
      }
      if let reason = suite.skipReason(for: c) {
        families[name]!.record(.skipped, skipReason: reason)
      } else if let erratum = options.errata.skipping(c, platform: platform) {
        families[name]!.record(.skipped, skipReason: Self.skipReason(erratum))
      } else {
        indices.append(index)
      }
    }
    return indices
  }

  /// The skip reason of a case a skip erratum keeps from running: it names
  /// the erratum, so reports (JUnit `<skipped>`, TAP `# SKIP`) carry its id.
  public static func skipReason(_ erratum: Erratum) -> String {
    "erratum \(erratum.id): not run on \(erratum.platform), it takes the guest down"
  }

  /// Spreads every suite's selected cases over the jobs: job 0 uses the
  /// probe guest, the others boot their own. A job whose guest fails keeps
  /// what it judged so far and adds a failed `runner/job-N` family naming
  /// the error: the report is never lost to one guest.
  func runJobs(
    _ work: [(suite: any CaseSuite, indices: [Int])], capabilities: GuestCapabilities, first: ConformanceGuest,
    platform: Platform,
    into families: inout [String: FamilyResult], order: inout [String], tally: inout AttemptTally
  ) {
    let total = work.reduce(0) { $0 + $1.indices.count }
    let jobs = max(1, min(options.jobs * max(options.hosts.count, 1), total / 1000 + 1))
    let done = Atomic<Int>(0)
    let results = Mutex<[(Int, [String: FamilyResult], AttemptTally)]>([])
    let firstGuest = Mutex<ConformanceGuest?>(first)
    DispatchQueue.concurrentPerform(iterations: jobs) { job in
      var mine: [String: FamilyResult] = [:]
      var counted = AttemptTally()
      do {
        var boot = options.boot
        if !options.hosts.isEmpty { boot.backend = options.hosts[job % options.hosts.count] }
        let guest = try firstGuest.withLock { $0.take() } ?? ConformanceGuest(options: boot)
        for (shared, indices) in work {
          // A suite of the job's own: shared ones' storage would have every
          // job's reference counting fight over the same cache lines.
          let suite = Self.suite(shared.suite, capabilities: capabilities)
          let share = Array(indices[indices.count * job / jobs..<indices.count * (job + 1) / jobs])
          try runShare(suite, share[...], guest: guest, platform: platform, into: &mine, tally: &counted) { finished in
            progress?(done.add(finished, ordering: .relaxed).newValue, total)
          }
        }
        counted.blocks += Int(guest.totalTicks.blocks)
        try guest.finish()
      } catch {
        var failure = FamilyResult(suite: work.first?.suite.suite ?? .paging, name: "runner/job-\(job + 1)")
        failure.record(
          .failed,
          mismatch: Mismatch(
            caseDescription: "guest of job \(job + 1) of \(jobs)", expected: "the guest runs its share of the cases",
            observed: "\(error)"))
        mine[failure.name] = failure
      }
      results.withLock { [mine, counted] in $0.append((job, mine, counted)) }
    }
    for (_, found, counted) in results.withLock({ $0 }).sorted(by: { $0.0 < $1.0 }) {
      tally.add(counted)
      for (name, family) in found.sorted(by: { $0.key < $1.key }) {
        if families[name] == nil {
          families[name] = family
          order.append(name)
        } else {
          families[name]!.merge(family)
        }
      }
    }
  }

  /// Runs one job's share of a suite in requests of `ConformanceABI.capacity`,
  /// each sorted by controls so blocks fill, judging every observation.
  func runShare(
    _ suite: any CaseSuite, _ indices: ArraySlice<Int>, guest: ConformanceGuest, platform: Platform,
    into families: inout [String: FamilyResult], tally: inout AttemptTally, finished: (Int) -> Void
  ) throws {
    var names = FamilyNameCache()
    var start = indices.startIndex
    while start < indices.endIndex {
      let end = min(start + ConformanceABI.capacity, indices.endIndex)
      // Sorted by controls so blocks fill; ties keep the suite's order, so
      // which case runs first in a block (what errata may name) is fixed.
      let cases = indices[start..<end].map { ($0, suite.case(at: $0)) }.sorted {
        ($0.1.controls.rawValue, $0.1.upperHalf ? 1 : 0, $0.0) < ($1.1.controls.rawValue, $1.1.upperHalf ? 1 : 0, $1.0)
      }.map(\.1)
      let began = DispatchTime.now()
      try guest.run(cases) { n, observed in
        record(
          suite, cases[n], name: names.name(of: cases[n], in: suite), observed: observed, platform: platform,
          into: &families)
        if !cases[n].controlWrite { Self.count(observed, user: cases[n].controls.contains(.userMode), into: &tally) }
      }
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - began.uptimeNanoseconds) / 1e9
      var perFamily: [String: Int] = [:]
      for c in cases { perFamily[names.name(of: c, in: suite), default: 0] += 1 }
      for (name, count) in perFamily { families[name]?.seconds += seconds * Double(count) / Double(cases.count) }
      finished(cases.count)
      start = end
    }
  }

  /// Adds an observation's attempts to the tally.
  static func count(_ observed: Observation, user: Bool, into tally: inout AttemptTally) {
    for (n, attempt) in observed.attempts.enumerated() {
      switch (user, attempt.vector == nil) {
      case (true, true) where n > 0: tally.userRepeated += 1
      case (true, true): tally.userCompleted += 1
      case (true, false): tally.userFaulted += 1
      case (false, true): tally.supervisorCompleted += 1
      case (false, false): tally.supervisorFaulted += 1
      }
    }
  }

  /// Judges one observation and adds it to its family: passed, failed, or
  /// expected-failed when an erratum for this platform explains it.
  func record(
    _ suite: any CaseSuite, _ c: PagingCase, name: String, observed: Observation, platform: Platform,
    into families: inout [String: FamilyResult]
  ) {
    if families[name] == nil { families[name] = FamilyResult(suite: suite.suite, name: name) }
    let judgement = suite.judge(c, observed: observed, details: false)
    if let tlb = suite as? TLBSuite, judgement.passed, tlb.sawStale(c, observed: observed) {
      families[name]!.staleTranslations += 1
    }
    guard !judgement.passed else {
      families[name]!.record(.passed)
      return
    }
    let erratum = options.errata.erratum(
      for: c, observed: observed, judgement: judgement, platform: platform.hypervisor.rawValue)
    let verdict: Verdict = erratum == nil ? .failed : .expectedFailure
    guard families[name]!.keepsMismatch(for: verdict) else {
      families[name]!.record(verdict, erratum: erratum?.id)
      return
    }
    let (expected, observedText) = suite.outcomes(c, observed: observed)
    let detailed = suite.judge(c, observed: observed, details: true)
    let mismatch = Mismatch(
      caseDescription: suite.describe(c), expected: expected,
      observed: observedText + " [" + detailed.summary + "]", erratum: erratum?.id)
    families[name]!.record(verdict, mismatch: mismatch)
  }
}
