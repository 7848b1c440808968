// Which writes to CR0, CR4 (MOV to CR, SDM vol. 2) and IA32_EFER (WRMSR) the processor
// takes and which raise #GP(0): SDM vol. 3A §2.2.1 (EFER), §2.5 (control registers),
// §4.1.1-§4.1.2 (paging-mode changes). Pure functions of the state, the CPL, the value
// written and the CPU's features; the one place these rules are written down.

/// The CPUID feature flags that decide which bits of CR4 and IA32_EFER exist. Each flag's
/// doc comment names its CPUID leaf and bit (SDM vol. 2, CPUID).
public struct ProcessorFeatures: OptionSet, Sendable, Hashable {
  public var rawValue: UInt64
  @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }

  /// CPUID.01H:EDX.VME[1]: CR4.VME and CR4.PVI.
  public static let vme = Self(rawValue: 1 << 0)
  /// CPUID.01H:EDX.DE[2]: CR4.DE.
  public static let de = Self(rawValue: 1 << 1)
  /// CPUID.01H:EDX.PSE[3]: CR4.PSE.
  public static let pse = Self(rawValue: 1 << 2)
  /// CPUID.01H:EDX.TSC[4]: CR4.TSD.
  public static let tsc = Self(rawValue: 1 << 3)
  /// CPUID.01H:EDX.PAE[6]: CR4.PAE.
  public static let pae = Self(rawValue: 1 << 4)
  /// CPUID.01H:EDX.MCE[7]: CR4.MCE.
  public static let mce = Self(rawValue: 1 << 5)
  /// CPUID.01H:EDX.PGE[13]: CR4.PGE.
  public static let pge = Self(rawValue: 1 << 6)
  /// CPUID.01H:EDX.FXSR[24]: CR4.OSFXSR.
  public static let fxsr = Self(rawValue: 1 << 7)
  /// CPUID.01H:EDX.SSE[25]: CR4.OSXMMEXCPT.
  public static let sse = Self(rawValue: 1 << 8)
  /// CPUID.01H:ECX.VMX[5]: CR4.VMXE.
  public static let vmx = Self(rawValue: 1 << 9)
  /// CPUID.01H:ECX.SMX[6]: CR4.SMXE.
  public static let smx = Self(rawValue: 1 << 10)
  /// CPUID.01H:ECX.PCID[17]: CR4.PCIDE.
  public static let pcid = Self(rawValue: 1 << 11)
  /// CPUID.01H:ECX.XSAVE[26]: CR4.OSXSAVE.
  public static let xsave = Self(rawValue: 1 << 12)
  /// CPUID.(EAX=07H,ECX=0):EBX.FSGSBASE[0]: CR4.FSGSBASE.
  public static let fsgsbase = Self(rawValue: 1 << 13)
  /// CPUID.(EAX=07H,ECX=0):EBX.SMEP[7]: CR4.SMEP.
  public static let smep = Self(rawValue: 1 << 14)
  /// CPUID.(EAX=07H,ECX=0):EBX.SMAP[20]: CR4.SMAP.
  public static let smap = Self(rawValue: 1 << 15)
  /// CPUID.(EAX=07H,ECX=0):ECX.UMIP[2]: CR4.UMIP.
  public static let umip = Self(rawValue: 1 << 16)
  /// CPUID.(EAX=07H,ECX=0):ECX.PKU[3]: CR4.PKE.
  public static let pku = Self(rawValue: 1 << 17)
  /// CPUID.(EAX=07H,ECX=0):ECX.CET_SS[7]: CR4.CET.
  public static let cetShadowStack = Self(rawValue: 1 << 18)
  /// CPUID.(EAX=07H,ECX=0):ECX.LA57[16]: CR4.LA57.
  public static let la57 = Self(rawValue: 1 << 19)
  /// CPUID.(EAX=07H,ECX=0):ECX.KL[23]: CR4.KL.
  public static let keyLocker = Self(rawValue: 1 << 20)
  /// CPUID.(EAX=07H,ECX=0):ECX.PKS[31]: CR4.PKS.
  public static let pks = Self(rawValue: 1 << 21)
  /// CPUID.(EAX=07H,ECX=0):EDX.UINTR[5]: CR4.UINTR.
  public static let uintr = Self(rawValue: 1 << 22)
  /// CPUID.(EAX=07H,ECX=0):EDX.CET_IBT[20]: CR4.CET.
  public static let cetIndirectBranchTracking = Self(rawValue: 1 << 23)
  /// CPUID.(EAX=07H,ECX=1):EAX.LAM[26]: CR4.LAM_SUP.
  public static let lam = Self(rawValue: 1 << 24)
  /// CPUID.80000001H:EDX.SYSCALL[11]: IA32_EFER.SCE.
  public static let syscall = Self(rawValue: 1 << 25)
  /// CPUID.80000001H:EDX.NX[20]: IA32_EFER.NXE.
  public static let nx = Self(rawValue: 1 << 26)
  /// CPUID.80000001H:EDX.LM[29] (Intel 64): IA32_EFER.LME.
  public static let longMode = Self(rawValue: 1 << 27)

  /// Every flag: a CPU on which every bit the model names exists.
  public static let all = Self(rawValue: (1 << 28) - 1)

  /// Each CR4 bit and the features of which any one makes it exist. CR4.PCE has no
  /// CPUID flag (RDPMC predates CPUID's feature flags), so it always exists.
  static let cr4Bits: [(bit: ControlRegister4, needs: ProcessorFeatures)] = [
    (.virtual8086ModeExtensions, .vme), (.protectedModeVirtualInterrupts, .vme), (.timeStampDisable, .tsc),
    (.debuggingExtensions, .de), (.pageSizeExtensions, .pse), (.physicalAddressExtension, .pae),
    (.machineCheckEnable, .mce), (.pageGlobalEnable, .pge), (.performanceCounterEnable, []),
    (.osFXSaveSupport, .fxsr), (.osUnmaskedSIMDExceptions, .sse), (.userModeInstructionPrevention, .umip),
    (.fiveLevelPaging, .la57), (.vmxEnable, .vmx), (.smxEnable, .smx), (.fsgsBaseEnable, .fsgsbase),
    (.pcidEnable, .pcid), (.osXSaveEnable, .xsave), (.keyLockerEnable, .keyLocker),
    (.supervisorModeExecutionPrevention, .smep), (.supervisorModeAccessPrevention, .smap),
    (.protectionKeysForUserPages, .pku), (.controlFlowEnforcement, [.cetShadowStack, .cetIndirectBranchTracking]),
    (.protectionKeysForSupervisorPages, .pks), (.userInterruptsEnable, .uintr), (.supervisorLinearAddressMasking, .lam),
  ]

  /// The CR4 bits this CPU defines; every other bit is reserved (MOV to CR4 with it set is #GP(0)).
  public var definedCR4Bits: ControlRegister4 {
    var bits: ControlRegister4 = []
    for entry in Self.cr4Bits where entry.needs.isEmpty || !entry.needs.isDisjoint(with: self) {
      bits.insert(entry.bit)
    }
    return bits
  }

  /// The IA32_EFER bits this CPU defines (Intel's SDM §2.2.1: SCE, LME, LMA, NXE; AMD's
  /// SVME, LMSLE, FFXSR and TCE are reserved here). LMA is read-only but not reserved.
  public var definedEFERBits: ExtendedFeatureEnable {
    var bits: ExtendedFeatureEnable = [.longModeActive]
    if contains(.syscall) { bits.insert(.systemCallExtensions) }
    if contains(.longMode) { bits.insert(.longModeEnable) }
    if contains(.nx) { bits.insert(.noExecuteEnable) }
    return bits
  }
}

