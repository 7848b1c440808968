import Testing
import X86Paging

@Suite("Modes and canonical addresses")
struct ModeTests {
  @Test func modeDerivation() {
    var context = PagingContext(cr0: [.protectionEnable], cr3: 0, cr4: [], maxPhysicalAddressBits: 36)
    #expect(context.mode == .disabled)
    context.cr0.insert(.paging)
    #expect(context.mode == .bit32)
    context.cr4.insert(.physicalAddressExtension)
    #expect(context.mode == .pae)
    context.efer.insert(.longModeEnable)
    #expect(context.mode == .fourLevel)
    context.efer = [.longModeActive]
    #expect(context.mode == .fourLevel)
    context.cr4.insert(.fiveLevelPaging)
    #expect(context.mode == .fiveLevel)
    context.cr0.remove(.paging)
    #expect(context.mode == .disabled)
    #expect(PagingMode.allCases.map(\.description) == ["disabled", "32-bit", "PAE", "4-level", "5-level"])
  }

  @Test func canonicalAddresses() {
    #expect(PagingMode.fourLevel.isCanonical(0x0000_7FFF_FFFF_F000))
    #expect(!PagingMode.fourLevel.isCanonical(0x0000_8000_0000_0000))
    #expect(PagingMode.fourLevel.isCanonical(0xFFFF_8000_0000_0000))
    #expect(!PagingMode.fourLevel.isCanonical(0xFFFF_0000_0000_0000))
    #expect(PagingMode.fiveLevel.isCanonical(0x0000_8000_0000_0000))
    #expect(PagingMode.fiveLevel.isCanonical(0x00FF_FFFF_FFFF_F000))
    #expect(!PagingMode.fiveLevel.isCanonical(0x0100_0000_0000_0000))
    #expect(PagingMode.fiveLevel.isCanonical(0xFF00_0000_0000_0000))
    #expect(!PagingMode.fiveLevel.isCanonical(0xFE00_0000_0000_0000))
    #expect(PagingMode.fourLevel.canonicalize(0x0000_8000_0000_1000) == 0xFFFF_8000_0000_1000)
    #expect(PagingMode.fiveLevel.canonicalize(0x0100_0000_0000_0000) == 0xFF00_0000_0000_0000)
    #expect(PagingMode.fiveLevel.canonicalize(0x01FF_0000_0000_0000) == 0xFFFF_0000_0000_0000)
    #expect(PagingMode.fiveLevel.canonicalize(0x00FF_0000_0000_0000) == 0x00FF_0000_0000_0000)
    #expect(PagingMode.pae.canonicalize(0x1_2345_6789) == 0x2345_6789)
  }

  @Test(arguments: [
    (PagingMode.fourLevel, UInt64(0x0000_8000_0000_0000)),
    (PagingMode.fourLevel, UInt64(0x8000_0000_0000_0000)),
    (PagingMode.fiveLevel, UInt64(0x0100_0000_0000_0000)),
    (PagingMode.fiveLevel, UInt64(0x7FFF_FFFF_FFFF_FFFF)),
  ])
  func nonCanonicalIsGeneralProtection(mode: PagingMode, address: UInt64) {
    let memory = SparsePhysicalMemory(size: 1 << 20)
    let t = translate(address, access: .supervisorRead, context: makeContext(mode), memory: memory)
    #expect(t.outcome == .generalProtection(.nonCanonical(linearAddress: address)))
    #expect(t.walk.steps.isEmpty)
    #expect(t.errorCode == nil)
  }

  @Test func pagingDisabledIsIdentity() {
    let memory = SparsePhysicalMemory(size: 1 << 20)
    let context = PagingContext(cr0: [.protectionEnable], cr3: 0, cr4: [], maxPhysicalAddressBits: 36)
    let t = translate(0x1_0000_2345, access: .userWrite, context: context, memory: memory)
    #expect(t.outcome == .mapped(physicalAddress: 0x2345, pageSize: .size4KiB))
    #expect(t.accessedSet.isEmpty && t.dirtySet.isEmpty)
  }
}

