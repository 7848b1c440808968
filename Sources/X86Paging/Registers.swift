// Typed views of the architectural registers that steer paging.
// Bit positions follow the Intel SDM vol. 3A (§2.5 for CR0/CR4, §2.2.1 for
// IA32_EFER, §2.3 for EFLAGS, §4.6.2 for PKRU/IA32_PKRS). Each flag's doc
// comment names the SDM mnemonic so `grep` over the manual finds it.

/// CR0, the control register that enables protection and paging.
public struct ControlRegister0: OptionSet, Sendable, Hashable, CustomStringConvertible {
  public var rawValue: UInt64
  @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }

  /// CR0.PE (bit 0): protected mode enable.
  public static let protectionEnable = Self(rawValue: 1 << 0)
  /// CR0.MP (bit 1): monitor coprocessor.
  public static let monitorCoprocessor = Self(rawValue: 1 << 1)
  /// CR0.EM (bit 2): x87 emulation.
  public static let emulation = Self(rawValue: 1 << 2)
  /// CR0.TS (bit 3): task switched.
  public static let taskSwitched = Self(rawValue: 1 << 3)
  /// CR0.ET (bit 4): extension type (hard-wired to 1).
  public static let extensionType = Self(rawValue: 1 << 4)
  /// CR0.NE (bit 5): native x87 error reporting.
  public static let numericError = Self(rawValue: 1 << 5)
  /// CR0.WP (bit 16): write protect; when set, supervisor-mode writes honour read-only pages.
  public static let writeProtect = Self(rawValue: 1 << 16)
  /// CR0.AM (bit 18): alignment mask.
  public static let alignmentMask = Self(rawValue: 1 << 18)
  /// CR0.NW (bit 29): not write-through.
  public static let notWriteThrough = Self(rawValue: 1 << 29)
  /// CR0.CD (bit 30): cache disable.
  public static let cacheDisable = Self(rawValue: 1 << 30)
  /// CR0.PG (bit 31): paging enable.
  public static let paging = Self(rawValue: 1 << 31)

  public var description: String {
    flagNames(
      rawValue,
      [
        (0, "PE"), (1, "MP"), (2, "EM"), (3, "TS"), (4, "ET"), (5, "NE"), (16, "WP"),
        (18, "AM"), (29, "NW"), (30, "CD"), (31, "PG"),
      ])
  }
}

