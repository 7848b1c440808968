import Testing
import X86Paging

@Suite("PAE paging")
struct PAEWalkTests {
  static let address: UInt64 = 0xC000_1000

  func build(nxe: Bool = false) throws -> PageTableBuilder<SparsePhysicalMemory> {
    var b = makeBuilder(.pae, maxPhysicalAddressBits: 36)
    try b.map(Self.address, to: 0x9_2345_6000, size: .size4KiB, flags: [.user, .writable])
    return b
  }

  func context(_ b: PageTableBuilder<SparsePhysicalMemory>, nxe: Bool = false) -> PagingContext {
    var context = b.context
    if nxe { context.efer.insert(.noExecuteEnable) }
    return context
  }

  @Test func translation() throws {
    let b = try build()
    let t = translate(Self.address + 0xABC, access: .userWrite, context: b.context, memory: b.memory)
    #expect(t.outcome == .mapped(physicalAddress: 0x9_2345_6ABC, pageSize: .size4KiB))
    #expect(levels(t.walk) == [.pageDirectoryPointerTable, .pageDirectory, .pageTable])
    #expect(t.walk.steps[0].entryAddress == b.root + 3 * 8)
    // PDPTEs have no accessed flag: only the PDE and PTE get A; D on the PTE.
    #expect(t.accessedSet == Array(t.walk.steps.dropFirst().map(\.entryAddress)))
    #expect(t.dirtySet == [t.walk.steps[2].entryAddress])
    // Linear addresses wrap at 32 bits.
    #expect(
      translate(0x1_0000_0000 | Self.address, access: .userRead, context: b.context, memory: b.memory)
        .physicalAddress == 0x9_2345_6000)
  }

  /// PDPTE bits 2:1, 8:5 and 63:M are reserved; a violation is #GP(0) (the PDPTE load fails).
  @Test(arguments: [1, 2, 5, 6, 7, 8, 36, 40, 52, 63])
  func pdpteReservedBits(bit: Int) throws {
    let b = try build()
    setBits(b.memory, b.root + 3 * 8, 1 << UInt64(bit))
    let t = translate(Self.address, access: .userRead, context: context(b, nxe: true), memory: b.memory)
    #expect(t.outcome == .generalProtection(.reservedPDPTE(index: 3, bits: 1 << UInt64(bit))))
    #expect(t.accessedSet.isEmpty)
  }

  @Test(arguments: [3, 4, 9, 10, 11])
  func pdpteNonReservedBits(bit: Int) throws {
    let b = try build()
    setBits(b.memory, b.root + 3 * 8, 1 << UInt64(bit))
    #expect(
      translate(Self.address, access: .userRead, context: b.context, memory: b.memory).physicalAddress
        == 0x9_2345_6000)
  }

  @Test func pdpteNotPresentIsPageFault() throws {
    let b = try build()
    clearBits(b.memory, b.root + 3 * 8, 1)
    let t = translate(Self.address, access: .userRead, context: b.context, memory: b.memory)
    #expect(t.outcome == .pageFault(errorCode: [.user], reason: .notPresent(level: .pageDirectoryPointerTable)))
  }

  @Test func pdpteRegistersOverrideMemory() throws {
    let b = try build()
    let pdpte = b.memory.load64(b.root + 3 * 8)!
    b.memory.store64(0, at: b.root + 3 * 8)
    var context = b.context
    context.paeDirectoryPointers = [0, 0, 0, pdpte]
    let t = translate(Self.address, access: .userRead, context: context, memory: b.memory)
    #expect(t.physicalAddress == 0x9_2345_6000)
    #expect(t.walk.steps[0].fromRegister)
    #expect(
      translate(Self.address, access: .userRead, context: b.context, memory: b.memory).faultReason
        == .notPresent(level: .pageDirectoryPointerTable))
  }

  /// Bits 62:M are reserved in PAE PDEs/PTEs (unlike 4-level paging, where 62:52 are ignored).
  @Test(arguments: [36, 52, 59, 62])
  func pteHighBitsReserved(bit: Int) throws {
    let b = try build()
    let pte = b.entryAddress(of: Self.address, at: .pageTable)!
    setBits(b.memory, pte, 1 << UInt64(bit))
    let t = translate(Self.address, access: .supervisorRead, context: b.context, memory: b.memory)
    #expect(
      t.outcome
        == .pageFault(
          errorCode: [.present, .reservedBit],
          reason: .reservedBits(level: .pageTable, bits: 1 << UInt64(bit))))
  }

  @Test func twoMiBPage() throws {
    var b = makeBuilder(.pae, maxPhysicalAddressBits: 36)
    let pde = try b.map(0x40_0000, to: 0x20_0000, size: .size2MiB, flags: [.writable])
    #expect(
      translate(0x41_2345, access: .supervisorWrite, context: b.context, memory: b.memory).outcome
        == .mapped(physicalAddress: 0x21_2345, pageSize: .size2MiB))
    setBits(b.memory, pde, 1 << 13)
    #expect(
      translate(0x41_2345, access: .supervisorWrite, context: b.context, memory: b.memory).faultReason
        == .reservedBits(level: .pageDirectory, bits: 1 << 13))
  }

  @Test func executeDisableInPDE() throws {
    let b = try build()
    setBits(b.memory, b.entryAddress(of: Self.address, at: .pageDirectory)!, 1 << 63)
    let nxe = context(b, nxe: true)
    #expect(
      translate(Self.address, access: .supervisorFetch, context: nxe, memory: b.memory).outcome
        == .pageFault(errorCode: [.present, .instructionFetch], reason: .executeDisabled))
    #expect(
      translate(Self.address, access: .supervisorFetch, context: b.context, memory: b.memory).faultReason
        == .reservedBits(level: .pageDirectory, bits: 1 << 63))
  }
}

