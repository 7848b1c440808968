import GuestABI
import X86Paging

/// The `controls` suite: writes to CR0, CR4 and IA32_EFER at CPL 0 while
/// 4-level paging is on, each either taken (the register reads back with the
/// change) or refused with #GP(0), as the SDM says for this CPU's features
/// (§2.5, §4.1.1, the MOV CR and WRMSR pages of vol. 2); and the same writes
/// from CPL 3, always #GP(0).
public struct ControlsSuite: CaseSuite {
  /// One write: the register, bits cleared and set, and whether the CPU
  /// must take it.
  public struct Write: Sendable, Hashable {
    public var name: String
    public var register: ConformanceRegister
    public var clear: UInt64
    public var set: UInt64
    /// Taken (true) or #GP(0) (false), for this CPU.
    public var allowed: Bool
  }

  public let writes: [Write]

  public init(features: ConformanceFeatures) {
    func has(_ feature: ConformanceFeatures) -> Bool { features.contains(feature) }
    writes = [
      Write(name: "CR0.WP cleared", register: .cr0, clear: 1 << 16, set: 0, allowed: true),
      Write(name: "CR0 rewritten unchanged", register: .cr0, clear: 0, set: 0, allowed: true),
      Write(name: "CR0.PG cleared in IA-32e mode", register: .cr0, clear: 1 << 31, set: 0, allowed: false),
      Write(name: "CR0.PE cleared with PG set", register: .cr0, clear: 1, set: 0, allowed: false),
      Write(name: "CR0.NW set with CD clear", register: .cr0, clear: 1 << 30, set: 1 << 29, allowed: false),
      Write(name: "CR0 bit 32 (reserved) set", register: .cr0, clear: 0, set: 1 << 32, allowed: false),
      Write(name: "CR4.PAE cleared in IA-32e mode", register: .cr4, clear: 1 << 5, set: 0, allowed: false),
      Write(name: "CR4.LA57 set in IA-32e mode", register: .cr4, clear: 0, set: 1 << 12, allowed: false),
      Write(name: "CR4.SMEP set", register: .cr4, clear: 0, set: 1 << 20, allowed: has(.smep)),
      Write(name: "CR4.SMAP set", register: .cr4, clear: 0, set: 1 << 21, allowed: has(.smap)),
      Write(name: "CR4.PKE set", register: .cr4, clear: 0, set: 1 << 22, allowed: has(.protectionKeys)),
      Write(name: "CR4.PCIDE set (CR3[11:0] = 0)", register: .cr4, clear: 0, set: 1 << 17, allowed: has(.pcid)),
      Write(name: "CR4.PGE set", register: .cr4, clear: 0, set: 1 << 7, allowed: has(.globalPages)),
      Write(name: "CR4 bit 15 (reserved) set", register: .cr4, clear: 0, set: 1 << 15, allowed: false),
      Write(name: "CR4 bit 63 (reserved) set", register: .cr4, clear: 0, set: 1 << 63, allowed: false),
      Write(name: "EFER.NXE cleared", register: .efer, clear: 1 << 11, set: 0, allowed: true),
      Write(name: "EFER.NXE set", register: .efer, clear: 0, set: 1 << 11, allowed: has(.noExecute)),
      Write(name: "EFER.LME cleared with paging on", register: .efer, clear: 1 << 8, set: 0, allowed: false),
      Write(name: "EFER bit 1 (reserved) set", register: .efer, clear: 0, set: 1 << 1, allowed: false),
      Write(name: "EFER bit 63 (reserved) set", register: .efer, clear: 0, set: 1 << 63, allowed: false),
    ]
  }

  public var suite: ConformanceSuite { .controls }
  /// Every write at CPL 0, then every write at CPL 3.
  public var count: Int { 2 * writes.count }

  public func `case`(at index: Int) -> PagingCase {
    let write = writes[index % writes.count]
    return PagingCase(
      pml4e: write.clear, pdpte: write.register.rawValue, pde: write.set, pte: 0, leafLevel: 1,
      controls: index >= writes.count ? [.userMode] : [], kind: .write, twice: false, controlWrite: true)
  }

  func write(of c: PagingCase) -> Write? {
    writes.first { $0.register.rawValue == c.pdpte && $0.clear == c.pml4e && $0.set == c.pde }
  }

  public func family(of c: PagingCase) -> String {
    let register = ConformanceRegister(rawValue: c.pdpte).map { "\($0)" } ?? "?"
    return "controls/\(c.controls.contains(.userMode) ? "cpl3" : "cpl0")/\(register)"
  }

  public func skipReason(for c: PagingCase) -> String? { nil }

  /// Taken at CPL 0 when allowed, #GP(0) otherwise; at CPL 3 always #GP(0).
  func expectedAllowed(_ c: PagingCase) -> Bool {
    !c.controls.contains(.userMode) && (write(of: c)?.allowed ?? false)
  }

  public func judge(_ c: PagingCase, observed: Observation) -> Judgement {
    guard let attempt = observed.attempts.first else {
      return Judgement(differences: [Difference(kind: .attempts, detail: "no attempt recorded")])
    }
    if expectedAllowed(c) {
      guard attempt == .completed else {
        return Judgement(differences: [Difference(kind: .fault, detail: CaseNames.attempt(attempt))])
      }
      let stuck = observed.valueRead & c.pde == c.pde && observed.valueRead & c.pml4e == 0
      return Judgement(
        differences: stuck
          ? [] : [Difference(kind: .entryBits, detail: "the register read back as \(hex(observed.valueRead))")])
    }
    if attempt.vector == ExceptionVector.generalProtection && attempt.errorCode == 0 {
      return Judgement(differences: [])
    }
    let kind: DifferenceKind = attempt.vector == nil ? .noFault : .vector
    return Judgement(differences: [
      Difference(kind: kind, detail: "expected #GP(0), observed \(CaseNames.attempt(attempt))")
    ])
  }

  public func describe(_ c: PagingCase) -> String {
    (c.controls.contains(.userMode) ? "CPL3 " : "CPL0 ") + (write(of: c)?.name ?? "unknown write")
  }

  public func outcomes(_ c: PagingCase, observed: Observation) -> (expected: String, observed: String) {
    let observedText =
      observed.attempts.first.map {
        $0 == .completed ? "taken, reads back \(hex(observed.valueRead))" : CaseNames.attempt($0)
      } ?? "nothing"
    return (expectedAllowed(c) ? "taken" : "#GP(0)", observedText)
  }
}
