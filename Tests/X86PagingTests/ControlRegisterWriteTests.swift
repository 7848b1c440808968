import Testing
import X86Paging

/// One row written from the SDM (vol. 2 MOV to CR and WRMSR #GP conditions; vol. 3A §2.2.1,
/// §2.5, §4.1.2): a state, a write at a CPL, the CPU's features, and what must happen.
struct ControlWriteCase: Sendable, CustomTestStringConvertible {
  var name: String
  var state: ControlRegisterState
  var write: ControlRegisterWrite
  var cpl: Int = 0
  var features: ProcessorFeatures = .all
  var expected: ControlRegisterWriteOutcome
  var testDescription: String { name }
}

private let cr0Long: ControlRegister0 = [
  .protectionEnable, .monitorCoprocessor, .extensionType, .numericError, .writeProtect, .paging,
]
/// 64-bit mode with 4-level paging, as mmlab's guest runs.
private let longMode = ControlRegisterState(
  cr0: cr0Long, cr3: 0x1000, cr4: [.physicalAddressExtension],
  efer: [.longModeEnable, .longModeActive, .noExecuteEnable])
/// The same in compatibility mode (CS.L = 0).
private let compatibility = with(longMode) { $0.codeSegmentIs64Bit = false }
/// Legacy protected mode with PAE paging (EFER.LME = 0).
private let paePaging = ControlRegisterState(
  cr0: [.protectionEnable, .extensionType, .paging], cr3: 0x1000, cr4: [.physicalAddressExtension])
/// Protected mode, paging off, LME set: one MOV to CR0 away from IA-32e mode.
private let beforeIA32e = ControlRegisterState(
  cr0: [.protectionEnable, .extensionType], cr3: 0x1000, cr4: [.physicalAddressExtension],
  efer: [.longModeEnable])
/// Only what 4-level paging itself needs.
private let minimal: ProcessorFeatures = [.pae, .longMode]

private func with(_ state: ControlRegisterState, _ change: (inout ControlRegisterState) -> Void)
  -> ControlRegisterState
{
  var copy = state
  change(&copy)
  return copy
}
private func cr0(_ state: ControlRegisterState, clear: ControlRegister0 = [], set: ControlRegister0 = [])
  -> ControlRegisterWrite
{
  .cr0(state.cr0.subtracting(clear).union(set))
}
private func cr4(_ state: ControlRegisterState, clear: ControlRegister4 = [], set: ControlRegister4 = [])
  -> ControlRegisterWrite
{
  .cr4(state.cr4.subtracting(clear).union(set))
}
private func efer(
  _ state: ControlRegisterState, clear: ExtendedFeatureEnable = [], set: ExtendedFeatureEnable = []
) -> ControlRegisterWrite {
  .efer(state.efer.subtracting(clear).union(set))
}
private func gp(_ fault: ControlRegisterWriteFault) -> ControlRegisterWriteOutcome { .generalProtection(fault) }
private func bits<T: OptionSet>(_ raw: UInt64) -> T where T.RawValue == UInt64 { T(rawValue: raw) }