/// The processor state a control-register write is checked against.
public struct ControlRegisterState: Sendable, Hashable {
  public var cr0: ControlRegister0
  /// CR3: its bits 11:0 decide whether CR4.PCIDE may be set.
  public var cr3: UInt64
  public var cr4: ControlRegister4
  public var efer: ExtendedFeatureEnable
  /// CS.L: in IA-32e mode, 64-bit mode (true) rather than compatibility mode. Ignored
  /// outside IA-32e mode.
  public var codeSegmentIs64Bit: Bool

  public init(
    cr0: ControlRegister0, cr3: UInt64 = 0, cr4: ControlRegister4, efer: ExtendedFeatureEnable = [],
    codeSegmentIs64Bit: Bool = true
  ) {
    self.cr0 = cr0
    self.cr3 = cr3
    self.cr4 = cr4
    self.efer = efer
    self.codeSegmentIs64Bit = codeSegmentIs64Bit
  }

  /// IA-32e mode is active: IA32_EFER.LMA = 1.
  @inlinable public var isIA32eMode: Bool { efer.contains(.longModeActive) }
  /// 64-bit mode: IA-32e mode with CS.L = 1.
  @inlinable public var is64BitMode: Bool { isIA32eMode && codeSegmentIs64Bit }
}

/// One write: MOV to CR0, MOV to CR4 or WRMSR to IA32_EFER, with the whole new value.
public enum ControlRegisterWrite: Sendable, Hashable, CustomStringConvertible {
  case cr0(ControlRegister0)
  case cr4(ControlRegister4)
  case efer(ExtendedFeatureEnable)