/// CR4, the control register holding the paging-mode modifiers.
public struct ControlRegister4: OptionSet, Sendable, Hashable, CustomStringConvertible {
  public var rawValue: UInt64
  @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }

  /// CR4.VME (bit 0): virtual-8086 mode extensions.
  public static let virtual8086ModeExtensions = Self(rawValue: 1 << 0)
  /// CR4.PVI (bit 1): protected-mode virtual interrupts.
  public static let protectedModeVirtualInterrupts = Self(rawValue: 1 << 1)
  /// CR4.TSD (bit 2): time stamp disable.
  public static let timeStampDisable = Self(rawValue: 1 << 2)
  /// CR4.DE (bit 3): debugging extensions.
  public static let debuggingExtensions = Self(rawValue: 1 << 3)
  /// CR4.PSE (bit 4): page size extensions; enables 4 MiB pages under 32-bit paging.
  public static let pageSizeExtensions = Self(rawValue: 1 << 4)
  /// CR4.PAE (bit 5): physical address extension; 64-bit paging entries.
  public static let physicalAddressExtension = Self(rawValue: 1 << 5)
  /// CR4.MCE (bit 6): machine-check enable.
  public static let machineCheckEnable = Self(rawValue: 1 << 6)
  /// CR4.PGE (bit 7): page global enable; makes the G bit of leaf entries meaningful.
  public static let pageGlobalEnable = Self(rawValue: 1 << 7)
  /// CR4.PCE (bit 8): performance-monitoring counter enable.
  public static let performanceCounterEnable = Self(rawValue: 1 << 8)
  /// CR4.OSFXSR (bit 9).
  public static let osFXSaveSupport = Self(rawValue: 1 << 9)
  /// CR4.OSXMMEXCPT (bit 10).
  public static let osUnmaskedSIMDExceptions = Self(rawValue: 1 << 10)
  /// CR4.UMIP (bit 11): user-mode instruction prevention.
  public static let userModeInstructionPrevention = Self(rawValue: 1 << 11)
  /// CR4.LA57 (bit 12): 57-bit linear addresses, i.e. 5-level paging.
  public static let fiveLevelPaging = Self(rawValue: 1 << 12)
  /// CR4.VMXE (bit 13).
  public static let vmxEnable = Self(rawValue: 1 << 13)
  /// CR4.SMXE (bit 14).
  public static let smxEnable = Self(rawValue: 1 << 14)
  /// CR4.FSGSBASE (bit 16).
  public static let fsgsBaseEnable = Self(rawValue: 1 << 16)
  /// CR4.PCIDE (bit 17): process-context identifiers; CR3 bits 11:0 become the PCID.
  public static let pcidEnable = Self(rawValue: 1 << 17)
  /// CR4.OSXSAVE (bit 18).
  public static let osXSaveEnable = Self(rawValue: 1 << 18)
  /// CR4.KL (bit 19): Key Locker enable.
  public static let keyLockerEnable = Self(rawValue: 1 << 19)
  /// CR4.SMEP (bit 20): supervisor-mode execution prevention.
  public static let supervisorModeExecutionPrevention = Self(rawValue: 1 << 20)
  /// CR4.SMAP (bit 21): supervisor-mode access prevention.
  public static let supervisorModeAccessPrevention = Self(rawValue: 1 << 21)
  /// CR4.PKE (bit 22): protection keys for user-mode pages (PKRU).
  public static let protectionKeysForUserPages = Self(rawValue: 1 << 22)
  /// CR4.CET (bit 23): control-flow enforcement technology.
  public static let controlFlowEnforcement = Self(rawValue: 1 << 23)
  /// CR4.PKS (bit 24): protection keys for supervisor-mode pages (IA32_PKRS).
  public static let protectionKeysForSupervisorPages = Self(rawValue: 1 << 24)
  /// CR4.UINTR (bit 25): user interrupts enable.
  public static let userInterruptsEnable = Self(rawValue: 1 << 25)
  /// CR4.LAM_SUP (bit 28): linear-address masking for supervisor pointers.
  public static let supervisorLinearAddressMasking = Self(rawValue: 1 << 28)

  public var description: String {
    flagNames(
      rawValue,
      [
        (0, "VME"), (1, "PVI"), (2, "TSD"), (3, "DE"), (4, "PSE"), (5, "PAE"), (6, "MCE"),
        (7, "PGE"), (8, "PCE"), (9, "OSFXSR"), (10, "OSXMMEXCPT"), (11, "UMIP"), (12, "LA57"),
        (13, "VMXE"), (14, "SMXE"), (16, "FSGSBASE"), (17, "PCIDE"), (18, "OSXSAVE"), (19, "KL"),
        (20, "SMEP"), (21, "SMAP"), (22, "PKE"), (23, "CET"), (24, "PKS"), (25, "UINTR"),
        (28, "LAM_SUP"),
      ])
  }
}

/// The IA32_EFER MSR (C000_0080H), extended feature enables.
public struct ExtendedFeatureEnable: OptionSet, Sendable, Hashable, CustomStringConvertible {
  public var rawValue: UInt64
  @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }

  /// IA32_EFER.SCE (bit 0): SYSCALL enable.
  public static let systemCallExtensions = Self(rawValue: 1 << 0)
  /// IA32_EFER.LME (bit 8): IA-32e (long) mode enable.
  public static let longModeEnable = Self(rawValue: 1 << 8)
  /// IA32_EFER.LMA (bit 10): IA-32e mode active (LME and CR0.PG both set).
  public static let longModeActive = Self(rawValue: 1 << 10)
  /// IA32_EFER.NXE (bit 11): execute-disable enable; bit 63 of PAE and 4/5-level entries becomes XD.
  public static let noExecuteEnable = Self(rawValue: 1 << 11)
  /// IA32_EFER.SVME (bit 12), AMD.
  public static let secureVirtualMachineEnable = Self(rawValue: 1 << 12)
  /// IA32_EFER.LMSLE (bit 13), AMD.
  public static let longModeSegmentLimitEnable = Self(rawValue: 1 << 13)
  /// IA32_EFER.FFXSR (bit 14), AMD.
  public static let fastFXSave = Self(rawValue: 1 << 14)
  /// IA32_EFER.TCE (bit 15), AMD.
  public static let translationCacheExtension = Self(rawValue: 1 << 15)

  public var description: String {
    flagNames(
      rawValue,
      [
        (0, "SCE"), (8, "LME"), (10, "LMA"), (11, "NXE"), (12, "SVME"), (13, "LMSLE"),
        (14, "FFXSR"), (15, "TCE"),
      ])
  }
}

