import Dispatch
import GuestABI
import Inspect
import Machine
import Synchronization

/// What the platform must spend on an average `paging` case, from the
/// guest's own measurements in the same run: the access (a user access
/// through a fresh mapping, a supervisor load), the #PF round trip for a
/// faulting one, and the block's CR3 load shared by its cases. Entry writes
/// are not in it: the runner writes entries while no table is live, where a
/// store costs what any store does.
public struct EventFloor: Sendable, Hashable {
  /// Microseconds per event.
  public var userAccess: Double
  public var userFault: Double
  public var supervisorAccess: Double
  public var supervisorFault: Double
  public var rootLoad: Double
  /// The run's mix of attempts, and attempts per case.
  public var mix: AttemptTally
  public var attemptsPerCase: Double
  /// Cases per block (a block loads CR3 once).
  public var casesPerBlock: Double

  /// Microseconds the platform spends on an average case.
  public var microsecondsPerCase: Double {
    let total = Double(max(mix.total, 1))
    let perAttempt =
      (Double(mix.userCompleted) * userAccess + Double(mix.userFaulted) * userFault
        + Double(mix.supervisorCompleted) * supervisorAccess + Double(mix.supervisorFaulted) * supervisorFault) / total
    return perAttempt * attemptsPerCase + rootLoad / max(casesPerBlock, 1)
  }

  public var casesPerSecond: Double { 1e6 / max(microsecondsPerCase, 1e-9) }
}

/// `mmlab bench`'s conformance figures: the `paging` suite's rate over a
/// uniform sample (every `sampleEvery`th case, all jobs together) against the
/// event floor.
public struct ConformanceBenchmark: Sendable {
  public var cases: Int
  public var seconds: Double
  public var jobs: Int
  public var sampleEvery: Int
  public var floor: EventFloor
  public var platform: String

  public var casesPerSecond: Double { Double(cases) / max(seconds, 1e-9) }
  /// What `jobs` guests side by side could reach if each spent only the floor.
  public var floorCasesPerSecond: Double { floor.casesPerSecond * Double(jobs) }
  /// The runner's rate over the floor's, all jobs together (target: at least 2/3).
  public var floorRatio: Double { casesPerSecond / floorCasesPerSecond }
  public static let floorTargetRatio = 2.0 / 3.0

  /// Runs the sample through the suite's runner, then measures the floor on
  /// one more guest.
  public static func measure(boot: BootOptions, jobs: Int, sampleEvery: Int) throws -> ConformanceBenchmark {
    let options = ConformanceOptions(
      suites: [.paging], shard: sampleEvery > 1 ? (1, sampleEvery) : nil, jobs: jobs, boot: boot, errata: try .bundled)
    let report = try ConformanceRunner(options: options).run()
    let ran = report.total - report.skipped
    let floor = try measureFloorSideBySide(
      boot: boot, jobs: jobs, mix: report.attempts,
      attemptsPerCase: Double(report.attempts.total) / Double(max(ran, 1)),
      casesPerBlock: Double(ran) / Double(max(report.attempts.blocks, 1)))
    return ConformanceBenchmark(
      cases: ran, seconds: report.seconds, jobs: jobs, sampleEvery: sampleEvery, floor: floor,
      platform: report.platform)
  }

  /// The floor measured on `jobs` guests at once, as the suite's guests run:
  /// on a machine where guests slow each other down (a shared outer
  /// hypervisor, too few cores) the floor rises with them. The guests' mean.
  static func measureFloorSideBySide(
    boot: BootOptions, jobs: Int, mix: AttemptTally, attemptsPerCase: Double, casesPerBlock: Double
  ) throws -> EventFloor {
    let floors = Mutex<[Result<EventFloor, Error>]>([])
    DispatchQueue.concurrentPerform(iterations: max(jobs, 1)) { _ in
      let floor = Result {
        try measureFloor(boot: boot, mix: mix, attemptsPerCase: attemptsPerCase, casesPerBlock: casesPerBlock)
      }
      floors.withLock { $0.append(floor) }
    }
    let measured = try floors.withLock { $0 }.map { try $0.get() }
    var mean = measured[0]
    let count = Double(measured.count)
    mean.userAccess = measured.reduce(0) { $0 + $1.userAccess } / count
    mean.userFault = measured.reduce(0) { $0 + $1.userFault } / count
    mean.supervisorAccess = measured.reduce(0) { $0 + $1.supervisorAccess } / count
    mean.supervisorFault = measured.reduce(0) { $0 + $1.supervisorFault } / count
    mean.rootLoad = measured.reduce(0) { $0 + $1.rootLoad } / count
    return mean
  }

  /// The guest's measurements (bench.measure, bench.faults: the #PF round
  /// trips and a supervisor load) and the runner's calibration of a user
  /// access through a fresh mapping and of a block's fixed cost.
  static func measureFloor(
    boot: BootOptions, mix: AttemptTally, attemptsPerCase: Double, casesPerBlock: Double
  ) throws -> EventFloor {
    var measuring = boot
    measuring.commandLine += [
      String(describing: GuestCommandLine.measure), String(describing: GuestCommandLine.measureFaults),
    ]
    let guest = try ConformanceGuest(options: measuring)
    let machine = guest.session.machine
    guard let kHz = machine.timeStampCounterKHz, kHz > 0 else {
      throw ConformanceError.protocolViolation("the TSC frequency is unknown: the floor cannot be put in time")
    }
    func measured(_ kind: MeasurementKind) throws -> Double {
      guard let value = machine.measurements[kind.rawValue] else {
        throw ConformanceError.protocolViolation("the guest did not report measurement \(kind)")
      }
      return Double(value.medianTicks) * 1000 / Double(kHz)
    }
    // Two calibration requests of user reads through fresh, valid mappings:
    // 16 full blocks, then 16 blocks of one case each (alternating CR0.WP,
    // which a user read ignores, closes a block after every case). Their
    // difference separates the access from the block's fixed cost.
    let blocks = 16
    let full = calibrationCases(count: blocks * ConformanceABI.slotsPerHalf, alternating: false)
    try guest.run(full) { _, _ in }
    let fullTicks = Double(guest.lastTicks.access)
    let single = calibrationCases(count: blocks, alternating: true)
    try guest.run(single) { _, _ in }
    let singleTicks = Double(guest.lastTicks.access)
    try guest.finish()
    let microseconds = 1000 / Double(kHz)
    let userAccess = max(fullTicks - singleTicks, 0) / Double(full.count - single.count) * microseconds
    let block = max(singleTicks / Double(blocks) * microseconds - userAccess, 0)
    return EventFloor(
      userAccess: userAccess, userFault: try measured(.bareUserFault),
      supervisorAccess: try measured(.conformanceSupervisorAccess), supervisorFault: try measured(.pageFaultRoundTrip),
      rootLoad: block, mix: mix, attemptsPerCase: attemptsPerCase, casesPerBlock: casesPerBlock)
  }

  /// `count` user reads through fully permissive 4 KiB mappings; with
  /// `alternating`, every other case sets CR0.WP so each is a block of its own.
  static func calibrationCases(count: Int, alternating: Bool) -> [PagingCase] {
    (0..<count).map { n in
      PagingCase(
        pml4e: 0x27, pdpte: 0x27, pde: 0x27, pte: 0x67, leafLevel: 1,
        controls: alternating && n & 1 == 1 ? [.userMode, .writeProtect] : [.userMode], kind: .read, twice: false)
    }
  }
}