private let cr0Cases: [ControlWriteCase] = [
  ControlWriteCase(name: "CR0 rewritten unchanged", state: longMode, write: cr0(longMode), expected: .taken),
  ControlWriteCase(
    name: "CR0.WP cleared", state: longMode, write: cr0(longMode, clear: .writeProtect), expected: .taken),
  ControlWriteCase(
    name: "CR0 bit 32 set", state: longMode, write: cr0(longMode, set: bits(1 << 32)),
    expected: gp(.cr0ReservedBits(1 << 32))),
  ControlWriteCase(
    name: "CR0 bit 63 set", state: longMode, write: cr0(longMode, set: bits(1 << 63)),
    expected: gp(.cr0ReservedBits(1 << 63))),
  ControlWriteCase(
    name: "CR0 bit 6 (reserved, 31:0) set is ignored, not refused", state: longMode,
    write: cr0(longMode, set: bits(1 << 6)), expected: .taken),
  ControlWriteCase(
    name: "CR0.PG cleared in 64-bit mode", state: longMode, write: cr0(longMode, clear: .paging),
    expected: gp(.pagingClearedIn64BitMode)),
  ControlWriteCase(
    name: "CR0.PG cleared in compatibility mode leaves IA-32e mode", state: compatibility,
    write: cr0(compatibility, clear: .paging), expected: .taken),
  ControlWriteCase(
    name: "CR0.PG cleared in compatibility mode with CR4.PCIDE",
    state: with(compatibility) { $0.cr4.insert(.pcidEnable) }, write: cr0(compatibility, clear: .paging),
    expected: gp(.pagingClearedWithPCIDs)),
  ControlWriteCase(
    name: "CR0.PG cleared under PAE paging", state: paePaging, write: cr0(paePaging, clear: .paging),
    expected: .taken),
  ControlWriteCase(
    name: "CR0.PE cleared with PG set", state: longMode, write: cr0(longMode, clear: .protectionEnable),
    expected: gp(.pagingWithoutProtection)),
  ControlWriteCase(
    name: "CR0.PE and PG cleared under PAE paging", state: paePaging,
    write: cr0(paePaging, clear: [.protectionEnable, .paging]), expected: .taken),
  ControlWriteCase(
    name: "CR0.NW set with CD clear", state: longMode, write: cr0(longMode, set: .notWriteThrough),
    expected: gp(.notWriteThroughWithoutCacheDisable)),
  ControlWriteCase(
    name: "CR0.NW set with CD set", state: longMode, write: cr0(longMode, set: [.notWriteThrough, .cacheDisable]),
    expected: .taken),
  ControlWriteCase(
    name: "CR0.PG set with LME and PAE enters IA-32e mode", state: beforeIA32e,
    write: cr0(beforeIA32e, set: .paging), expected: .taken),
  ControlWriteCase(
    name: "CR0.PG set with LME but not PAE",
    state: with(beforeIA32e) { $0.cr4 = [] }, write: cr0(beforeIA32e, set: .paging),
    expected: gp(.ia32eActivationWithoutPAE)),
  ControlWriteCase(
    name: "CR0.WP cleared with CR4.CET set", state: with(longMode) { $0.cr4.insert(.controlFlowEnforcement) },
    write: cr0(longMode, clear: .writeProtect), expected: gp(.writeProtectClearedWithCET)),
]

