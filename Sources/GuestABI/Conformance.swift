/// The hardware conformance runner's contract: the host writes cases into the
/// guest's request buffer, the guest performs them and fills the results
/// buffer, both read and written in bulk at `CheckpointCode.conformanceReady`.
///
/// Flow: at boot with `GuestCommandLine.conformance` the guest announces the
/// two buffers (`HypercallKind.region`, kinds `GuestRegionKind.conformance*`),
/// then stops at `conformanceReady`. The host writes a request (a header and
/// `caseCount` case records) and resumes; the guest runs every case, writes
/// one result record per case and stops at `conformanceReady` again. A request
/// of zero cases ends the run (the guest exits 0).
///
/// How the guest runs a case: consecutive cases with equal controls form a
/// block of at most `ConformanceABI.blockCapacity`; each case owns a PML4
/// slot (`blockSlot`) and the same index in one PDPT, one PD and one PT
/// shared by the block, so every case has an entry of its own at every level
/// and no walk can touch another case's entries. The entries are written while
/// no table of the block is live, CR3 is loaded once, the controls are set,
/// and the accesses run (at CPL 3 in user mode, at CPL 0 otherwise).
public enum ConformanceABI {
  /// Bytes of the request header: UInt64 case count, then reserved words.
  public static let requestHeaderSize = 64
  /// Request header words. Host to guest: the case count (0 ends the run).
  public static let requestCaseCount = 0
  /// Guest to host, written before the first `conformanceReady`: the CPU's
  /// `ConformanceFeatures`, the target page's physical address and MAXPHYADDR.
  public static let requestFeatures = 8
  public static let requestTarget = 16
  public static let requestMaxPhysicalBits = 24
  /// Guest to host after each request: TSC ticks spent in the blocks' access
  /// phases (CR3 load, controls, accesses, faults), in building them (entry
  /// writes and read-back, at CPL 3), and the number of blocks.
  public static let requestAccessTicks = 32
  public static let requestBuildTicks = 40
  public static let requestBlocks = 48
  /// Bytes of one case record (`ConformanceCaseRecord`).
  public static let caseSize = 64
  /// Bytes of one result record (`ConformanceResultRecord`).
  public static let resultSize = ConformanceResultRecord.events + 8
  /// Cases one request may hold.
  public static let capacity = 8192
  /// The request buffer's size: header and `capacity` cases.
  public static let requestBufferSize = requestHeaderSize + capacity * caseSize
  /// The results buffer's size.
  public static let resultsBufferSize = capacity * resultSize
  /// `vector` of an attempt that did not fault.
  public static let noFault: UInt32 = 0xFFFF_FFFF
  /// Cases one block holds: one per PML4 slot but the kernel's (511, the top
  /// 2 GiB) and the runner's (255, `UserLayout.codeBase`): 255 in the lower
  /// half (slots 0-254) and 255 in the upper half (256-510). A case asks for
  /// the upper half with `ConformanceAccessWord.upperHalf`; the block closes
  /// when the half its next case needs is full.
  public static let blockCapacity = 510
  public static let slotsPerHalf = 255
  /// The PML4 slot (and the index at every lower level) of the `n`th case of
  /// a block in the lower (`upper` false) or upper half.
  @inlinable public static func blockSlot(_ n: Int, upper: Bool) -> Int { upper ? 256 + n : n }
  /// Byte offset in the target page of the `RET` a fetch executes; reads and
  /// writes use `dataOffset` so a write never overwrites it.
  public static let fetchOffset: UInt64 = 0
  public static let dataOffset: UInt64 = 8
  /// Where the runner's own tables map the first target page for user and
  /// supervisor accesses alike (user, read and execute): the address the
  /// `canonical` suite's canonical cases use, with `fetchOffset` or
  /// `dataOffset` added. The access list's four pages end just below it.
  public static let userTargetAddress: UInt64 = UserLayout.stackTop + 4 * 4096
  /// In a `mutation` word: the new leaf maps the second target page (whose
  /// data word holds `secondTargetMarker`) instead of the first
  /// (`targetMarker`). Bit 52 is ignored by the processor in every entry.
  /// The second target lies 2 MiB above the first, so a 2 MiB leaf remapped
  /// to it reaches it at the same offset.
  public static let remapToSecondTarget: UInt64 = 1 << 52
  public static let targetMarker: UInt64 = 0x1111_1111_1111_1111
  public static let secondTargetMarker: UInt64 = 0x2222_2222_2222_2222

