import X86Paging

/// A memory that only answers load64/load32 (no `tablePage`), to exercise the fallback path.
struct LoadOnlyMemory: PhysicalMemory {
  let base: SparsePhysicalMemory
  func load64(_ physicalAddress: UInt64) -> UInt64? { base.load64(physicalAddress) }
  func load32(_ physicalAddress: UInt64) -> UInt32? { base.load32(physicalAddress) }
}

/// A context for `mode` with the modifiers the test names.
func makeContext(
  _ mode: PagingMode = .fourLevel, cr3: UInt64 = 0x1000, maxPhysicalAddressBits: Int = 46,
  wp: Bool = false, nxe: Bool = false, smep: Bool = false, smap: Bool = false, ac: Bool = false,
  pke: Bool = false, pks: Bool = false, pkru: ProtectionKeyRights = .init(), pkrs: ProtectionKeyRights = .init()
) -> PagingContext {
  var context = PagingContext(mode: mode, cr3: cr3, maxPhysicalAddressBits: maxPhysicalAddressBits)
  if wp { context.cr0.insert(.writeProtect) }
  if nxe { context.efer.insert(.noExecuteEnable) }
  if smep { context.cr4.insert(.supervisorModeExecutionPrevention) }
  if smap { context.cr4.insert(.supervisorModeAccessPrevention) }
  if ac { context.rflags.insert(.alignmentCheck) }
  if pke { context.cr4.insert(.protectionKeysForUserPages) }
  if pks { context.cr4.insert(.protectionKeysForSupervisorPages) }
  context.pkru = pkru
  context.pkrs = pkrs
  return context
}

/// A builder over a fresh 64 MiB memory, tables from 1 MiB up.
func makeBuilder(
  _ mode: PagingMode, maxPhysicalAddressBits: Int = 46, size: UInt64 = 64 << 20
) -> PageTableBuilder<SparsePhysicalMemory> {
  PageTableBuilder(
    memory: SparsePhysicalMemory(size: size), mode: mode,
    maxPhysicalAddressBits: maxPhysicalAddressBits, tableArea: 0x10_0000)
}

/// ORs `bits` into the 8-byte entry at `address`.
func setBits(_ memory: SparsePhysicalMemory, _ address: UInt64, _ bits: UInt64) {
  memory.store64(memory.load64(address)! | bits, at: address)
}

/// Clears `bits` in the 8-byte entry at `address`.
func clearBits(_ memory: SparsePhysicalMemory, _ address: UInt64, _ bits: UInt64) {
  memory.store64(memory.load64(address)! & ~bits, at: address)
}

/// The walk's levels, top first.
func levels(_ walk: Walk) -> [PagingLevel] { walk.steps.map(\.level) }
