import Foundation
import GuestABI
import Machine

/// The guest state `mmlab bench` validates, in the figures that make it realistic.
public struct ValidationState: Sendable, Equatable {
  /// Processes with a slot in the guest's process table.
  public var processes: Int
  /// Valid 4 KiB leaf PTEs outside the debug windows (the validator's accounted leaves).
  public var validLeafPTEs: Int
  /// Pages on the zeroed list: the validator reads each back whole.
  public var zeroedPages: UInt64
  public var pfns: UInt64

  public init(processes: Int, validLeafPTEs: Int, zeroedPages: UInt64, pfns: UInt64) {
    self.processes = processes
    self.validLeafPTEs = validLeafPTEs
    self.zeroedPages = zeroedPages
    self.pfns = pfns
  }
}

/// Why `mmlab bench` refused to quote a validation figure.
public enum BenchmarkError: Error, CustomStringConvertible, Equatable {
  /// The validated guest broke invariants: how many, and the first few.
  case validationNotClean(count: Int, first: [MmViolation])
  /// The validated guest is not in the state the figure claims: each shortfall.
  case stateNotRealistic([String])

  public var description: String {
    switch self {
    case .validationNotClean(let count, let first):
      return "the bench's validation guest is not clean (\(count) violations); the first:\n"
        + first.map { "  \($0)" }.joined(separator: "\n")
    case .stateNotRealistic(let shortfalls):
      return "the bench's validation guest is not in a realistic state: " + shortfalls.joined(separator: "; ")
    }
  }
}

extension BenchmarkReport {
  /// The checkpoint the validation figure is measured at: the end of the
  /// generated stress run (`mmlab script --generate stress`).
  public static let validationCheckpoint = "stress-4000"
  public static let validationStressSeed: UInt64 = 1
  public static let validationStressSteps = 4000
  /// Pages each stress process touches before its random calls (one demand-zero fault each, ~1 ms on kvm-pvm).
  public static let validationResidentPages: UInt64 = 768
  /// What the validated state must show for the figure to be quoted.
  public static let minimumValidationProcesses = 2
  public static let minimumValidLeafPTEs = 2_000
  /// Violations named when a validation is refused.
  static let violationsNamed = 5

  /// The guest's command line for the validation figure in a guest of
  /// `memoryMiB`: a third of RAM stocked on the zeroed list (the stress run
  /// takes some; a quarter must remain).
  public static func validationCommandLine(memoryMiB: Int) -> [String] {
    [String(describing: GuestCommandLine.zeroedPagesPrefix) + String(UInt64(memoryMiB) * 256 / 3)]
  }

  /// The figures of `state` as validated in `report`; throws, naming the first
  /// violations, unless the validation is clean, then, naming each shortfall, unless
  /// the state has the processes, valid PTEs and zeroed pages (a quarter of RAM) a
  /// realistic guest has.
  public static func requireRealisticCleanState(_ report: MmValidationReport, state: MmState) throws(BenchmarkError)
    -> ValidationState
  {
    guard report.isClean else {
      throw .validationNotClean(count: report.violationCount, first: Array(report.violations.prefix(violationsNamed)))
    }
    let figures = ValidationState(
      processes: state.processes.count, validLeafPTEs: report.accountedLeaves,
      zeroedPages: state.listHead(.zeroed)?.total ?? 0, pfns: state.pfnCount)
    var shortfalls: [String] = []
    if figures.processes < minimumValidationProcesses {
      shortfalls.append("processes: \(figures.processes) (at least \(minimumValidationProcesses) needed)")
    }
    if figures.validLeafPTEs < minimumValidLeafPTEs {
      shortfalls.append("valid leaf PTEs: \(figures.validLeafPTEs) (at least \(minimumValidLeafPTEs) needed)")
    }
    if figures.zeroedPages < figures.pfns / 4 {
      shortfalls.append(
        "zeroed pages: \(figures.zeroedPages) (at least a quarter of the \(figures.pfns) PFNs, \(figures.pfns / 4), needed)"
      )
    }
    guard shortfalls.isEmpty else { throw .stateNotRealistic(shortfalls) }
    return figures
  }

  /// Times `runs` full validations of the guest `snapshot` holds in its realistic
  /// state, each followed by a plain read of the bytes it reads (the memory-bandwidth floor),
  /// after checking that state; returns both sets of milliseconds, the bytes read and the state.
  static func timeValidation(_ snapshot: GuestSnapshot, runs: Int) throws -> (
    validation: [Double], plainRead: [Double], plainReadBytes: UInt64, state: ValidationState
  ) {
    let state = try ScenarioValidation.state(of: snapshot)
    let validator = MmValidator(state: state, maxPhysicalAddressBits: snapshot.maxPhysicalAddressBits)
    let figures = try requireRealisticCleanState(validator.validate(), state: state)
    let readBack = bytesValidatorReads(state)
    let firstSum = sumOfWords(readBack)
    var validation: [Double] = []
    var plainRead: [Double] = []
    for _ in 0..<runs {
      var start = ContinuousClock.now
      let report = validator.validate()
      validation.append(milliseconds(ContinuousClock.now - start))
      _ = try requireRealisticCleanState(report, state: state)
      start = ContinuousClock.now
      let sum = sumOfWords(readBack)
      plainRead.append(milliseconds(ContinuousClock.now - start))
      // Also what keeps the read from being optimized away.
      guard sum == firstSum else { throw SessionError.inspection("the stopped guest's RAM changed between two reads") }
    }
    return (validation, plainRead, UInt64(readBack.reduce(0) { $0 + $1.count }), figures)
  }

  /// The bulk of what the validator reads of guest RAM: the PFN database and
  /// every page on the zeroed list (each read back whole), found before timing.
  static func bytesValidatorReads(_ state: MmState) -> [UnsafeRawBufferPointer] {
    var ranges = [state.pfnDatabase]
    for pfn in 0..<state.pfnCount where state.frame(pfn)?.location == .zeroed {
      if let page = state.memory.bytes(at: pfn << 12, count: 4096) { ranges.append(page) }
    }
    return ranges
  }

  /// The wrapping sum of every 64-bit word of `ranges`: a plain read of them.
  static func sumOfWords(_ ranges: [UnsafeRawBufferPointer]) -> UInt64 {
    var sum: UInt64 = 0
    for range in ranges {
      guard let base = range.baseAddress else { continue }
      let words = UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt64.self), count: range.count / 8)
      for word in words { sum &+= word }
    }
    return sum
  }
}