  public var description: String {
    switch self {
    case .cr0(let value): "MOV CR0, \(hex(value.rawValue))"
    case .cr4(let value): "MOV CR4, \(hex(value.rawValue))"
    case .efer(let value): "WRMSR IA32_EFER, \(hex(value.rawValue))"
    }
  }
}

/// Why a write raises #GP(0), with the SDM rule it breaks.
public enum ControlRegisterWriteFault: Sendable, Hashable, CustomStringConvertible {
  /// MOV to CR and WRMSR are privileged: CPL > 0.
  case privilege(cpl: Int)
  /// CR0 bits 63:32 are reserved. (Reserved bits of 31:0 are ignored, not refused.)
  case cr0ReservedBits(UInt64)
  /// CR0.PG = 1 with CR0.PE = 0 (this includes clearing PE while PG stays set).
  case pagingWithoutProtection
  /// CR0.NW = 1 with CR0.CD = 0.
  case notWriteThroughWithoutCacheDisable
  /// CR0.PG cleared in 64-bit mode.
  case pagingClearedIn64BitMode
  /// CR0.PG cleared while CR4.PCIDE = 1.
  case pagingClearedWithPCIDs
  /// CR0.PG set with IA32_EFER.LME = 1 and CR4.PAE = 0: IA-32e mode needs PAE.
  case ia32eActivationWithoutPAE
  /// CR0.WP cleared while CR4.CET = 1.
  case writeProtectClearedWithCET
  /// A bit set that CR4 does not define for this CPU's features.
  case cr4ReservedBits(UInt64)
  /// CR4.PAE cleared in IA-32e mode.
  case physicalAddressExtensionClearedInIA32eMode
  /// CR4.LA57 changed in IA-32e mode.
  case fiveLevelPagingChangedInIA32eMode
  /// CR4.PCIDE set outside IA-32e mode.
  case pcidEnableOutsideIA32eMode
  /// CR4.PCIDE changed from 0 to 1 with CR3[11:0] (the PCID it would name) not 0.
  case pcidEnableWithNonzeroCR3Low(UInt64)
  /// CR4.CET set while CR0.WP = 0.
  case controlFlowEnforcementWithoutWriteProtect
  /// A bit set that IA32_EFER does not define for this CPU's features.
  case eferReservedBits(UInt64)
  /// IA32_EFER.LME changed while CR0.PG = 1.
  case longModeEnableChangedWithPaging

  public var description: String {
    switch self {
    case .privilege(let cpl): "CPL \(cpl) > 0"
    case .cr0ReservedBits(let bits): "reserved CR0 bits \(hex(bits)) set"
    case .pagingWithoutProtection: "CR0.PG=1 with CR0.PE=0"
    case .notWriteThroughWithoutCacheDisable: "CR0.NW=1 with CR0.CD=0"
    case .pagingClearedIn64BitMode: "CR0.PG cleared in 64-bit mode"
    case .pagingClearedWithPCIDs: "CR0.PG cleared with CR4.PCIDE=1"
    case .ia32eActivationWithoutPAE: "CR0.PG set with IA32_EFER.LME=1 and CR4.PAE=0"
    case .writeProtectClearedWithCET: "CR0.WP cleared with CR4.CET=1"
    case .cr4ReservedBits(let bits): "CR4 bits \(hex(bits)) reserved on this CPU"
    case .physicalAddressExtensionClearedInIA32eMode: "CR4.PAE cleared in IA-32e mode"
    case .fiveLevelPagingChangedInIA32eMode: "CR4.LA57 changed in IA-32e mode"
    case .pcidEnableOutsideIA32eMode: "CR4.PCIDE set outside IA-32e mode"
    case .pcidEnableWithNonzeroCR3Low(let bits): "CR4.PCIDE set with CR3[11:0]=\(hex(bits))"
    case .controlFlowEnforcementWithoutWriteProtect: "CR4.CET set with CR0.WP=0"
    case .eferReservedBits(let bits): "IA32_EFER bits \(hex(bits)) reserved on this CPU"
    case .longModeEnableChangedWithPaging: "IA32_EFER.LME changed with CR0.PG=1"
    }
  }
}

/// What a write does.
public enum ControlRegisterWriteOutcome: Sendable, Hashable, CustomStringConvertible {
  /// The register takes the value (less CR0's ignored reserved bits and EFER.LMA, which
  /// the processor keeps).
  case taken
  /// #GP(0); the register keeps its old value.
  case generalProtection(ControlRegisterWriteFault)

  @inlinable public var isTaken: Bool { self == .taken }

