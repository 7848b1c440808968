import GuestABI
import X86Paging

/// The suites `mmlab conformance --suite` runs.
public enum ConformanceSuite: String, CaseIterable, Sendable, Codable {
  /// The combination space: entry flags at every level × CPU controls × access.
  case paging
  /// Invalidation: INVLPG, CR3 loads with and without PCID, global pages.
  case tlb
  /// Non-canonical linear addresses raise #GP(0).
  case canonical
  /// Writes to CR0, CR4 and EFER: what sticks, and #GP where the SDM says so.
  case controls
  /// The memory manager's scenarios, validated at every checkpoint.
  case mm
}

/// One case of the `paging` and `canonical` suites: what the guest's runner
/// builds and performs (`ConformanceCaseRecord`), as plain data.
public struct PagingCase: Hashable, Sendable {
  /// Flags (no address bits) of the PML4E, PDPTE, PDE and PTE; levels below
  /// the leaf are 0. For an explicit-address case `pml4e` is the address.
  public var pml4e: UInt64
  public var pdpte: UInt64
  public var pde: UInt64
  public var pte: UInt64
  /// 1 (4 KiB page), 2 (2 MiB) or 3 (1 GiB).
  public var leafLevel: Int
  public var controls: ConformanceControls
  public var kind: ConformanceAccessKind
  public var twice: Bool
  /// The case accesses `pml4e` as a linear address through the runner's own
  /// tables (no entries of its own): the `canonical` suite.
  public var explicitAddress: Bool
  /// The case's tables sit in a PML4 slot of the upper half (256-510) rather
  /// than the lower (0-254): its linear address is a kernel-half one.
  public var upperHalf: Bool
  /// `tlb` cases: the leaf's new flags (`ConformanceABI.remapToSecondTarget`
  /// for the second target page) and the invalidation between the attempts.
  public var mutation: UInt64
  public var invalidation: ConformanceInvalidation?
  /// `controls` cases: write a control register instead of accessing memory
  /// (`pml4e` = bits to clear, `pdpte` = the `ConformanceRegister`, `pde` = bits to set).
  public var controlWrite: Bool

  public init(
    pml4e: UInt64, pdpte: UInt64, pde: UInt64, pte: UInt64, leafLevel: Int, controls: ConformanceControls,
    kind: ConformanceAccessKind, twice: Bool, explicitAddress: Bool = false, upperHalf: Bool = false,
    mutation: UInt64 = 0, invalidation: ConformanceInvalidation? = nil, controlWrite: Bool = false
  ) {
    self.pml4e = pml4e
    self.pdpte = pdpte
    self.pde = pde
    self.pte = pte
    self.leafLevel = leafLevel
    self.controls = controls
    self.kind = kind
    self.twice = twice
    self.explicitAddress = explicitAddress
    self.upperHalf = upperHalf
    self.mutation = mutation
    self.invalidation = invalidation
    self.controlWrite = controlWrite
  }

  /// The entry flags by level (4 = PML4E ... 1 = PTE).
  public func entry(level: Int) -> UInt64 {
    switch level {
    case 4: return pml4e
    case 3: return pdpte
    case 2: return pde
    default: return pte
    }
  }

  /// The access word of the case record.
  public var accessWord: ConformanceAccessWord {
    ConformanceAccessWord(
      kind: kind, twice: twice, leafLevel: leafLevel, explicitAddress: explicitAddress, upperHalf: upperHalf,
      invalidation: invalidation, controlWrite: controlWrite)
  }

  /// Writes the case record (`ConformanceCaseRecord`) at `record`.
  public func encode(into record: UnsafeMutableRawPointer) {
    record.storeBytes(of: pml4e, toByteOffset: ConformanceCaseRecord.entries, as: UInt64.self)
    record.storeBytes(of: pdpte, toByteOffset: ConformanceCaseRecord.entries + 8, as: UInt64.self)
    record.storeBytes(of: pde, toByteOffset: ConformanceCaseRecord.entries + 16, as: UInt64.self)
    record.storeBytes(of: pte, toByteOffset: ConformanceCaseRecord.entries + 24, as: UInt64.self)
    record.storeBytes(of: controls.rawValue, toByteOffset: ConformanceCaseRecord.controls, as: UInt64.self)
    record.storeBytes(of: accessWord.rawValue, toByteOffset: ConformanceCaseRecord.access, as: UInt64.self)
    record.storeBytes(of: mutation, toByteOffset: ConformanceCaseRecord.mutation, as: UInt64.self)
  }
}

/// What one attempt at the access did.
public struct AttemptOutcome: Hashable, Sendable {
  /// The exception vector, nil when the access completed.
  public var vector: UInt32?
  public var errorCode: UInt32
  /// CR2 after a #PF (0 otherwise).
  public var faultAddress: UInt64

  public init(vector: UInt32?, errorCode: UInt32 = 0, faultAddress: UInt64 = 0) {
    self.vector = vector
    self.errorCode = errorCode
    self.faultAddress = faultAddress
  }

  public static let completed = AttemptOutcome(vector: nil)
}

/// What the guest recorded for one case (`ConformanceResultRecord`).
public struct Observation: Hashable, Sendable {
  public var linearAddress: UInt64
  /// One attempt, or two for `twice` cases.
  public var attempts: [AttemptOutcome]
  /// PML4E, PDPTE, PDE, PTE after the accesses (0 below the leaf).
  public var finalEntries: [UInt64]
  /// What the last read attempt read (a target's marker), or a control
  /// register's value after a control write that did not fault.
  public var valueRead: UInt64
  /// Where the case stood in its block's run (the first user access through
  /// the upper half since a CR3 load, ...): what errata may condition on.
  public var events: ConformanceResultEvents

  public init(
    linearAddress: UInt64, attempts: [AttemptOutcome], finalEntries: [UInt64], valueRead: UInt64 = 0,
    events: ConformanceResultEvents = []
  ) {
    self.linearAddress = linearAddress
    self.attempts = attempts
    self.finalEntries = finalEntries
    self.valueRead = valueRead
    self.events = events
  }

  /// Decodes the result record at `record` for a case that ran `attempts` times.
  public init(record: UnsafeRawPointer, attempts count: Int) {
    linearAddress = record.loadUnaligned(fromByteOffset: ConformanceResultRecord.linearAddress, as: UInt64.self)
    attempts = (0..<count).map { n in
      let base = ConformanceResultRecord.attempts + n * ConformanceResultRecord.attemptSize
      let vector = record.loadUnaligned(
        fromByteOffset: base + ConformanceResultRecord.attemptVector, as: UInt32.self)
      return AttemptOutcome(
        vector: vector == ConformanceABI.noFault ? nil : vector,
        errorCode: record.loadUnaligned(
          fromByteOffset: base + ConformanceResultRecord.attemptErrorCode, as: UInt32.self),
        faultAddress: record.loadUnaligned(
          fromByteOffset: base + ConformanceResultRecord.attemptFaultAddress, as: UInt64.self))
    }
    finalEntries = (0..<4).map {
      record.loadUnaligned(fromByteOffset: ConformanceResultRecord.finalEntries + 8 * $0, as: UInt64.self)
    }
    valueRead = record.loadUnaligned(fromByteOffset: ConformanceResultRecord.valueRead, as: UInt64.self)
    events = ConformanceResultEvents(
      rawValue: record.loadUnaligned(fromByteOffset: ConformanceResultRecord.events, as: UInt64.self))
  }
}
