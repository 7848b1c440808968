import Foundation
import GuestABI
import Machine
import X86Paging

/// What `mmlab bench` measures, and how often.
public struct BenchmarkOptions: Sendable {
  public var boot: BootOptions
  /// Boots timed for the boot figure.
  public var bootRuns: Int
  /// Full walks timed for the walk figure.
  public var walkRuns: Int

  /// Boots the guest the validation figure is measured on, in the state it
  /// claims (`mmlab bench` runs the generated stress script to its end).
  public var validationGuest: @Sendable (BootOptions) throws -> GuestSnapshot

  public init(
    boot: BootOptions = BootOptions(), bootRuns: Int = 21, walkRuns: Int = 21,
    validationGuest: @escaping @Sendable (BootOptions) throws -> GuestSnapshot
  ) {
    self.boot = boot
    self.bootRuns = bootRuns
    self.walkRuns = walkRuns
    self.validationGuest = validationGuest
  }
}

/// Median, minimum and maximum of a set of samples.
public struct Spread: Sendable, Equatable {
  public var median: Double
  public var minimum: Double
  public var maximum: Double
  public var count: Int

  public init(_ samples: [Double]) {
    let sorted = samples.sorted()
    count = sorted.count
    minimum = sorted.first ?? 0
    maximum = sorted.last ?? 0
    guard !sorted.isEmpty else {
      median = 0
      return
    }
    median =
      sorted.count % 2 == 1
      ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
  }
}

/// One floor cost the guest measured with rdtsc.
public struct FloorCost: Sendable, Equatable {
  public var kind: MeasurementKind
  public var medianTicks: UInt64
  public var iterations: UInt64
  /// nil when the TSC frequency is unknown.
  public var nanoseconds: Double?

  public var name: String {
    switch kind {
    case .pageFaultRoundTrip: "#PF round trip (fault, handler, IRETQ)"
    case .invlpg: "INVLPG"
    case .livePageTableWrite: "write to a live page-table page"
    case .portExit: "port I/O exit to the host"
    case .demandZeroFault: "demand-zero fault from user mode (mmlab's Mm)"
    case .bareUserFault: "bare #PF round trip from user mode (handler stores a prepared PTE)"
    case .conformanceSupervisorAccess: "supervisor load through a valid mapping (emulated on kvm-pvm)"
    case .diskRead64K: "raw virtio-blk read of 64 KiB (guest driver, polled)"
    case .diskRead1M: "raw virtio-blk read of 1 MiB (guest driver, polled)"
    case .diskWrite64K: "raw virtio-blk write of 64 KiB (guest driver, polled)"
    case .diskWrite1M: "raw virtio-blk write of 1 MiB (guest driver, polled)"
    }
  }
}

/// The figures of one `mmlab bench` run.
public struct BenchmarkReport: Sendable {
  public var platform: Platform
  /// Milliseconds from VM creation to the first checkpoint.
  public var boot: Spread
  /// Leaves per walk of the guest's tables with the bench region mapped.
  public var walkLeaves: Int
  public var walkTables: Int
  /// Leaf PTEs per second, per walk.
  public var walkRate: Spread
  public var floorCosts: [FloorCost]
  public var tscKHz: UInt64?
  /// Microseconds per first touch of an anonymous page by a Linux process on the host (context).
  public var hostPageFault: Spread
  /// Milliseconds for a full validation of the guest in `validationState`.
  public var validation: Spread
  /// Milliseconds for a plain read of the bytes the validation reads (the PFN database and the zeroed pages), timed in the same runs.
  public var plainRead: Spread
  public var plainReadBytes: UInt64
  public var validationState: ValidationState
  /// RAM of the guest validated, in MiB.
  public static let validationMemoryMiB = 1024

  /// Targets the issues set.
  public static let bootTargetMilliseconds = 2.0
  public static let walkTargetLeavesPerSecond = 50_000_000.0
  public static let demandZeroTargetRatio = 1.25
  public static let validationTargetMilliseconds = 20.0

  /// Validations timed, and plain reads.
  public static let validationRuns = 11

  /// Validation time over the plain read of the same bytes.
  public var validationToReadRatio: Double? { plainRead.median > 0 ? validation.median / plainRead.median : nil }

  /// Demand-zero fault cost over the bare round trip, measured in the same boot.
  public var demandZeroRatio: Double? {
    guard let zero = floorCosts.first(where: { $0.kind == .demandZeroFault }),
      let bare = floorCosts.first(where: { $0.kind == .bareUserFault }), bare.medianTicks > 0
    else { return nil }
    return Double(zero.medianTicks) / Double(bare.medianTicks)
  }