@Suite("32-bit paging")
struct Bit32WalkTests {
  @Test func fourKiBAndFourMiBPages() throws {
    var b = makeBuilder(.bit32, maxPhysicalAddressBits: 36)
    let pte = try b.map(0x0040_2000, to: 0x3000, size: .size4KiB, flags: [.user, .writable])
    let pde = try b.map(0x8000_0000, to: 0x5_0040_0000, size: .size4MiB, flags: [.writable])
    #expect(b.memory.load32(pde)! & 0x1_E000 == 5 << 13, "PSE-36: PA bits 35:32 in PDE bits 16:13")
    let small = translate(0x0040_2ABC, access: .userRead, context: b.context, memory: b.memory)
    #expect(small.outcome == .mapped(physicalAddress: 0x3ABC, pageSize: .size4KiB))
    #expect(levels(small.walk) == [.pageDirectory, .pageTable])
    #expect(small.walk.steps[1].entryAddress == pte)
    #expect(small.walk.steps[0].entryAddress == b.root + 1 * 4)
    let large = translate(0x8012_3456, access: .supervisorWrite, context: b.context, memory: b.memory)
    #expect(large.outcome == .mapped(physicalAddress: 0x5_0052_3456, pageSize: .size4MiB))
    #expect(large.dirtySet == [pde])
  }

  /// (MAXPHYADDR, PDE bit, expected): nil = reserved; otherwise the physical-address bits
  /// the PDE bit contributes to a 4 MiB page.
  @Test(
    arguments: [
      (36, 13, UInt64(1) << 32), (36, 16, UInt64(1) << 35), (36, 17, nil), (36, 20, nil), (36, 21, nil),
      (40, 20, UInt64(1) << 39), (40, 21, nil), (52, 20, UInt64(1) << 39), (52, 21, nil),
      (32, 13, nil), (36, 12, UInt64(0)), (36, 22, UInt64(1) << 22),
    ] as [(Int, Int, UInt64?)])
  func pse36(m: Int, bit: Int, expected: UInt64?) throws {
    var b = makeBuilder(.bit32, maxPhysicalAddressBits: m)
    let pde = try b.map(0x8000_0000, to: 0, size: .size4MiB, flags: [])
    b.memory.store32(b.memory.load32(pde)! | 1 << UInt32(bit), at: pde)
    let t = translate(0x8000_0010, access: .supervisorRead, context: b.context, memory: b.memory)
    if let expected {
      #expect(t.outcome == .mapped(physicalAddress: expected | 0x10, pageSize: .size4MiB))
    } else {
      #expect(
        t.outcome
          == .pageFault(
            errorCode: [.present, .reservedBit],
            reason: .reservedBits(level: .pageDirectory, bits: 1 << UInt64(bit))))
    }
  }

  @Test func psIgnoredWithoutPSE() throws {
    var b = makeBuilder(.bit32, maxPhysicalAddressBits: 36)
    try b.map(0x8000_0000, to: 0x40_0000, size: .size4MiB, flags: [])
    var context = b.context
    context.cr4.remove(.pageSizeExtensions)
    let t = translate(0x8000_0000, access: .supervisorRead, context: context, memory: b.memory)
    // The PDE now references a page table at 0x40_0000 (zero-filled): not present at the PTE.
    #expect(t.faultReason == .notPresent(level: .pageTable))
    #expect(t.walk.steps[1].entryAddress == 0x40_0000)
  }

  @Test func accessedAndDirtyOnFourByteEntries() throws {
    var b = makeBuilder(.bit32, maxPhysicalAddressBits: 36)
    let pte = try b.map(0x0040_2000, to: 0x3000, size: .size4KiB, flags: [.user, .writable])
    try b.map(0x0040_3000, to: 0x4000, size: .size4KiB, flags: [.user, .writable])
    let neighbour = b.memory.load32(pte + 4)!
    let pde = b.entryAddress(of: 0x0040_2000, at: .pageDirectory)!
    let t = translate(0x0040_2000, access: .userWrite, context: b.context, memory: b.memory)
    #expect(t.entryWidth == 4)
    #expect(t.accessedSet == [pde, pte])
    #expect(applyAccessedDirty(t, memory: b.memory) == 2)
    #expect(b.memory.load32(pte)! & 0x60 == 0x60)
    #expect(b.memory.load32(pde)! & 0x60 == 0x20)
    #expect(b.memory.load32(pte + 4)! == neighbour)
  }

  @Test func fetchErrorCodeHasNoIDWithoutSMEP() throws {
    var b = makeBuilder(.bit32, maxPhysicalAddressBits: 36)
    try b.map(0x1000, to: 0x3000, size: .size4KiB, flags: [])
    var context = b.context
    context.efer.insert(.noExecuteEnable)
    #expect(translate(0x5000, access: .userFetch, context: context, memory: b.memory).errorCode == [.user])
    context.cr4.insert(.supervisorModeExecutionPrevention)
    #expect(
      translate(0x5000, access: .userFetch, context: context, memory: b.memory).errorCode
        == [.user, .instructionFetch])
  }
}