  /// The linear address case `slot` of a block accesses: index `slot` at every
  /// level down to the leaf, then the target's offset within the leaf's page.
  /// `targetPhysical` is the target page (4 KiB-aligned, below 1 GiB); a 2 MiB
  /// leaf maps the 2 MiB around it, a 1 GiB leaf the first GiB of RAM.
  @inlinable public static func linearAddress(
    slot: Int, leafLevel: Int, targetPhysical: UInt64, kind: ConformanceAccessKind
  )
    -> UInt64
  {
    var address: UInt64 = 0
    var level = 4
    while level >= leafLevel {
      address |= UInt64(slot) << UInt64(12 + 9 * (level - 1))
      level -= 1
    }
    let pageBytes: UInt64 = 1 << UInt64(12 + 9 * (leafLevel - 1))
    address |= targetPhysical & (pageBytes - 1)
    address |= kind == .fetch ? fetchOffset : dataOffset
    if address & (1 << 47) != 0 { address |= 0xFFFF_0000_0000_0000 }
    return address
  }

  /// The physical address a leaf entry at `leafLevel` holds for the target.
  @inlinable public static func leafFrame(leafLevel: Int, targetPhysical: UInt64) -> UInt64 {
    targetPhysical & ~((1 << UInt64(12 + 9 * (leafLevel - 1))) - 1)
  }
}

/// One case as the guest reads it (64 bytes).
public enum ConformanceCaseRecord {
  /// 4 × UInt64: the flags of the PML4E, PDPTE, PDE and PTE (in that order;
  /// levels below the leaf are 0). The guest ORs in the address of the next
  /// table or of the target. For `ConformanceAccessWord.explicitAddress`
  /// cases the first word is the linear address itself and no table is built.
  public static let entries = 0
  /// UInt64 `ConformanceControls`.
  public static let controls = 32
  /// UInt64 `ConformanceAccessWord`.
  public static let access = 40
  /// UInt64, `tlb` cases (`ConformanceAccessWord.mutate`): the leaf's new flags,
  /// written between the two attempts (`ConformanceABI.remapToSecondTarget`
  /// picks the second target page).
  public static let mutation = 48
}

/// One case's result as the guest writes it (`ConformanceABI.resultSize` bytes).
public enum ConformanceResultRecord {
  /// UInt64: the linear address accessed.
  public static let linearAddress = 0
  /// Two attempts (the second only for `twice` cases) of 16 bytes each:
  /// UInt32 vector (`ConformanceABI.noFault` when none), UInt32 error code,
  /// UInt64 CR2 (meaningful for #PF only).
  public static let attempts = 8
  public static let attemptSize = 16
  public static let attemptVector = 0
  public static let attemptErrorCode = 4
  public static let attemptFaultAddress = 8
  /// 4 × UInt64: the PML4E, PDPTE, PDE and PTE as they were after the
  /// accesses (levels below the leaf are 0), from which A and D are read.
  public static let finalEntries = 40
  /// UInt64: what the last read attempt read (a target's marker), or for a
  /// control-write case the register's value after the write.
  public static let valueRead = 72
  /// UInt64 `ConformanceResultEvents`: where the case's attempts stood in
  /// the block's run, written by the build pass.
  public static let events = 80
}

