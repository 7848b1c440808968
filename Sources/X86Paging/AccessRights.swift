// Access rights (SDM §4.6) and the page-fault error code (SDM §4.7).
// Pure functions of (rights combined over the walk, the access, the registers).

/// One memory access to be translated.
public struct Access: Sendable, Hashable, CustomStringConvertible {
  public enum Kind: Sendable, Hashable {
    case read, write, fetch
  }
  /// The privilege the access is made with: the CPL.
  public enum Mode: Sendable, Hashable {
    /// CPL = 3.
    case user
    /// CPL < 3.
    case supervisor
  }

  public var kind: Kind
  /// The CPL the access is made at.
  public var mode: Mode
  /// An implicit supervisor-mode access (SDM §4.6.1): a descriptor-table, IDT or TSS
  /// access the processor makes by itself. It is a supervisor-mode access whatever the
  /// CPL, and SMAP blocks it whatever RFLAGS.AC holds.
  public var isImplicitSupervisor: Bool

  @inlinable public init(_ kind: Kind, _ mode: Mode, implicitSupervisor: Bool = false) {
    self.kind = kind
    self.mode = mode
    self.isImplicitSupervisor = implicitSupervisor
  }

  public static let userRead = Access(.read, .user)
  public static let userWrite = Access(.write, .user)
  public static let userFetch = Access(.fetch, .user)
  public static let supervisorRead = Access(.read, .supervisor)
  public static let supervisorWrite = Access(.write, .supervisor)
  public static let supervisorFetch = Access(.fetch, .supervisor)

  /// An implicit supervisor-mode data access (e.g. a GDT read) made while at `cpl`.
  @inlinable public static func implicitSupervisor(_ kind: Kind, at cpl: Mode) -> Access {
    Access(kind, cpl, implicitSupervisor: true)
  }

  /// Supervisor-mode access in the SDM's sense: CPL < 3 or implicit.
  @inlinable public var isSupervisorModeAccess: Bool { mode == .supervisor || isImplicitSupervisor }
  /// User-mode access: an explicit access at CPL 3.
  @inlinable public var isUserModeAccess: Bool { !isSupervisorModeAccess }

  public var description: String {
    let k =
      switch kind {
      case .read: "read"
      case .write: "write"
      case .fetch: "fetch"
      }
    if isImplicitSupervisor { return "implicit supervisor \(k) at CPL \(mode == .user ? "3" : "<3")" }
    return (mode == .user ? "user " : "supervisor ") + k
  }
}

/// The access rights of a translation, combined over every paging-structure entry that
/// controls it (SDM §4.6.1): a user-mode address only if U/S = 1 at every level; writable
/// only if R/W = 1 at every level; execute-disabled if XD = 1 at any level. PAE's PDPTEs
/// carry no rights and do not take part.
public struct EffectiveRights: Sendable, Hashable, CustomStringConvertible {
  /// U/S = 1 in every entry: a user-mode address.
  public var user: Bool
  /// R/W = 1 in every entry.
  public var writable: Bool
  /// XD (bit 63) = 1 in some entry. Honoured only with IA32_EFER.NXE = 1 (and 64-bit entries).
  public var executeDisable: Bool
  /// The leaf's bits 62:59 (4/5-level paging); 0 in other modes.
  public var protectionKey: UInt8

  @inlinable
  public init(user: Bool, writable: Bool, executeDisable: Bool = false, protectionKey: UInt8 = 0) {
    self.user = user
    self.writable = writable
    self.executeDisable = executeDisable
    self.protectionKey = protectionKey
  }

  /// Rights before any entry has been combined in (and with paging disabled).
  public static let unrestricted = EffectiveRights(user: true, writable: true)

  /// Folds one entry's U/S, R/W and XD in.
  @inlinable public mutating func combine(_ raw: UInt64) {
    user = user && raw & 4 != 0
    writable = writable && raw & 2 != 0
    executeDisable = executeDisable || raw >> 63 != 0
  }

  /// Instruction fetches are allowed by XD (ignoring U/S and SMEP) in `context`.
  @inlinable public func executable(in context: PagingContext) -> Bool {
    !(executeDisable && context.executeDisableActive)
  }

  public var description: String {
    (user ? "u" : "s") + (writable ? "w" : "r") + (executeDisable ? "-" : "x") + " key \(protectionKey)"
  }
}

