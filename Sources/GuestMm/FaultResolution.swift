#if canImport(GuestABI)
  import GuestABI
#endif

// The page-fault decision (NT's MmAccessFault for a user address): which path
// resolves the fault, checked against the page's protection.

/// Which kind of PTE a fault was resolved (or refused) through.
public enum FaultPath: UInt8, Sendable {
  /// The PTE was already valid with the rights asked: another path got there first.
  case alreadyValid
  case prototype
  case transition
  case pageFile
  case demandZero
}

/// The decision on one page fault.
public enum FaultResolution: Equatable, Sendable {
  /// The access can be retried: the page is mapped.
  case resolved(FaultPath)
  /// A guard page was touched: its guard is gone, the access fails this once.
  case guardPage
  /// No VAD, not committed, a kernel address from user mode, or the protection forbids it.
  case accessViolation
  /// No page (or page table) was available; nothing changed, the fault may be retried.
  case noMemory
  /// A view's page could not be read from its file; nothing changed.
  case inPageError
  /// A path that later issues add (sections: prototype; paging: transition, page file).
  case notSupported(FaultPath)

  /// The NT status the fault reports.
  public var status: Status {
    switch self {
    case .resolved: return .success
    case .guardPage: return .guardPageViolation
    case .accessViolation: return .accessViolation
    case .noMemory: return .noMemory
    case .inPageError: return .inPageError
    case .notSupported: return .notSupported
    }
  }
}

extension VirtualMemory {
  /// Decides the fault of `access` at `address`, dispatching on its PTE in the
  /// order prototype, transition, page file, demand zero (a zero PTE asks the
  /// VAD). Only user addresses have VADs: anything else is an access violation,
  /// which for a kernel-mode fault the caller turns into a bugcheck.
  public mutating func resolveFault(_ address: UInt64, access: MemoryAccess, userMode: Bool) -> FaultResolution {
    guard address >= UserAddressSpace.lowest, address < UserAddressSpace.end else { return .accessViolation }
    let va = address & ~(UserAddressSpace.pageSize - 1)
    let pte = backend.readPTE(va)
    switch SoftwarePTE(raw: pte) {
    case .valid(let raw): return validFault(va, raw, access, userMode: userMode)
    case .prototype:
      guard let index = vads.index(containing: va >> 12), vads[index].type == .mapped else { return .accessViolation }
      return viewFault(va, vads[index], access, old: pte)
    case .transition(_, let protection):
      return ProtectionRules.allows(protection, access) ? .notSupported(.transition) : .accessViolation
    case .pageFile(_, _, let protection):
      return ProtectionRules.allows(protection, access) ? .notSupported(.pageFile) : .accessViolation
    case .demandZero(let protection):
      if protection == PageProtection.decommitted || !isCommittedHere(va) { return .accessViolation }
      return demandZeroFault(va, protection, access, pteWasZero: false)
    case .zero:
      guard let index = vads.index(containing: va >> 12), vads[index].isCommittedAtReservation else {
        return .accessViolation
      }
      if vads[index].type == .mapped { return viewFault(va, vads[index], access, old: 0) }
      return demandZeroFault(va, vads[index].protection, access, pteWasZero: true)
    }
  }

  /// Whether a VAD holds the page at `va` (a demand-zero PTE outside any VAD is stale).
  func isCommittedHere(_ va: UInt64) -> Bool {
    vads.index(containing: va >> 12) != nil
  }

  /// A fault on a valid PTE: success when the hardware allows the access now
  /// (resolved meanwhile, or a stale TLB entry); a guard page kept valid fires
  /// once and gets its rights back; anything else is an access violation.
  func validFaultDecision(_ pte: UInt64, _ access: MemoryAccess, userMode: Bool) -> (FaultResolution, UInt64?) {
    if ProtectionRules.hardwareAllows(pte, access, userMode: userMode) { return (.resolved(.alreadyValid), nil) }
    let code = ProtectionRules.protection(ofValid: pte)
    guard ProtectionRules.allows(code, access), ProtectionRules.isGuard(code) else { return (.accessViolation, nil) }
    return (.guardPage, ProtectionRules.reprotect(valid: pte, to: ProtectionRules.withoutGuard(code)))
  }

  /// `validFaultDecision`, with the guard's removal written.
  mutating func validFault(_ va: UInt64, _ pte: UInt64, _ access: MemoryAccess, userMode: Bool) -> FaultResolution {
    if access == .write, pte & HardwarePTE.copyOnWrite != 0,
      !ProtectionRules.hardwareAllows(pte, access, userMode: userMode),
      ProtectionRules.allows(ProtectionRules.protection(ofValid: pte), .write)
    {
      return copyOnWrite(va, pte)
    }
    let (decision, newPTE) = validFaultDecision(pte, access, userMode: userMode)
    guard let newPTE else { return decision }
    return replacePTE(va, pte, with: newPTE) ? decision : .noMemory
  }

  /// A fault on a committed, never-touched page with `protection`: refused if
  /// the protection forbids the access; a guard page loses its guard and fires;
  /// otherwise a zeroed page is mapped with the protection's rights (D on a
  /// write). A zero PTE (`pteWasZero`) first gets a demand-zero PTE, so its
  /// page table exists before the page is taken; on noMemory it is zero again.
  mutating func demandZeroFault(_ va: UInt64, _ protection: UInt8, _ access: MemoryAccess, pteWasZero: Bool)
    -> FaultResolution
  {
    guard ProtectionRules.allows(protection, access) else { return .accessViolation }
    let demandZero = SoftwarePTE.demandZero(protection: protection).raw
    let old = pteWasZero ? 0 : demandZero
    if ProtectionRules.isGuard(protection) {
      let cleared = SoftwarePTE.demandZero(protection: ProtectionRules.withoutGuard(protection)).raw
      return replacePTE(va, old, with: cleared) ? .guardPage : .noMemory
    }
    if pteWasZero, !replacePTE(va, 0, with: demandZero) { return .noMemory }
    guard let frame = backend.allocateZeroedPage(for: va) else {
      if pteWasZero { _ = replacePTE(va, demandZero, with: 0) }
      return .noMemory
    }
    let valid = ProtectionRules.validPTE(frame: frame, protection: protection, dirty: access == .write)
    return replacePTE(va, demandZero, with: valid) ? .resolved(.demandZero) : .noMemory
  }
}