/// Facts about when a case ran that the judge cannot derive from the case
/// itself (the result record's `events` word).
public struct ConformanceResultEvents: OptionSet, Sendable, Hashable {
  public var rawValue: UInt64
  public init(rawValue: UInt64) { self.rawValue = rawValue }
  /// The case's first attempt was the first user-mode access through an
  /// upper-half PML4 slot since CR3 was last loaded (the block's load, or a
  /// tlb case's reload): the access kvm-pvm faults spuriously.
  public static let firstUserUpperHalfAccess = Self(rawValue: 1 << 0)
}

/// CPU state a case runs under (the case record's `controls` word). Bits not
/// set are clear during the case: the runner sets every one of these.
public struct ConformanceControls: OptionSet, Sendable, Hashable {
  public var rawValue: UInt64
  public init(rawValue: UInt64) { self.rawValue = rawValue }
  /// CR0.WP (bit 16).
  public static let writeProtect = Self(rawValue: 1 << 0)
  /// IA32_EFER.NXE (bit 11).
  public static let noExecuteEnable = Self(rawValue: 1 << 1)
  /// CR4.SMEP (bit 20).
  public static let smep = Self(rawValue: 1 << 2)
  /// CR4.SMAP (bit 21).
  public static let smap = Self(rawValue: 1 << 3)
  /// RFLAGS.AC (bit 18) during supervisor accesses.
  public static let alignmentCheck = Self(rawValue: 1 << 4)
  /// CR4.PKE (bit 22), with PKRU from bits 32-63.
  public static let protectionKeys = Self(rawValue: 1 << 5)
  /// The access runs at CPL 3 (otherwise CPL 0).
  public static let userMode = Self(rawValue: 1 << 6)
  /// CR4.PCIDE (bit 17), the block's root loaded with PCID 0.
  public static let pcid = Self(rawValue: 1 << 7)
  /// CR4.PGE (bit 7): entries with G set are global.
  public static let globalPages = Self(rawValue: 1 << 8)
  /// Bits that select CPU state (everything but PKRU's value).
  public static let mask: UInt64 = 0x1FF
  /// PKRU (bits 32-63 of the word).
  public var pkru: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 32) }
}

/// What a case accesses.
public enum ConformanceAccessKind: UInt64, Sendable, CaseIterable {
  case read = 0
  case write = 1
  case fetch = 2
}

/// One entry of the access list the guest's runner builds for a block and
/// Guest/Boot/conformance.S walks: UInt64 words.
public enum ConformanceAccessEntry {
  public static let size = 32
  public static let words = size / 8
  /// The linear address (a control-write case: the bits to clear).
  public static let address = 0
  /// The case's `ConformanceAccessWord`.
  public static let word = 8
  /// A tlb case: the leaf entry's kernel address, then its new value. A
  /// control-write case: the `ConformanceRegister`, then the bits to set.
  /// The loop leaves what the second attempt read (or the register after
  /// the write) in the first.
  public static let argument0 = 16
  public static let argument1 = 24
}