@Suite("4-level and 5-level walks")
struct LongModeWalkTests {
  static let userPage: UInt64 = 0x0000_7000_0000_1000

  /// A 4-level hierarchy with one user RW 4 KiB page at `userPage` -> 0x5000.
  func fourLevel() throws -> PageTableBuilder<SparsePhysicalMemory> {
    var b = makeBuilder(.fourLevel)
    try b.map(Self.userPage, to: 0x5000, size: .size4KiB, flags: [.writable, .user])
    return b
  }

  @Test func fourKiBTranslation() throws {
    let b = try fourLevel()
    let t = translate(Self.userPage + 0x123, access: .userRead, context: b.context, memory: b.memory)
    #expect(t.outcome == .mapped(physicalAddress: 0x5123, pageSize: .size4KiB))
    #expect(levels(t.walk) == [.pml4, .pageDirectoryPointerTable, .pageDirectory, .pageTable])
    #expect(t.walk.steps[0].entryAddress == b.root + 0xE0 * 8)  // PML4 index of 0x7000_0000_0000 is 0xE0
    #expect(t.walk.steps.last?.entryAddress == b.entryAddress(of: Self.userPage, at: .pageTable))
    #expect(t.walk.rights == EffectiveRights(user: true, writable: true))
  }

  @Test func accessedOnEveryLevelDirtyOnlyOnLeafForWrites() throws {
    let b = try fourLevel()
    let entries = [PagingLevel.pml4, .pageDirectoryPointerTable, .pageDirectory, .pageTable].map {
      b.entryAddress(of: Self.userPage, at: $0)!
    }
    let read = translate(Self.userPage, access: .userRead, context: b.context, memory: b.memory)
    #expect(read.accessedSet == entries)
    #expect(read.dirtySet.isEmpty)
    #expect(applyAccessedDirty(read, memory: b.memory) == 4)
    for address in entries {
      #expect(b.memory.load64(address)! & 0x20 != 0)
      #expect(b.memory.load64(address)! & 0x40 == 0)
    }
    #expect(applyAccessedDirty(read, memory: b.memory) == 0, "A bits are already set")

    let write = translate(Self.userPage, access: .userWrite, context: b.context, memory: b.memory)
    #expect(write.dirtySet == [entries[3]])
    #expect(applyAccessedDirty(write, memory: b.memory) == 1)
    #expect(b.memory.load64(entries[3])! & 0x60 == 0x60)
    for address in entries.dropLast() { #expect(b.memory.load64(address)! & 0x40 == 0) }
  }

  @Test func noAccessedOrDirtyChangeOnFault() throws {
    var b = try fourLevel()
    try b.map(0x2000, to: 0x6000, size: .size4KiB, flags: [.user])  // read-only
    let entries = [PagingLevel.pml4, .pageDirectoryPointerTable, .pageDirectory, .pageTable].map {
      b.entryAddress(of: 0x2000, at: $0)!
    }
    let before = entries.map { b.memory.load64($0)! }
    let t = translate(0x2000, access: .userWrite, context: b.context, memory: b.memory)
    #expect(t.errorCode?.rawValue == 0x7)
    #expect(t.accessedSet.isEmpty && t.dirtySet.isEmpty)
    #expect(t.accessedMayBeSet == entries)
    #expect(applyAccessedDirty(t, memory: b.memory) == 0)
    #expect(entries.map { b.memory.load64($0)! } == before)
  }

  @Test(arguments: [PagingLevel.pml4, .pageDirectoryPointerTable, .pageDirectory, .pageTable])
  func notPresentAtEachLevel(level: PagingLevel) throws {
    let b = try fourLevel()
    let entry = b.entryAddress(of: Self.userPage, at: level)!
    clearBits(b.memory, entry, 1)
    let t = translate(Self.userPage, access: .userWrite, context: b.context, memory: b.memory)
    #expect(t.outcome == .pageFault(errorCode: [.write, .user], reason: .notPresent(level: level)))
    #expect(t.walk.steps.last?.level == level)
    #expect(t.walk.steps.count == 5 - level.rawValue)
    #expect(t.accessedMayBeSet.count == 4 - level.rawValue)
    let s = translate(Self.userPage, access: .supervisorRead, context: b.context, memory: b.memory)
    #expect(s.errorCode?.rawValue == 0)
  }

  @Test(arguments: [PagingLevel.pml4, .pageDirectoryPointerTable, .pageDirectory, .pageTable])
  func userAndWritableMustHoldAtEveryLevel(level: PagingLevel) throws {
    let b = try fourLevel()
    let entry = b.entryAddress(of: Self.userPage, at: level)!
    clearBits(b.memory, entry, PagingEntry.user.rawValue)
    let user = translate(Self.userPage, access: .userRead, context: b.context, memory: b.memory)
    #expect(user.outcome == .pageFault(errorCode: [.present, .user], reason: .userAccessToSupervisorPage))
    let supervisor = translate(Self.userPage, access: .supervisorRead, context: b.context, memory: b.memory)
    #expect(supervisor.physicalAddress == 0x5000)

    setBits(b.memory, entry, PagingEntry.user.rawValue)
    clearBits(b.memory, entry, PagingEntry.writable.rawValue)
    let write = translate(Self.userPage, access: .userWrite, context: b.context, memory: b.memory)
    #expect(write.outcome == .pageFault(errorCode: [.present, .write, .user], reason: .writeToReadOnlyPage))
  }

  @Test func executeDisableAtAnUpperLevel() throws {
    let b = try fourLevel()
    setBits(b.memory, b.entryAddress(of: Self.userPage, at: .pml4)!, 1 << 63)
    var context = b.context
    context.efer.insert(.noExecuteEnable)
    let fetch = translate(Self.userPage, access: .userFetch, context: context, memory: b.memory)
    #expect(fetch.outcome == .pageFault(errorCode: [.present, .user, .instructionFetch], reason: .executeDisabled))
    #expect(translate(Self.userPage, access: .userRead, context: context, memory: b.memory).physicalAddress == 0x5000)
  }

  @Test func bit63IsReservedWithoutNXE() throws {
    let b = try fourLevel()
    let pte = b.entryAddress(of: Self.userPage, at: .pageTable)!
    setBits(b.memory, pte, 1 << 63)
    let fetch = translate(Self.userPage, access: .userFetch, context: b.context, memory: b.memory)
    #expect(
      fetch.outcome
        == .pageFault(
          errorCode: [.present, .user, .reservedBit],
          reason: .reservedBits(level: .pageTable, bits: 1 << 63)))
    var nxe = b.context
    nxe.efer.insert(.noExecuteEnable)
    let nx = translate(Self.userPage, access: .userFetch, context: nxe, memory: b.memory)
    #expect(nx.errorCode == [.present, .user, .instructionFetch])
  }