/// RFLAGS. Paging only reads AC (for SMAP), but the whole register is typed.
public struct RFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
  public var rawValue: UInt64
  @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }

  /// CF (bit 0).
  public static let carry = Self(rawValue: 1 << 0)
  /// PF (bit 2).
  public static let parity = Self(rawValue: 1 << 2)
  /// AF (bit 4).
  public static let auxiliaryCarry = Self(rawValue: 1 << 4)
  /// ZF (bit 6).
  public static let zero = Self(rawValue: 1 << 6)
  /// SF (bit 7).
  public static let sign = Self(rawValue: 1 << 7)
  /// TF (bit 8).
  public static let trap = Self(rawValue: 1 << 8)
  /// IF (bit 9).
  public static let interruptEnable = Self(rawValue: 1 << 9)
  /// DF (bit 10).
  public static let direction = Self(rawValue: 1 << 10)
  /// OF (bit 11).
  public static let overflow = Self(rawValue: 1 << 11)
  /// NT (bit 14).
  public static let nestedTask = Self(rawValue: 1 << 14)
  /// RF (bit 16).
  public static let resume = Self(rawValue: 1 << 16)
  /// VM (bit 17).
  public static let virtual8086Mode = Self(rawValue: 1 << 17)
  /// AC (bit 18): alignment check / access control. With CR4.SMAP=1 it lets explicit
  /// supervisor-mode data accesses reach user-mode pages.
  public static let alignmentCheck = Self(rawValue: 1 << 18)
  /// VIF (bit 19).
  public static let virtualInterrupt = Self(rawValue: 1 << 19)
  /// VIP (bit 20).
  public static let virtualInterruptPending = Self(rawValue: 1 << 20)
  /// ID (bit 21).
  public static let identification = Self(rawValue: 1 << 21)

  /// IOPL (bits 13:12).
  @inlinable public var ioPrivilegeLevel: Int { Int((rawValue >> 12) & 3) }

  public var description: String {
    flagNames(
      rawValue,
      [
        (0, "CF"), (1, "1"), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"),
        (10, "DF"), (11, "OF"), (12, "IOPL0"), (13, "IOPL1"), (14, "NT"), (16, "RF"), (17, "VM"),
        (18, "AC"), (19, "VIF"), (20, "VIP"), (21, "ID"),
      ])
  }
}

/// A protection-key rights register: PKRU for user-mode pages (CR4.PKE) or the low
/// 32 bits of IA32_PKRS for supervisor-mode pages (CR4.PKS). For key i, bit 2i is
/// ADi (access disable) and bit 2i+1 is WDi (write disable) (SDM §4.6.2).
public struct ProtectionKeyRights: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
  public var rawValue: UInt32
  @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// All keys allow everything.
  @inlinable public init() { self.rawValue = 0 }

  /// A register with ADi set for each key in `accessDisabled` and WDi for each in `writeDisabled`.
  public init(accessDisabled: [UInt8] = [], writeDisabled: [UInt8] = []) {
    var value: UInt32 = 0
    for key in accessDisabled { value |= 1 << (2 * UInt32(key & 15)) }
    for key in writeDisabled { value |= 2 << (2 * UInt32(key & 15)) }
    self.rawValue = value
  }

  /// ADi: no data access at all to pages with key `key`.
  @inlinable public func accessDisabled(_ key: UInt8) -> Bool {
    rawValue >> (2 * UInt32(key & 15)) & 1 != 0
  }
  /// WDi: writes to pages with key `key` are disallowed (supervisor writes only if CR0.WP=1).
  @inlinable public func writeDisabled(_ key: UInt8) -> Bool {
    rawValue >> (2 * UInt32(key & 15) + 1) & 1 != 0
  }

  public var description: String { hex(UInt64(rawValue), digits: 8) }
}

// MARK: - formatting helpers (no Foundation)

/// `0x`-prefixed lowercase hexadecimal, zero-padded to `digits`: how every
/// mmlab report writes an address or a register.
public func hex(_ value: UInt64, digits: Int = 0) -> String {
  let text = String(value, radix: 16)
  let padding = digits > text.count ? String(repeating: "0", count: digits - text.count) : ""
  return "0x" + padding + text
}

/// "PE|WP|PG" plus any unnamed set bits as hex.
func flagNames(_ value: UInt64, _ names: [(Int, String)]) -> String {
  var parts: [String] = []
  var rest = value
  for (bit, name) in names where value >> UInt64(bit) & 1 != 0 {
    parts.append(name)
    rest &= ~(1 << UInt64(bit))
  }
  if rest != 0 { parts.append(hex(rest)) }
  return parts.isEmpty ? "0" : parts.joined(separator: "|")
}