/// The case record's `access` word.
public struct ConformanceAccessWord: Sendable, Hashable {
  public var rawValue: UInt64
  public init(rawValue: UInt64) { self.rawValue = rawValue }
  /// Bit numbers the assembly tests (`bt`).
  public static let mutationBit = 18
  public static let controlWriteBit = 24
  public init(
    kind: ConformanceAccessKind, twice: Bool, leafLevel: Int, explicitAddress: Bool = false, upperHalf: Bool = false,
    invalidation: ConformanceInvalidation? = nil, controlWrite: Bool = false
  ) {
    rawValue =
      kind.rawValue | (twice ? 1 << 2 : 0) | UInt64(leafLevel & 0xFF) << 8 | (explicitAddress ? 1 << 16 : 0)
      | (upperHalf ? 1 << 17 : 0) | (controlWrite ? 1 << Self.controlWriteBit : 0)
    if let invalidation { rawValue |= 1 << Self.mutationBit | invalidation.rawValue << 20 }
  }
  /// Bits 0-1.
  public var kind: ConformanceAccessKind { ConformanceAccessKind(rawValue: rawValue & 3) ?? .read }
  /// Bit 2: the access runs twice (the second may use what the first cached).
  public var twice: Bool { rawValue & (1 << 2) != 0 }
  /// Bits 8-15: 1 (4 KiB page), 2 (2 MiB) or 3 (1 GiB).
  public var leafLevel: Int { Int((rawValue >> 8) & 0xFF) }
  /// Bit 16: the case's first entry word is the linear address; no tables.
  public var explicitAddress: Bool { rawValue & (1 << 16) != 0 }
  /// Bit 17: the case's slot is in the upper half of the linear-address space.
  public var upperHalf: Bool { rawValue & (1 << 17) != 0 }
  /// Bit 18: between the two attempts the leaf becomes the case's `mutation`,
  /// followed by the invalidation in bits 20-23 (a `tlb` case).
  public var invalidation: ConformanceInvalidation? {
    rawValue & (1 << Self.mutationBit) == 0 ? nil : ConformanceInvalidation(rawValue: (rawValue >> 20) & 0xF)
  }
  /// Bit 24: instead of a memory access the case writes a control register
  /// (a `controls` case): the record's entry words are the bits to clear, the
  /// `ConformanceRegister`, and the bits to set.
  public var controlWrite: Bool { rawValue & (1 << Self.controlWriteBit) != 0 }
}

/// What a `tlb` case does after changing the leaf and before the second attempt.
public enum ConformanceInvalidation: UInt64, Sendable, CaseIterable {
  /// Nothing: the old translation may still be used.
  case none = 0
  /// INVLPG of the case's address.
  case invlpg = 1
  /// MOV to CR3 of the same root (flushes non-global translations; with
  /// PCIDs, those of the current PCID).
  case reloadRoot = 2
  /// MOV to CR3 with bit 63 set (CR4.PCIDE=1): no translation is flushed.
  case reloadRootKeepingPCID = 3
  /// CR4.PGE cleared and set again: flushes everything, global included.
  case toggleGlobalPages = 4
}

/// The register a `controls` case writes.
public enum ConformanceRegister: UInt64, Sendable, CaseIterable {
  case cr0 = 0
  case cr4 = 4
  case efer = 8
}

/// What the guest's CPU offers the runner (CPUID), as the guest reports it in
/// the request header: cases that need a missing feature are skipped.
public struct ConformanceFeatures: OptionSet, Sendable, Hashable {
  public var rawValue: UInt64
  public init(rawValue: UInt64) { self.rawValue = rawValue }
  /// CPUID.80000001H:EDX.NX[20].
  public static let noExecute = Self(rawValue: 1 << 0)
  /// CPUID.(EAX=07H,ECX=0):EBX.SMEP[7].
  public static let smep = Self(rawValue: 1 << 1)
  /// CPUID.(EAX=07H,ECX=0):EBX.SMAP[20].
  public static let smap = Self(rawValue: 1 << 2)
  /// CPUID.(EAX=07H,ECX=0):ECX.PKU[3].
  public static let protectionKeys = Self(rawValue: 1 << 3)
  /// CPUID.(EAX=07H,ECX=0):ECX.LA57[16].
  public static let fiveLevelPaging = Self(rawValue: 1 << 4)
  /// CPUID.80000001H:EDX.Page1GB[26].
  public static let pages1GiB = Self(rawValue: 1 << 5)
  /// CPUID.01H:ECX.PCID[17].
  public static let pcid = Self(rawValue: 1 << 6)
  /// CPUID.(EAX=07H,ECX=0):EBX.INVPCID[10].
  public static let invpcid = Self(rawValue: 1 << 7)
  /// CPUID.01H:EDX.PGE[13].
  public static let globalPages = Self(rawValue: 1 << 8)
}