  /// Runs every measurement.
  public static func measure(_ options: BenchmarkOptions) throws -> BenchmarkReport {
    let image = try Session.loadImage(options.boot.imagePath, ramSize: UInt64(options.boot.memoryMiB) << 20)
    var bootSamples: [Double] = []
    var platform: Platform?
    for _ in 0..<max(1, options.bootRuns) {
      let start = ContinuousClock.now
      let session = try Session(image: image, options: options.boot)
      try session.run(toCheckpoint: nil)
      bootSamples.append(milliseconds(ContinuousClock.now - start))
      platform = session.machine.platform
    }

    var measuring = options.boot
    measuring.commandLine += [
      String(describing: GuestCommandLine.mapLargeRegion), String(describing: GuestCommandLine.measure),
      String(describing: GuestCommandLine.measureFaults),
    ]
    let session = try Session(image: image, options: measuring)
    let mapped = try session.run(toCheckpoint: String(describing: CheckpointCode.largeRegionMapped.name))
    let snapshot = try GuestSnapshot(session: session, checkpoint: mapped)
    let (leaves, tables, rates) = timeWalks(snapshot, runs: max(1, options.walkRuns))
    try session.run(toCheckpoint: String(describing: CheckpointCode.measured.name))
    let tscKHz = session.machine.timeStampCounterKHz
    let costs = MeasurementKind.allCases.compactMap { kind -> FloorCost? in
      guard let measured = session.machine.measurements[kind.rawValue] else { return nil }
      let nanoseconds = tscKHz.map { Double(measured.medianTicks) * 1_000_000 / Double($0) }
      return FloorCost(
        kind: kind, medianTicks: measured.medianTicks, iterations: measured.iterations, nanoseconds: nanoseconds)
    }
    var large = options.boot
    large.memoryMiB = validationMemoryMiB
    let timed = try timeValidation(try options.validationGuest(large), runs: validationRuns)
    return BenchmarkReport(
      platform: platform ?? session.machine.platform, boot: Spread(bootSamples), walkLeaves: leaves,
      walkTables: tables, walkRate: Spread(rates), floorCosts: costs, tscKHz: tscKHz,
      hostPageFault: Spread(hostPageFaultMicroseconds()), validation: Spread(timed.validation),
      plainRead: Spread(timed.plainRead), plainReadBytes: timed.plainReadBytes, validationState: timed.state)
  }

  /// A Linux process on the host touching fresh anonymous pages: µs per page, per batch of 4,096.
  static func hostPageFaultMicroseconds() -> [Double] {
    let pages = 4096
    var samples: [Double] = []
    for _ in 0..<5 {
      // SAFETY: a private anonymous mapping this function owns and unmaps.
      guard let region = mmap(nil, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
        region != MAP_FAILED
      else { continue }
      let bytes = region.assumingMemoryBound(to: UInt8.self)
      let start = ContinuousClock.now
      for page in 0..<pages { bytes[page * 4096] = 1 }
      samples.append(milliseconds(ContinuousClock.now - start) * 1000 / Double(pages))
      munmap(region, pages * 4096)
    }
    return samples
  }

  /// Times full walks of the snapshot's tables; returns leaves, tables and leaves/s per run.
  static func timeWalks(_ snapshot: GuestSnapshot, runs: Int) -> (Int, Int, [Double]) {
    let context = snapshot.pagingContext
    var rates: [Double] = []
    var summary = EnumerationSummary(mode: context.mode)
    for _ in 0..<runs {
      var checksum: UInt64 = 0
      let start = ContinuousClock.now
      summary = snapshot.memory.forEachLeaf(context: context) { checksum &+= $0.physicalAddress }
      let seconds = milliseconds(ContinuousClock.now - start) / 1000
      precondition(checksum != 1, "keeps the walk from being optimized away")
      rates.append(Double(summary.leafCount) / max(seconds, 1e-9))
    }
    return (summary.leafCount, summary.tableCount, rates)
  }
}

func milliseconds(_ duration: Duration) -> Double {
  Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

extension MeasurementKind: CaseIterable {
  public static var allCases: [MeasurementKind] {
    [.pageFaultRoundTrip, .invlpg, .livePageTableWrite, .portExit, .bareUserFault, .demandZeroFault]
      + [.conformanceSupervisorAccess]
  }
}
