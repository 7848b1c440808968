// translate = walk + access check + the A/D bookkeeping the hardware would do.
// The only side effect is `applyAccessedDirty`, kept apart.

/// Why an access raised #GP(0) instead of #PF.
public enum GeneralProtectionReason: Sendable, Hashable, CustomStringConvertible {
  /// IA-32e paging and the linear address is not canonical.
  case nonCanonical(linearAddress: UInt64)
  /// PAE paging and PDPTE `index` is present with reserved `bits` set. The processor checks
  /// this when it loads the PDPTE registers (MOV to CR0/CR3/CR4) and raises #GP(0) there
  /// (SDM §4.4.1); the model, which loads them when it walks, reports the same #GP.
  case reservedPDPTE(index: Int, bits: UInt64)

  public var description: String {
    switch self {
    case .nonCanonical(let la): "non-canonical linear address \(hex(la))"
    case .reservedPDPTE(let index, let bits): "PDPTE \(index) has reserved bits \(hex(bits)) set"
    }
  }
}

/// What the access does.
public enum TranslationOutcome: Sendable, Hashable, CustomStringConvertible {
  /// The access is allowed; `physicalAddress` includes the page offset.
  case mapped(physicalAddress: UInt64, pageSize: PageSize)
  /// #PF with this error code.
  case pageFault(errorCode: PageFaultErrorCode, reason: FaultReason)
  /// #GP(0).
  case generalProtection(GeneralProtectionReason)
  /// A paging-structure entry lies outside memory: what the hardware does then depends on
  /// the platform (no architectural answer), so the model stops and says so.
  case tableOutsideMemory(level: PagingLevel, entryAddress: UInt64)

  public var description: String {
    switch self {
    case .mapped(let pa, let size): "mapped to \(hex(pa)) (\(size) page)"
    case .pageFault(let code, let reason): "#PF \(code): \(reason)"
    case .generalProtection(let reason): "#GP(0): \(reason)"
    case .tableOutsideMemory(let level, let address): "\(level.entryName) at \(hex(address)) is outside memory"
    }
  }
}

/// One access's translation: the walk, the outcome and the A/D updates it implies.
public struct Translation: Sendable, Hashable, CustomStringConvertible {
  public var access: Access
  public var walk: Walk
  public var outcome: TranslationOutcome
  /// Physical addresses of the entries whose accessed flag is 1 after this access: every
  /// paging-structure entry used, leaf included (PAE PDPTEs have no A flag). Entries whose A
  /// is already 1 are listed too. Empty when the access faults.
  public var accessedSet: [UInt64]
  /// Physical address of the leaf entry whose dirty flag is 1 after a successful write.
  public var dirtySet: [UInt64]
  /// The entries whose A flag the processor MAY have set, for an oracle comparing memory
  /// after the access. On success it equals `accessedSet`. On a fault it lists the entries
  /// used before the faulting one (present, no reserved bits), and on an access-rights
  /// fault the leaf as well (SDM: A in the PDE is set; the PTE's is model-specific).
  public var accessedMayBeSet: [UInt64]
  /// Width of the entries at those addresses: 4 (32-bit paging) or 8.
  public var entryWidth: Int

  @inlinable
  public init(
    access: Access, walk: Walk, outcome: TranslationOutcome, accessedSet: [UInt64],
    dirtySet: [UInt64], accessedMayBeSet: [UInt64], entryWidth: Int
  ) {
    self.access = access
    self.walk = walk
    self.outcome = outcome
    self.accessedSet = accessedSet
    self.dirtySet = dirtySet
    self.accessedMayBeSet = accessedMayBeSet
    self.entryWidth = entryWidth
  }

  public var linearAddress: UInt64 { walk.linearAddress }

  /// The physical address if the access is allowed.
  public var physicalAddress: UInt64? {
    if case .mapped(let pa, _) = outcome { return pa }
    return nil
  }

  /// The #PF error code if the access faults with #PF.
  public var errorCode: PageFaultErrorCode? {
    if case .pageFault(let code, _) = outcome { return code }
    return nil
  }

  /// The #PF reason if the access faults with #PF.
  public var faultReason: FaultReason? {
    if case .pageFault(_, let reason) = outcome { return reason }
    return nil
  }

  public var description: String { "\(access) \(hex(walk.linearAddress)): \(outcome)\n\(walk)" }
}