  public var description: String {
    switch self {
    case .taken: "taken"
    case .generalProtection(let fault): "#GP(0): \(fault)"
    }
  }
}

/// Whether `write`, made at `cpl` from `state` on a CPU with `features`, is taken or raises
/// #GP(0) (SDM vol. 2 MOV to CR and WRMSR; vol. 3A §2.2.1, §2.5). When several rules
/// forbid it the reason is the first of: privilege, reserved bits, then the register's
/// own rules in the order `ControlRegisterWriteFault` lists them.
public func checkControlRegisterWrite(
  _ write: ControlRegisterWrite, state: ControlRegisterState, cpl: Int, features: ProcessorFeatures
) -> ControlRegisterWriteOutcome {
  if cpl > 0 { return .generalProtection(.privilege(cpl: cpl)) }
  let fault: ControlRegisterWriteFault? =
    switch write {
    case .cr0(let value): cr0WriteFault(value, state)
    case .cr4(let value): cr4WriteFault(value, state, features)
    case .efer(let value): eferWriteFault(value, state, features)
    }
  return fault.map { .generalProtection($0) } ?? .taken
}

/// MOV to CR0's #GP(0) conditions. PAE paging's PDPTE check on setting PG is not modelled
/// here (it needs memory; `translate` reports it as `GeneralProtectionReason.reservedPDPTE`).
func cr0WriteFault(_ new: ControlRegister0, _ state: ControlRegisterState) -> ControlRegisterWriteFault? {
  let reserved = new.rawValue & 0xFFFF_FFFF_0000_0000
  if reserved != 0 { return .cr0ReservedBits(reserved) }
  if new.contains(.paging) && !new.contains(.protectionEnable) { return .pagingWithoutProtection }
  if new.contains(.notWriteThrough) && !new.contains(.cacheDisable) { return .notWriteThroughWithoutCacheDisable }
  let old = state.cr0
  if old.contains(.paging) && !new.contains(.paging) {
    // Leaving IA-32e mode goes through compatibility mode with PCIDs off first.
    if state.is64BitMode { return .pagingClearedIn64BitMode }
    if state.cr4.contains(.pcidEnable) { return .pagingClearedWithPCIDs }
  }
  if !old.contains(.paging) && new.contains(.paging) && state.efer.contains(.longModeEnable)
    && !state.cr4.contains(.physicalAddressExtension)
  {
    return .ia32eActivationWithoutPAE
  }
  if !new.contains(.writeProtect) && state.cr4.contains(.controlFlowEnforcement) { return .writeProtectClearedWithCET }
  return nil
}

/// MOV to CR4's #GP(0) conditions (PAE paging's PDPTE reload is not modelled, as for CR0).
func cr4WriteFault(
  _ new: ControlRegister4, _ state: ControlRegisterState, _ features: ProcessorFeatures
) -> ControlRegisterWriteFault? {
  let reserved = new.rawValue & ~features.definedCR4Bits.rawValue
  if reserved != 0 { return .cr4ReservedBits(reserved) }
  let old = state.cr4
  if state.isIA32eMode {
    // IA-32e paging is 4- or 5-level: neither PAE nor the level count may change under it.
    if !new.contains(.physicalAddressExtension) { return .physicalAddressExtensionClearedInIA32eMode }
    if new.contains(.fiveLevelPaging) != old.contains(.fiveLevelPaging) { return .fiveLevelPagingChangedInIA32eMode }
  }
  if new.contains(.pcidEnable) {
    if !state.isIA32eMode { return .pcidEnableOutsideIA32eMode }
    // CR3[11:0] would become the current PCID; only PCID 0 may be switched to.
    if !old.contains(.pcidEnable) && state.cr3 & 0xFFF != 0 { return .pcidEnableWithNonzeroCR3Low(state.cr3 & 0xFFF) }
  }
  if new.contains(.controlFlowEnforcement) && !state.cr0.contains(.writeProtect) {
    return .controlFlowEnforcementWithoutWriteProtect
  }
  return nil
}

/// WRMSR to IA32_EFER's #GP(0) conditions. LMA is the processor's: a written LMA is ignored.
func eferWriteFault(
  _ new: ExtendedFeatureEnable, _ state: ControlRegisterState, _ features: ProcessorFeatures
) -> ControlRegisterWriteFault? {
  let reserved = new.rawValue & ~features.definedEFERBits.rawValue
  if reserved != 0 { return .eferReservedBits(reserved) }
  // Paging modes change only with paging off (§4.1.2): LME is fixed while CR0.PG = 1.
  if state.cr0.contains(.paging) && new.contains(.longModeEnable) != state.efer.contains(.longModeEnable) {
    return .longModeEnableChangedWithPaging
  }
  return nil
}
