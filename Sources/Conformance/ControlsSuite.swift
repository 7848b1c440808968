import GuestABI
import X86Paging

/// The `controls` suite: writes to CR0, CR4 and IA32_EFER at CPL 0 while
/// 4-level paging is on, each either taken (the register reads back with the
/// change) or refused with #GP(0), as the SDM says for this CPU's features
/// (§2.5, §4.1.1, the MOV CR and WRMSR pages of vol. 2); and the same writes
/// from CPL 3, always #GP(0). Which is which is X86Paging's
/// `checkControlRegisterWrite`, applied to the state the guest writes from.
public struct ControlsSuite: CaseSuite {
  /// One write: the register, bits cleared and set, and whether the CPU
  /// must take it.
  public struct Write: Sendable, Hashable {
    public var name: String
    public var register: ConformanceRegister
    public var clear: UInt64
    public var set: UInt64
    /// Taken (true) or #GP(0) (false) at CPL 0, for this CPU: X86Paging's answer.
    public var allowed: Bool
  }

  public let writes: [Write]
  /// The CPU the writes are judged for, in X86Paging's terms.
  let processorFeatures: ProcessorFeatures

  public init(features: ConformanceFeatures) {
    let processor = ProcessorFeatures(features)
    func write(_ name: String, _ register: ConformanceRegister, clear: UInt64 = 0, set: UInt64 = 0) -> Write {
      let outcome = Self.outcome(register: register, clear: clear, set: set, cpl: 0, features: processor)
      return Write(name: name, register: register, clear: clear, set: set, allowed: outcome.isTaken)
    }
    processorFeatures = processor
    writes = [
      write("CR0.WP cleared", .cr0, clear: 1 << 16),
      write("CR0 rewritten unchanged", .cr0),
      write("CR0.PG cleared in IA-32e mode", .cr0, clear: 1 << 31),
      write("CR0.PE cleared with PG set", .cr0, clear: 1),
      write("CR0.NW set with CD clear", .cr0, clear: 1 << 30, set: 1 << 29),
      write("CR0 bit 32 (reserved) set", .cr0, set: 1 << 32),
      write("CR4.PAE cleared in IA-32e mode", .cr4, clear: 1 << 5),
      write("CR4.LA57 set in IA-32e mode", .cr4, set: 1 << 12),
      write("CR4.SMEP set", .cr4, set: 1 << 20),
      write("CR4.SMAP set", .cr4, set: 1 << 21),
      write("CR4.PKE set", .cr4, set: 1 << 22),
      write("CR4.PCIDE set (CR3[11:0] = 0)", .cr4, set: 1 << 17),
      write("CR4.PGE set", .cr4, set: 1 << 7),
      write("CR4 bit 15 (reserved) set", .cr4, set: 1 << 15),
      write("CR4 bit 63 (reserved) set", .cr4, set: 1 << 63),
      write("EFER.NXE cleared", .efer, clear: 1 << 11),
      write("EFER.NXE set", .efer, set: 1 << 11),
      write("EFER.LME cleared with paging on", .efer, clear: 1 << 8),
      write("EFER bit 1 (reserved) set", .efer, set: 1 << 1),
      write("EFER bit 63 (reserved) set", .efer, set: 1 << 63),
    ]
  }

  /// The registers a `controls` block writes from, as the guest sets them: entry.S
  /// (Guest/Boot) enters IA-32e mode with CR0 = PE|MP|ET|NE|WP|PG, CR4 = PAE and
  /// EFER = LME|NXE (LMA follows); `conformanceRunTemplate` (Guest/Kernel/
  /// ConformanceDriver.swift) clears the bits a block's controls own (CR0.WP, CR4.PGE,
  /// PCIDE, SMEP, SMAP, PKE, EFER.NXE) and a `controls` case sets none of them;
  /// `conformance_run` (Guest/Boot/conformance.S) loads the block's root, a page frame
  /// with PCID 0, and runs the writes in 64-bit mode.
  static let startingState = ControlRegisterState(
    cr0: [.protectionEnable, .monitorCoprocessor, .extensionType, .numericError, .paging], cr3: CaseTables.root,
    cr4: [.physicalAddressExtension], efer: [.longModeEnable, .longModeActive], codeSegmentIs64Bit: true)

  /// X86Paging's verdict on the guest's read-modify-write of `register` (old & ~clear | set).
  static func outcome(
    register: ConformanceRegister, clear: UInt64, set: UInt64, cpl: Int, features: ProcessorFeatures
  ) -> ControlRegisterWriteOutcome {
    let state = startingState
    let write: ControlRegisterWrite =
      switch register {
      case .cr0: .cr0(ControlRegister0(rawValue: state.cr0.rawValue & ~clear | set))
      case .cr4: .cr4(ControlRegister4(rawValue: state.cr4.rawValue & ~clear | set))
      case .efer: .efer(ExtendedFeatureEnable(rawValue: state.efer.rawValue & ~clear | set))
      }
    return checkControlRegisterWrite(write, state: state, cpl: cpl, features: features)
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

  /// One family per write ("controls/cpl0/cr4/pke-set"): each write is its
  /// own test, so an erratum or a skip names exactly one.
  public func family(of c: PagingCase) -> String {
    let register = ConformanceRegister(rawValue: c.pdpte).map { "\($0)" } ?? "?"
    let write = write(of: c).map { Self.slug($0.name, register: register) } ?? "unknown"
    return "controls/\(c.controls.contains(.userMode) ? "cpl3" : "cpl0")/\(register)/\(write)"
  }

  /// "CR4.PCIDE set (CR3[11:0] = 0)" -> "pcide-set-cr3-11-0-0": lower case,
  /// the register's name dropped, every other run of punctuation one "-".
  static func slug(_ name: String, register: String) -> String {
    var words = name.lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init)
    if words.first == register { words.removeFirst() }
    return words.joined(separator: "-")
  }

  public func skipReason(for c: PagingCase) -> String? { nil }

  /// Taken at CPL 0 when allowed, #GP(0) otherwise; at CPL 3 the model's answer, which
  /// is #GP(0) for every write. (The guest's CPL 3 attempt already faults on its MOV from
  /// CR0, which is privileged for the same reason.)
  func expectedAllowed(_ c: PagingCase) -> Bool {
    guard let write = write(of: c) else { return false }
    guard c.controls.contains(.userMode) else { return write.allowed }
    return Self.outcome(
      register: write.register, clear: write.clear, set: write.set, cpl: 3, features: processorFeatures
    ).isTaken
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

extension ProcessorFeatures {
  /// The features the guest's runner reported (CPUID), plus PAE and Intel 64
  /// (CPUID.01H:EDX.PAE, CPUID.80000001H:EDX.LM), which the runner's IA-32e mode proves
  /// and which CR4.PAE and EFER.LME, set in every write's value, need.
  init(_ reported: ConformanceFeatures) {
    var features: ProcessorFeatures = [.pae, .longMode]
    let pairs: [(ConformanceFeatures, ProcessorFeatures)] = [
      (.noExecute, .nx), (.smep, .smep), (.smap, .smap), (.protectionKeys, .pku), (.fiveLevelPaging, .la57),
      (.pcid, .pcid), (.globalPages, .pge),
    ]
    for (flag, feature) in pairs where reported.contains(flag) { features.insert(feature) }
    self = features
  }
}