/// Why a translation caused #PF, with the SDM rule that triggered it.
public enum FaultReason: Sendable, Hashable, CustomStringConvertible {
  /// P = 0 in the entry of `level`.
  case notPresent(level: PagingLevel)
  /// A present entry of `level` has reserved `bits` set.
  case reservedBits(level: PagingLevel, bits: UInt64)
  /// A user-mode access to a supervisor-mode address (U/S = 0 at some level).
  case userAccessToSupervisorPage
  /// A write to a read-only page: any user-mode write, or a supervisor-mode write with CR0.WP = 1.
  case writeToReadOnlyPage
  /// An instruction fetch from an execute-disabled page (XD = 1 at some level, NXE = 1).
  case executeDisabled
  /// SMEP: a supervisor-mode instruction fetch from a user-mode address.
  case supervisorFetchFromUserPage
  /// SMAP: a supervisor-mode data access to a user-mode address, implicit or with RFLAGS.AC = 0.
  case supervisorAccessToUserPage(implicit: Bool)
  /// The protection key's AD bit (PKRU for user pages, IA32_PKRS for supervisor pages).
  case protectionKeyAccessDisabled(key: UInt8, supervisorKeys: Bool)
  /// The protection key's WD bit.
  case protectionKeyWriteDisabled(key: UInt8, supervisorKeys: Bool)

  public var description: String {
    switch self {
    case .notPresent(let level): "not present at \(level.entryName)"
    case .reservedBits(let level, let bits): "reserved bits \(hex(bits)) set in \(level.entryName)"
    case .userAccessToSupervisorPage: "user-mode access to a supervisor-mode page"
    case .writeToReadOnlyPage: "write to a read-only page"
    case .executeDisabled: "instruction fetch from an execute-disabled (NX) page"
    case .supervisorFetchFromUserPage: "SMEP: supervisor-mode fetch from a user-mode page"
    case .supervisorAccessToUserPage(let implicit):
      implicit
        ? "SMAP: implicit supervisor-mode access to a user-mode page"
        : "SMAP: supervisor-mode access to a user-mode page with RFLAGS.AC=0"
    case .protectionKeyAccessDisabled(let key, let s): "\(s ? "PKS" : "PKU"): key \(key) access-disabled"
    case .protectionKeyWriteDisabled(let key, let s): "\(s ? "PKS" : "PKU"): key \(key) write-disabled"
    }
  }
}

/// The #PF error code (SDM §4.7, Figure 4-12).
public struct PageFaultErrorCode: OptionSet, Sendable, Hashable, CustomStringConvertible {
  public var rawValue: UInt32
  @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

  /// P (bit 0): 0 = no translation (not-present entry), 1 = the translation exists
  /// (access-rights violation or reserved bit).
  public static let present = Self(rawValue: 1 << 0)
  /// W/R (bit 1): the access was a write.
  public static let write = Self(rawValue: 1 << 1)
  /// U/S (bit 2): the access was a user-mode access (explicit, at CPL 3).
  public static let user = Self(rawValue: 1 << 2)
  /// RSVD (bit 3): a reserved bit was set in a paging-structure entry.
  public static let reservedBit = Self(rawValue: 1 << 3)
  /// I/D (bit 4): an instruction fetch, reported only if CR4.SMEP = 1 or (PAE/4/5-level and NXE = 1).
  public static let instructionFetch = Self(rawValue: 1 << 4)
  /// PK (bit 5): protection-key violation (PKRU or IA32_PKRS).
  public static let protectionKey = Self(rawValue: 1 << 5)
  /// SS (bit 6): shadow-stack access. Not modelled (always 0).
  public static let shadowStack = Self(rawValue: 1 << 6)
  /// HLAT (bit 7): HLAT paging. Not modelled (always 0).
  public static let hlat = Self(rawValue: 1 << 7)
  /// SGX (bit 15). Not modelled (always 0).
  public static let sgx = Self(rawValue: 1 << 15)

  /// What kind of #PF the error code is for.
  public enum Cause: Sendable, Hashable {
    /// A not-present entry: no translation.
    case notPresent
    /// A present entry with a reserved bit set.
    case reservedBit
    /// The translation exists but its rights forbid the access.
    case accessRights
  }

  /// THE one place the model builds an error code (SDM §4.7).
  /// `rights` is the translation's combined rights (for the PK flag); nil unless
  /// `cause` is `.accessRights`.
  public init(_ cause: Cause, access: Access, rights: EffectiveRights?, context: PagingContext) {
    var code: PageFaultErrorCode = []
    if cause != .notPresent { code.insert(.present) }
    if cause == .reservedBit { code.insert(.reservedBit) }
    if access.kind == .write { code.insert(.write) }
    if access.isUserModeAccess { code.insert(.user) }
    if access.kind == .fetch
      && (context.cr4.contains(.supervisorModeExecutionPrevention)
        || (context.efer.contains(.noExecuteEnable) && context.mode.supportsExecuteDisable))
    {
      code.insert(.instructionFetch)
    }
    // PK: IA-32e paging with PKE (user-mode address) or PKS (supervisor-mode address), a
    // data access, and the key's AD, or WD on a write with CR0.WP = 1 or at user mode.
    // The SDM states it independently of other violations, so it is set even if, e.g.,
    // R/W also forbids the write.
    if cause == .accessRights, let rights, protectionKeyDenial(access, rights, context) != nil {
      code.insert(.protectionKey)
    }
    self = code
  }