private let cr4Cases: [ControlWriteCase] = [
  ControlWriteCase(name: "CR4 rewritten unchanged", state: longMode, write: cr4(longMode), expected: .taken),
  ControlWriteCase(
    name: "CR4 bit 15 set", state: longMode, write: cr4(longMode, set: bits(1 << 15)),
    expected: gp(.cr4ReservedBits(1 << 15))),
  ControlWriteCase(
    name: "CR4 bit 63 set", state: longMode, write: cr4(longMode, set: bits(1 << 63)),
    expected: gp(.cr4ReservedBits(1 << 63))),
  ControlWriteCase(
    name: "CR4 bits 27 and 26 set", state: longMode, write: cr4(longMode, set: bits(3 << 26)),
    expected: gp(.cr4ReservedBits(3 << 26))),
  ControlWriteCase(
    name: "CR4.SMEP set with SMEP", state: longMode, write: cr4(longMode, set: .supervisorModeExecutionPrevention),
    expected: .taken),
  ControlWriteCase(
    name: "CR4.SMEP set without SMEP", state: longMode,
    write: cr4(longMode, set: .supervisorModeExecutionPrevention), features: ProcessorFeatures.all.subtracting(.smep),
    expected: gp(.cr4ReservedBits(1 << 20))),
  ControlWriteCase(
    name: "CR4.SMAP set with SMAP", state: longMode, write: cr4(longMode, set: .supervisorModeAccessPrevention),
    features: minimal.union(.smap), expected: .taken),
  ControlWriteCase(
    name: "CR4.SMAP set without SMAP", state: longMode, write: cr4(longMode, set: .supervisorModeAccessPrevention),
    features: minimal, expected: gp(.cr4ReservedBits(1 << 21))),
  ControlWriteCase(
    name: "CR4.PKE set with PKU", state: longMode, write: cr4(longMode, set: .protectionKeysForUserPages),
    features: minimal.union(.pku), expected: .taken),
  ControlWriteCase(
    name: "CR4.PKE set without PKU", state: longMode, write: cr4(longMode, set: .protectionKeysForUserPages),
    features: minimal, expected: gp(.cr4ReservedBits(1 << 22))),
  ControlWriteCase(
    name: "CR4.PGE set with PGE", state: longMode, write: cr4(longMode, set: .pageGlobalEnable),
    features: minimal.union(.pge), expected: .taken),
  ControlWriteCase(
    name: "CR4.PGE set without PGE", state: longMode, write: cr4(longMode, set: .pageGlobalEnable),
    features: minimal, expected: gp(.cr4ReservedBits(1 << 7))),
  ControlWriteCase(
    name: "CR4.PCIDE set with PCID, CR3[11:0] = 0", state: longMode, write: cr4(longMode, set: .pcidEnable),
    features: minimal.union(.pcid), expected: .taken),
  ControlWriteCase(
    name: "CR4.PCIDE set without PCID", state: longMode, write: cr4(longMode, set: .pcidEnable), features: minimal,
    expected: gp(.cr4ReservedBits(1 << 17))),
  ControlWriteCase(
    name: "CR4.PCIDE set with CR3[11:0] = 5", state: with(longMode) { $0.cr3 = 0x1005 },
    write: cr4(longMode, set: .pcidEnable), expected: gp(.pcidEnableWithNonzeroCR3Low(5))),
  ControlWriteCase(
    name: "CR4 rewritten with PCIDE already set and PCID 5",
    state: with(longMode) {
      $0.cr3 = 0x1005
      $0.cr4.insert(.pcidEnable)
    }, write: .cr4([.physicalAddressExtension, .pcidEnable]), expected: .taken),
  ControlWriteCase(
    name: "CR4.PCIDE set outside IA-32e mode", state: paePaging, write: cr4(paePaging, set: .pcidEnable),
    expected: gp(.pcidEnableOutsideIA32eMode)),
  ControlWriteCase(
    name: "CR4.PAE cleared in IA-32e mode", state: longMode, write: cr4(longMode, clear: .physicalAddressExtension),
    expected: gp(.physicalAddressExtensionClearedInIA32eMode)),
  ControlWriteCase(
    name: "CR4.PAE cleared under PAE paging (to 32-bit paging)", state: paePaging,
    write: cr4(paePaging, clear: .physicalAddressExtension), expected: .taken),
  ControlWriteCase(
    name: "CR4.LA57 set in IA-32e mode with LA57", state: longMode, write: cr4(longMode, set: .fiveLevelPaging),
    expected: gp(.fiveLevelPagingChangedInIA32eMode)),
  ControlWriteCase(
    name: "CR4.LA57 cleared in IA-32e mode", state: with(longMode) { $0.cr4.insert(.fiveLevelPaging) },
    write: cr4(longMode), expected: gp(.fiveLevelPagingChangedInIA32eMode)),
  ControlWriteCase(
    name: "CR4.LA57 set in IA-32e mode without LA57", state: longMode, write: cr4(longMode, set: .fiveLevelPaging),
    features: minimal, expected: gp(.cr4ReservedBits(1 << 12))),
  ControlWriteCase(
    name: "CR4.LA57 set with paging off", state: beforeIA32e, write: cr4(beforeIA32e, set: .fiveLevelPaging),
    expected: .taken),
  ControlWriteCase(
    name: "CR4.UMIP set without UMIP", state: longMode, write: cr4(longMode, set: .userModeInstructionPrevention),
    features: ProcessorFeatures.all.subtracting(.umip), expected: gp(.cr4ReservedBits(1 << 11))),
  ControlWriteCase(
    name: "CR4.OSXSAVE set without XSAVE", state: longMode, write: cr4(longMode, set: .osXSaveEnable),
    features: ProcessorFeatures.all.subtracting(.xsave), expected: gp(.cr4ReservedBits(1 << 18))),
  ControlWriteCase(
    name: "CR4.PCE set on a CPU with no optional feature", state: longMode,
    write: cr4(longMode, set: .performanceCounterEnable), features: minimal, expected: .taken),
  ControlWriteCase(
    name: "CR4.CET set with IBT only and CR0.WP", state: longMode, write: cr4(longMode, set: .controlFlowEnforcement),
    features: minimal.union(.cetIndirectBranchTracking), expected: .taken),
  ControlWriteCase(
    name: "CR4.CET set without CET", state: longMode, write: cr4(longMode, set: .controlFlowEnforcement),
    features: minimal, expected: gp(.cr4ReservedBits(1 << 23))),
  ControlWriteCase(
    name: "CR4.CET set with CR0.WP clear", state: with(longMode) { $0.cr0.remove(.writeProtect) },
    write: cr4(longMode, set: .controlFlowEnforcement), expected: gp(.controlFlowEnforcementWithoutWriteProtect)),
]