/// Translates `linearAddress` for `access` (SDM §4.3-§4.8). Pure: the A/D bits the access
/// would set are listed, not written; `applyAccessedDirty` writes them.
public func translate(
  _ linearAddress: UInt64, access: Access, context: PagingContext, memory: some PhysicalMemory
) -> Translation {
  let trail = walk(linearAddress, context: context, memory: memory)
  let width = context.mode.entryWidth

  // Entries that were used and carry an A flag (PAE PDPTE registers carry none).
  func usedEntries(_ steps: ArraySlice<WalkStep>) -> [UInt64] {
    var result: [UInt64] = []
    for step in steps
    where !(trail.mode == .pae && step.level == .pageDirectoryPointerTable)
      && !result.contains(step.entryAddress)
    {
      result.append(step.entryAddress)
    }
    return result
  }
  func fault(
    _ cause: PageFaultErrorCode.Cause, _ reason: FaultReason, rights: EffectiveRights?,
    mayBeSet: [UInt64]
  ) -> Translation {
    let code = PageFaultErrorCode(cause, access: access, rights: rights, context: context)
    return Translation(
      access: access, walk: trail, outcome: .pageFault(errorCode: code, reason: reason),
      accessedSet: [], dirtySet: [], accessedMayBeSet: mayBeSet, entryWidth: width)
  }
  func noUpdates(_ outcome: TranslationOutcome) -> Translation {
    Translation(
      access: access, walk: trail, outcome: outcome, accessedSet: [], dirtySet: [],
      accessedMayBeSet: [], entryWidth: width)
  }

  switch trail.end {
  case .nonCanonical:
    return noUpdates(.generalProtection(.nonCanonical(linearAddress: linearAddress)))
  case .outsideMemory(let level, let address):
    return noUpdates(.tableOutsideMemory(level: level, entryAddress: address))
  case .notPresent(let level):
    return fault(
      .notPresent, .notPresent(level: level), rights: nil,
      mayBeSet: usedEntries(trail.steps.dropLast()))
  case .reservedBits(let level, let bits):
    if trail.mode == .pae && level == .pageDirectoryPointerTable {
      let index = context.entryFormat(at: level).index(of: trail.linearAddress)
      return noUpdates(.generalProtection(.reservedPDPTE(index: index, bits: bits)))
    }
    return fault(
      .reservedBit, .reservedBits(level: level, bits: bits), rights: nil,
      mayBeSet: usedEntries(trail.steps.dropLast()))
  case .leaf(let physicalAddress, let pageSize):
    let rights = trail.rights ?? .unrestricted
    switch checkAccess(access, rights: rights, context: context) {
    case .denied(_, let reason):
      return fault(.accessRights, reason, rights: rights, mayBeSet: usedEntries(trail.steps[...]))
    case .allowed:
      let accessed = usedEntries(trail.steps[...])
      let dirty = access.kind == .write ? trail.steps.last.map { [$0.entryAddress] } ?? [] : []
      return Translation(
        access: access, walk: trail,
        outcome: .mapped(physicalAddress: physicalAddress, pageSize: pageSize),
        accessedSet: accessed, dirtySet: dirty, accessedMayBeSet: accessed, entryWidth: width)
    }
  }
}

/// Writes the A and D flags `translation` lists (the processor's only side effect of a
/// translation), leaving entries whose flags are already set untouched. Returns the number
/// of entries changed; entries outside memory are skipped.
@discardableResult
public func applyAccessedDirty(_ translation: Translation, memory: some MutablePhysicalMemory) -> Int {
  var changed = 0
  var updates: [(address: UInt64, bits: UInt64)] = translation.accessedSet.map { ($0, PagingEntry.accessed.rawValue) }
  for address in translation.dirtySet {
    if let i = updates.firstIndex(where: { $0.address == address }) {
      updates[i].bits |= PagingEntry.dirty.rawValue
    } else {
      updates.append((address, PagingEntry.dirty.rawValue))
    }
  }
  for (address, bits) in updates {
    if translation.entryWidth == 4 {
      guard let old = memory.load32(address), UInt64(old) & bits != bits else { continue }
      if memory.store32(old | UInt32(truncatingIfNeeded: bits), at: address) { changed += 1 }
    } else {
      guard let old = memory.load64(address), old & bits != bits else { continue }
      if memory.store64(old | bits, at: address) { changed += 1 }
    }
  }
  return changed
}