  @Test func pageSizeBitInPML4EIsReserved() throws {
    let b = try fourLevel()
    setBits(b.memory, b.entryAddress(of: Self.userPage, at: .pml4)!, 0x80)
    let t = translate(Self.userPage, access: .supervisorRead, context: b.context, memory: b.memory)
    #expect(
      t.outcome == .pageFault(errorCode: [.present, .reservedBit], reason: .reservedBits(level: .pml4, bits: 0x80)))
    #expect(t.accessedMayBeSet.isEmpty)
  }

  /// (bit, reserved?) for a 1 GiB page: 13-29 reserved, 12 (PAT) and 30+ (address) not,
  /// 46-51 reserved with MAXPHYADDR 46, 52-62 ignored.
  @Test(arguments: [
    (12, false), (13, true), (20, true), (29, true), (30, false), (45, false), (46, true), (51, true),
    (52, false), (58, false), (62, false),
  ])
  func oneGiBPageReservedBits(bit: Int, reserved: Bool) throws {
    var b = makeBuilder(.fourLevel, maxPhysicalAddressBits: 46)
    let leaf = try b.map(0x4000_0000, to: 0x8000_0000, size: .size1GiB, flags: [.writable])
    setBits(b.memory, leaf, 1 << UInt64(bit))
    let t = translate(0x4000_0000 + 0x1234_5678, access: .supervisorRead, context: b.context, memory: b.memory)
    if reserved {
      #expect(
        t.outcome
          == .pageFault(
            errorCode: [.present, .reservedBit],
            reason: .reservedBits(level: .pageDirectoryPointerTable, bits: 1 << UInt64(bit))))
    } else {
      let frame = bit >= 30 && bit < 46 ? UInt64(0x8000_0000) | 1 << UInt64(bit) : 0x8000_0000
      #expect(t.outcome == .mapped(physicalAddress: frame + 0x1234_5678, pageSize: .size1GiB))
    }
  }

  @Test(arguments: [(12, false), (13, true), (16, true), (20, true), (21, false)])
  func twoMiBPageReservedBits(bit: Int, reserved: Bool) throws {
    var b = makeBuilder(.fourLevel)
    let leaf = try b.map(0x20_0000, to: 0x40_0000, size: .size2MiB, flags: [.writable])
    setBits(b.memory, leaf, 1 << UInt64(bit))
    let t = translate(0x20_0000 + 0x1_2345, access: .supervisorRead, context: b.context, memory: b.memory)
    if reserved {
      #expect(
        t.outcome
          == .pageFault(
            errorCode: [.present, .reservedBit],
            reason: .reservedBits(level: .pageDirectory, bits: 1 << UInt64(bit))))
    } else {
      #expect(t.physicalAddress == (0x40_0000 | (bit == 21 ? 1 << 21 : 0)) + 0x1_2345)
    }
  }

  @Test(arguments: [36, 40, 46, 52])
  func maxPhysicalAddressBits(m: Int) throws {
    var b = makeBuilder(.fourLevel, maxPhysicalAddressBits: m)
    let leaf = try b.map(0x1000, to: 0x5000, size: .size4KiB, flags: [])
    // The highest address bit is fine.
    setBits(b.memory, leaf, 1 << UInt64(m - 1))
    let ok = translate(0x1000, access: .supervisorRead, context: b.context, memory: b.memory)
    #expect(ok.physicalAddress == 0x5000 | 1 << UInt64(m - 1))
    clearBits(b.memory, leaf, 1 << UInt64(m - 1))
    if m < 52 {
      setBits(b.memory, leaf, 1 << UInt64(m))
      let bad = translate(0x1000, access: .supervisorRead, context: b.context, memory: b.memory)
      #expect(bad.faultReason == .reservedBits(level: .pageTable, bits: 1 << UInt64(m)))
      // In a table-referencing entry too.
      clearBits(b.memory, leaf, 1 << UInt64(m))
      setBits(b.memory, b.entryAddress(of: 0x1000, at: .pageDirectoryPointerTable)!, 1 << 51)
      let upper = translate(0x1000, access: .supervisorRead, context: b.context, memory: b.memory)
      #expect(upper.faultReason == .reservedBits(level: .pageDirectoryPointerTable, bits: 1 << 51))
    }
  }

  @Test func oneGiBPagesUnsupportedMakesPSReserved() throws {
    var b = makeBuilder(.fourLevel)
    try b.map(0x4000_0000, to: 0x8000_0000, size: .size1GiB, flags: [])
    var context = b.context
    context.supports1GiBPages = false
    let t = translate(0x4000_0000, access: .supervisorRead, context: context, memory: b.memory)
    #expect(t.faultReason == .reservedBits(level: .pageDirectoryPointerTable, bits: 0x80))
  }

  @Test func protectionKeyComesFromTheLeaf() throws {
    var b = makeBuilder(.fourLevel)
    let leaf = try b.map(0x1000, to: 0x5000, size: .size4KiB, flags: [.user, .writable])
    setBits(b.memory, leaf, 9 << 59)
    var context = b.context
    context.cr4.insert(.protectionKeysForUserPages)
    context.pkru = ProtectionKeyRights(accessDisabled: [9])
    let t = translate(0x1000, access: .userRead, context: context, memory: b.memory)
    #expect(t.walk.rights?.protectionKey == 9)
    #expect(
      t.outcome
        == .pageFault(
          errorCode: [.present, .user, .protectionKey],
          reason: .protectionKeyAccessDisabled(key: 9, supervisorKeys: false)))
  }

  @Test func fiveLevelWalk() throws {
    var b = makeBuilder(.fiveLevel, maxPhysicalAddressBits: 52)
    let address: UInt64 = 0x0080_1234_5678_9000
    try b.map(address, to: 0x7_0000_3000, size: .size4KiB, flags: [.user])
    let t = translate(address + 0xABC, access: .userRead, context: b.context, memory: b.memory)
    #expect(t.outcome == .mapped(physicalAddress: 0x7_0000_3ABC, pageSize: .size4KiB))
    #expect(levels(t.walk) == [.pml5, .pml4, .pageDirectoryPointerTable, .pageDirectory, .pageTable])
    #expect(t.walk.steps[0].entryAddress == b.root + 0x80 * 8)  // bits 56:48 of the address
    #expect(t.accessedSet.count == 5)
    // The same address under 4-level paging is non-canonical.
    var four = b.context
    four.cr4.remove(.fiveLevelPaging)
    #expect(
      translate(address, access: .userRead, context: four, memory: b.memory).outcome
        == .generalProtection(.nonCanonical(linearAddress: address)))
    // PS is reserved in a PML5E.
    setBits(b.memory, t.walk.steps[0].entryAddress, 0x80)
    #expect(
      translate(address, access: .userRead, context: b.context, memory: b.memory).faultReason
        == .reservedBits(level: .pml5, bits: 0x80))
  }

  @Test func cachingBitsAreDecoded() throws {
    var b = makeBuilder(.fourLevel)
    try b.map(0x20_0000, to: 0x40_0000, size: .size2MiB, flags: [.largePageAttributeTable, .cacheDisable, .global])
    try b.map(0x1000, to: 0x5000, size: .size4KiB, flags: [.smallPageAttributeTable, .writeThrough])
    #expect(walk(0x20_0000, context: b.context, memory: b.memory).patIndex == 6)
    #expect(walk(0x1000, context: b.context, memory: b.memory).patIndex == 5)
    var leaves: [Leaf] = []
    _ = forEachLeaf(context: b.context, memory: b.memory) { leaves.append($0) }
    #expect(leaves.map(\.patIndex) == [5, 6])
    #expect(leaves.map(\.global) == [false, true])
    #expect(leaves.map(\.cacheDisable) == [false, true])
    #expect(leaves.map(\.writeThrough) == [true, false])
    #expect("\(leaves[1])" == "0x0000000000200000: 0x000000400000 2M -GP--C---")
  }

  @Test func cr3FlagBitsAreIgnored() throws {
    let b = try fourLevel()
    var context = b.context
    context.cr3 |= 0x18 | (1 << 63)  // PCD|PWT and the no-flush bit
    #expect(translate(Self.userPage, access: .userRead, context: context, memory: b.memory).physicalAddress == 0x5000)
  }

  @Test func tableOutsideMemory() throws {
    let b = try fourLevel()
    let pde = b.entryAddress(of: Self.userPage, at: .pageDirectory)!
    b.memory.store64(0x10_0000_0000 | 0x7, at: pde)  // PT at 64 GiB, memory is 64 MiB
    let t = translate(Self.userPage, access: .userRead, context: b.context, memory: b.memory)
    #expect(t.outcome == .tableOutsideMemory(level: .pageTable, entryAddress: 0x10_0000_0000 + 8))
    #expect(t.accessedSet.isEmpty)
  }
}