private let eferCases: [ControlWriteCase] = [
  ControlWriteCase(
    name: "EFER.NXE cleared", state: longMode, write: efer(longMode, clear: .noExecuteEnable), expected: .taken),
  ControlWriteCase(
    name: "EFER.NXE set with NX", state: with(longMode) { $0.efer.remove(.noExecuteEnable) },
    write: efer(longMode), features: minimal.union(.nx), expected: .taken),
  ControlWriteCase(
    name: "EFER.NXE set without NX", state: with(longMode) { $0.efer.remove(.noExecuteEnable) },
    write: efer(longMode), features: minimal, expected: gp(.eferReservedBits(1 << 11))),
  ControlWriteCase(
    name: "EFER.LME cleared with paging on", state: longMode, write: efer(longMode, clear: .longModeEnable),
    expected: gp(.longModeEnableChangedWithPaging)),
  ControlWriteCase(
    name: "EFER.LME set under PAE paging", state: paePaging, write: efer(paePaging, set: .longModeEnable),
    expected: gp(.longModeEnableChangedWithPaging)),
  ControlWriteCase(
    name: "EFER.LME cleared with paging off", state: beforeIA32e, write: efer(beforeIA32e, clear: .longModeEnable),
    expected: .taken),
  ControlWriteCase(
    name: "EFER.LME set on a CPU without Intel 64", state: with(beforeIA32e) { $0.efer = [] },
    write: .efer(.longModeEnable), features: ProcessorFeatures.all.subtracting(.longMode),
    expected: gp(.eferReservedBits(1 << 8))),
  ControlWriteCase(
    name: "EFER.LMA cleared is ignored", state: longMode, write: efer(longMode, clear: .longModeActive),
    expected: .taken),
  ControlWriteCase(
    name: "EFER.SCE set with SYSCALL", state: longMode, write: efer(longMode, set: .systemCallExtensions),
    expected: .taken),
  ControlWriteCase(
    name: "EFER.SCE set without SYSCALL", state: longMode, write: efer(longMode, set: .systemCallExtensions),
    features: minimal.union(.nx), expected: gp(.eferReservedBits(1))),
  ControlWriteCase(
    name: "EFER bit 1 set", state: longMode, write: efer(longMode, set: bits(1 << 1)),
    expected: gp(.eferReservedBits(1 << 1))),
  ControlWriteCase(
    name: "EFER bit 63 set", state: longMode, write: efer(longMode, set: bits(1 << 63)),
    expected: gp(.eferReservedBits(1 << 63))),
  ControlWriteCase(
    name: "EFER.SVME (AMD) set on the model's Intel CPU", state: longMode,
    write: efer(longMode, set: .secureVirtualMachineEnable), expected: gp(.eferReservedBits(1 << 12))),
]

private let privilegeCases: [ControlWriteCase] = [
  ControlWriteCase(
    name: "CR0 rewritten unchanged at CPL 3", state: longMode, write: cr0(longMode), cpl: 3,
    expected: gp(.privilege(cpl: 3))),
  ControlWriteCase(
    name: "CR4 rewritten unchanged at CPL 1", state: longMode, write: cr4(longMode), cpl: 1,
    expected: gp(.privilege(cpl: 1))),
  ControlWriteCase(
    name: "EFER.NXE cleared at CPL 3", state: longMode, write: efer(longMode, clear: .noExecuteEnable), cpl: 3,
    expected: gp(.privilege(cpl: 3))),
  ControlWriteCase(
    name: "reserved CR4 bit at CPL 3: privilege is checked first", state: longMode,
    write: cr4(longMode, set: bits(1 << 15)), cpl: 3, expected: gp(.privilege(cpl: 3))),
]

@Suite struct ControlRegisterWriteTests {
  @Test(arguments: cr0Cases + cr4Cases + eferCases + privilegeCases)
  func rule(_ row: ControlWriteCase) {
    let outcome = checkControlRegisterWrite(row.write, state: row.state, cpl: row.cpl, features: row.features)
    #expect(outcome == row.expected, "\(row.write) from CR0 \(row.state.cr0) CR4 \(row.state.cr4)")
  }

  /// SDM Figure 2-7's CR4 bits, all defined when every feature is: 14:0, 25:16 and 28.
  @Test func definedCR4Bits() {
    #expect(ProcessorFeatures.all.definedCR4Bits.rawValue == 0x13FF_7FFF)
    #expect(ProcessorFeatures().definedCR4Bits == .performanceCounterEnable)
    #expect(ProcessorFeatures.pcid.definedCR4Bits == [.performanceCounterEnable, .pcidEnable])
    #expect(ProcessorFeatures.vme.definedCR4Bits.contains(.protectedModeVirtualInterrupts))
  }

  @Test func definedEFERBits() {
    #expect(ProcessorFeatures.all.definedEFERBits.rawValue == 0xD01)
    #expect(ProcessorFeatures().definedEFERBits == .longModeActive)
  }

  @Test func outcomeText() {
    let outcome = ControlRegisterWriteOutcome.generalProtection(.cr4ReservedBits(1 << 15))
    #expect("\(outcome)" == "#GP(0): CR4 bits 0x8000 reserved on this CPU")
    #expect(!outcome.isTaken && ControlRegisterWriteOutcome.taken.isTaken)
  }
}