  public var description: String {
    var parts: [String] = []
    parts.append(contains(.present) ? "P" : "!P")
    parts.append(contains(.write) ? "W" : "R")
    parts.append(contains(.user) ? "U" : "S")
    if contains(.reservedBit) { parts.append("RSVD") }
    if contains(.instructionFetch) { parts.append("I/D") }
    if contains(.protectionKey) { parts.append("PK") }
    if contains(.shadowStack) { parts.append("SS") }
    if contains(.hlat) { parts.append("HLAT") }
    if contains(.sgx) { parts.append("SGX") }
    return hex(UInt64(rawValue)) + " (" + parts.joined(separator: " ") + ")"
  }
}

/// The protection-key rule of SDM §4.6.2 (and the PK flag of §4.7): the reason if the key
/// forbids this data access, nil otherwise.
func protectionKeyDenial(_ access: Access, _ rights: EffectiveRights, _ context: PagingContext) -> FaultReason? {
  guard access.kind != .fetch, context.mode.isIA32e else { return nil }
  let supervisorKeys = !rights.user
  let enabled = context.cr4.contains(supervisorKeys ? .protectionKeysForSupervisorPages : .protectionKeysForUserPages)
  guard enabled else { return nil }
  let register = supervisorKeys ? context.pkrs : context.pkru
  let key = rights.protectionKey
  if register.accessDisabled(key) {
    return .protectionKeyAccessDisabled(key: key, supervisorKeys: supervisorKeys)
  }
  if access.kind == .write, register.writeDisabled(key),
    context.cr0.contains(.writeProtect) || access.isUserModeAccess
  {
    return .protectionKeyWriteDisabled(key: key, supervisorKeys: supervisorKeys)
  }
  return nil
}

/// The result of checking an access against a translation's rights.
public enum AccessCheck: Sendable, Hashable {
  case allowed
  case denied(errorCode: PageFaultErrorCode, reason: FaultReason)
}

/// Decides whether `access` is allowed on a translation with `rights` (SDM §4.6.1/§4.6.2).
/// Pure: depends only on its arguments. When several rules forbid the access, `reason`
/// names the first of: U/S, SMEP, XD, SMAP, R/W, protection key (the error code is the
/// same whichever is named).
public func checkAccess(_ access: Access, rights: EffectiveRights, context: PagingContext) -> AccessCheck {
  guard let reason = accessViolation(access, rights, context) else { return .allowed }
  let code = PageFaultErrorCode(.accessRights, access: access, rights: rights, context: context)
  return .denied(errorCode: code, reason: reason)
}

func accessViolation(_ access: Access, _ rights: EffectiveRights, _ context: PagingContext) -> FaultReason? {
  let mode = context.mode
  guard mode != .disabled else { return nil }
  let wp = context.cr0.contains(.writeProtect)
  let xd = rights.executeDisable && context.executeDisableActive

  if access.isUserModeAccess {
    // User-mode accesses: only to user-mode addresses; writes need R/W = 1 everywhere;
    // fetches need XD = 0 (with NXE); data accesses obey PKRU.
    if !rights.user { return .userAccessToSupervisorPage }
    switch access.kind {
    case .fetch: return xd ? .executeDisabled : nil
    case .write: if !rights.writable { return .writeToReadOnlyPage }
    case .read: break
    }
    return protectionKeyDenial(access, rights, context)
  }

  // Supervisor-mode accesses (CPL < 3, or implicit).
  if access.kind == .fetch {
    if rights.user && context.cr4.contains(.supervisorModeExecutionPrevention) {
      return .supervisorFetchFromUserPage
    }
    return xd ? .executeDisabled : nil
  }
  if rights.user && context.cr4.contains(.supervisorModeAccessPrevention) {
    // SMAP: only explicit accesses (hence CPL < 3) with RFLAGS.AC = 1 may touch user pages.
    let allowedByAC = !access.isImplicitSupervisor && context.rflags.contains(.alignmentCheck)
    if !allowedByAC { return .supervisorAccessToUserPage(implicit: access.isImplicitSupervisor) }
  }
  if access.kind == .write && wp && !rights.writable { return .writeToReadOnlyPage }
  return protectionKeyDenial(access, rights, context)
}
