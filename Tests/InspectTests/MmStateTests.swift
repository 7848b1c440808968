import GuestABI
import Inspect
import Machine
import Testing
import X86Paging

@Suite("Self-map addresses")
struct SelfMapTests {
  @Test("slot 0x1ED gives NT x64's PTE, PDE, PDPTE and PML4E bases")
  func ntBases() throws {
    let selfMap = try #require(SelfMap(slot: 0x1ED))
    #expect(selfMap.base == 0xFFFF_F680_0000_0000)
    #expect(selfMap.base == KernelLayout.selfMapBase)
    #expect(selfMap.pteAddress(mapping: 0) == 0xFFFF_F680_0000_0000)
    let pdeBase = selfMap.pteAddress(mapping: selfMap.base)
    let pdpteBase = selfMap.pteAddress(mapping: pdeBase)
    let pml4eBase = selfMap.pteAddress(mapping: pdpteBase)
    #expect(pdeBase == 0xFFFF_F6FB_4000_0000)
    #expect(pdpteBase == 0xFFFF_F6FB_7DA0_0000)
    #expect(pml4eBase == 0xFFFF_F6FB_7DBE_D000)
    // The self-map entry itself: the PML4E that maps the PML4E base.
    #expect(selfMap.pteAddress(mapping: pml4eBase) == 0xFFFF_F6FB_7DBE_DF68)
    #expect(UInt64(0xFFFF_F6FB_7DBE_D000) + 8 * 0x1ED == 0xFFFF_F6FB_7DBE_DF68)
    #expect(selfMap.selfEntryAddress == 0xFFFF_F6FB_7DBE_DF68)
    for level in 1...4 {
      for va: UInt64 in [0, 0x40_0000, 0x7FFF_FFFF_F000, KernelLayout.directMapBase + 0x123_4000, .max] {
        #expect(
          selfMap.entryAddress(mapping: va, level: level) == KernelLayout.selfMapEntryAddress(of: va, level: level))
      }
    }
  }

  @Test("the PTE address is the page number times 8, whatever the offset and the half")
  func pageNumberTimesEight() throws {
    let selfMap = try #require(SelfMap(slot: 0x1ED))
    #expect(selfMap.pteAddress(mapping: 0x40_0000) == selfMap.base + 0x2000)
    #expect(selfMap.pteAddress(mapping: 0x40_0FFF) == selfMap.base + 0x2000)
    #expect(selfMap.pteAddress(mapping: 0x40_1000) == selfMap.base + 0x2008)
    #expect(selfMap.pteAddress(mapping: 0x7FFF_FFFF_F000) == 0xFFFF_F6BF_FFFF_FFF8)
    #expect(selfMap.pteAddress(mapping: 0xFFFF_F800_0000_0000) == 0xFFFF_F6FC_0000_0000)
    #expect(selfMap.pteAddress(mapping: 0xFFFF_FFFF_FFFF_F000) == selfMap.base + SelfMap.slotBytes - 8)
  }

  @Test("a user-half slot is not sign-extended; slots past 511 do not exist")
  func slots() throws {
    #expect(try #require(SelfMap(slot: 1)).base == 0x80_0000_0000)
    #expect(try #require(SelfMap(slot: 256)).base == 0xFFFF_8000_0000_0000)
    #expect(try #require(SelfMap(slot: 511)).base == 0xFFFF_FF80_0000_0000)
    #expect(SelfMap(slot: 512) == nil)
    let selfMap = try #require(SelfMap(slot: 0x1ED))
    #expect(selfMap.contains(0xFFFF_F680_0000_0000))
    #expect(selfMap.contains(0xFFFF_F6FF_FFFF_FFFF))
    #expect(!selfMap.contains(0xFFFF_F700_0000_0000))
    #expect(!selfMap.contains(0xFFFF_F67F_FFFF_FFFF))
  }
}

@Suite("Decoding the guest's Mm state")
struct MmStateTests {
  @Test("the debug block, list heads, windows and process table decode as laid out")
  func decodesLayout() throws {
    let guest = SyntheticGuest()
    try guest.withState { state in
      #expect(state.version == DebugBlock.currentVersion)
      #expect(state.pfnCount == 1024)
      #expect(state.pfnDatabaseAddress == guest.databaseAddress)
      #expect(state.kernelRoot == guest.kernelRoot)
      #expect(state.selfMapSlot == 0x1ED)
      #expect(state.pfnDatabase.count == 1024 * PageFrameRecord.size)
      #expect(state.listHeads.map(\.location) == Array(PageLocation.allCases.prefix(6)))
      for head in state.listHeads {
        let pages = guest.lists[Int(head.location.rawValue)]
        #expect(head.total == UInt64(pages.count))
        #expect(head.first == pages.first.map { UInt32($0) } ?? PageFrameRecord.noPage)
        #expect(head.last == pages.last.map { UInt32($0) } ?? PageFrameRecord.noPage)
      }
      #expect(state.listHead(.activeAndValid) == nil)
      #expect(state.windows.map(\.kind) == [.directMap, .selfMap, .userCode, .scriptBuffers])
      #expect(state.windows[0].start == KernelLayout.directMapBase)
      #expect(state.windows[1].contains(KernelLayout.selfMapBase))
      // Slot 0 is empty (id 0) and skipped.
      #expect(state.processes.map(\.slot) == [1, 2])
      #expect(state.processes.map(\.id) == guest.processes.map(\.id))
      #expect(state.processes.map(\.root) == guest.processes.map(\.root))
      #expect(state.processes[0].vadRoot == 0x1000)
      #expect(state.processes[1].workingSet == 0x4000)
      #expect(state.process(id: 2)?.slot == 2)
      let available = guest.lists[0].count + guest.lists[1].count + guest.lists[2].count
      #expect(state.availablePages == UInt64(available))
    }
  }

  @Test("a PFN record decodes every field; links and unset fields read as nil")
  func decodesFrames() throws {
    let guest = SyntheticGuest()
    let mapping = guest.userMappings[1]
    let free = guest.lists[Int(PageLocation.free.rawValue)]
    try guest.withState { state in
      let frame = try #require(state.frame(mapping.pfn))
      #expect(frame.pfn == mapping.pfn)
      #expect(frame.location == .activeAndValid)
      #expect(frame.usage == .general)
      #expect(frame.shareCount == 1)
      #expect(frame.referenceCount == 1)
      #expect(frame.pteAddress == state.selfMap.pteAddress(mapping: mapping.va))
      #expect(frame.pteFramePFN == mapping.tablePFN)
      #expect(frame.owner == UInt16(mapping.process ?? 0))
      #expect(frame.workingSetEntry == 1)
      #expect(frame.nextPFN == nil && frame.previousPFN == nil)
      #expect(frame.originalSoftwarePTE == .zero)
      #expect(frame.color == UInt8(mapping.pfn & 0x3F))
      #expect(frame.flags.isEmpty)

      let middle = try #require(state.frame(free[1]))
      #expect(middle.location == .free)
      #expect(middle.previousPFN == free[0])
      #expect(middle.nextPFN == free[2])
      #expect(middle.pteFramePFN == nil)
      #expect(middle.workingSetEntry == nil)

      #expect(try #require(state.frame(0)).usage == .loaderReserved)
      #expect(try #require(state.frame(0xA0)).usage == .hole)
      #expect(state.frame(1023) != nil)
      #expect(state.frame(1024) == nil)
      #expect(state.frame(.max) == nil)
      #expect(state.recordAddress(2) == guest.databaseAddress + 96)
    }
  }

  @Test("unknown location and usage bytes are kept raw, typed accessors are nil")
  func unknownBytes() throws {
    let guest = SyntheticGuest()
    let pfn = guest.lists[Int(PageLocation.free.rawValue)][0]
    guest.setRecord8(pfn, PageFrameRecord.location, 0x42)
    guest.setRecord8(pfn, PageFrameRecord.usage, 0x99)
    guest.setRecord8(pfn, PageFrameRecord.flags, 0x82)
    try guest.withState { state in
      let frame = try #require(state.frame(pfn))
      #expect(frame.rawLocation == 0x42 && frame.location == nil)
      #expect(frame.rawUsage == 0x99 && frame.usage == nil)
      #expect(frame.flags.contains(.prototype))
      #expect(frame.description.contains("location 66?"))
    }
  }

  /// Decodes after `corrupt` and returns the error.
  private func decodeError(
    _ corrupt: (SyntheticGuest) -> Void, at address: ((SyntheticGuest) -> UInt64)? = nil
  ) -> MmDecodeError? {
    let guest = SyntheticGuest()
    corrupt(guest)
    return withExtendedLifetime(guest) { () -> MmDecodeError? in
      let block = address?(guest) ?? guest.debugBlock
      do throws(MmDecodeError) {
        _ = try MmState(memory: guest.memory, debugBlockAddress: block)
        return nil
      } catch {
        return error
      }
    }
  }

  @Test("a bad magic is refused with what was found and what was expected")
  func badMagic() throws {
    let error = try #require(decodeError { $0.setDebugBlock32(DebugBlock.magic, 0x4141_4141) })
    #expect(error == .badMagic(address: 0x10_0000, found: 0x4141_4141))
    #expect(
      error.description == "debug block at 0x100000 has magic 0x41414141 (\"AAAA\"); expected 0x42444d4d (\"MMDB\")")
  }

  @Test("a debug block pointer outside RAM, or in the hole, is refused")
  func blockOutsideMemory() throws {
    #expect(decodeError({ _ in }, at: { _ in 0x9F000 }) == .debugBlockOutsideMemory(address: 0x9F000))
    #expect(decodeError({ _ in }, at: { _ in 0x3F_FFF0 }) == .debugBlockOutsideMemory(address: 0x3F_FFF0))
    #expect(decodeError({ _ in }, at: { _ in .max - 4 }) == .debugBlockOutsideMemory(address: .max - 4))
  }

  @Test("version 0, a short block and a foreign record size are refused")
  func versionAndSizes() throws {
    #expect(
      decodeError { $0.setDebugBlock32(DebugBlock.version, 0) } == .unsupportedVersion(address: 0x10_0000, found: 0))
    #expect(
      decodeError { $0.setDebugBlock32(DebugBlock.size, 40) }
        == .blockTooSmall(address: 0x10_0000, size: 40, needed: MmState.firstBlockSize))
    #expect(decodeError { $0.setDebugBlock32(DebugBlock.pfnRecordSize, 64) } == .recordSize(found: 64, expected: 48))
    // A newer version with a longer block still has version 1's fields.
    #expect(
      decodeError {
        $0.setDebugBlock32(DebugBlock.version, 2)
        $0.setDebugBlock32(DebugBlock.size, 200)
      } == nil)
  }

  @Test("a PFN count of 0, past RAM's pages or past 32-bit links is refused; so is a database outside RAM")
  func pfnCount() throws {
    #expect(decodeError { $0.setDebugBlock64(DebugBlock.pfnCount, 0) } == .emptyDatabase)
    #expect(
      decodeError { $0.setDebugBlock64(DebugBlock.pfnCount, 1025) } == .pfnCountTooLarge(count: 1025, limit: 1024))
    #expect(
      decodeError { $0.setDebugBlock64(DebugBlock.pfnCount, .max) } == .pfnCountTooLarge(count: .max, limit: 1024))
    #expect(
      decodeError { $0.setDebugBlock64(DebugBlock.pfnDatabasePhysical, 0x3F_8000) }
        == .databaseOutsideMemory(address: 0x3F_8000, bytes: 1024 * 48))
    #expect(
      decodeError { $0.setDebugBlock64(DebugBlock.pfnDatabasePhysical, 0x9_8000) }
        == .databaseOutsideMemory(address: 0x9_8000, bytes: 1024 * 48))
    let error = try #require(decodeError { $0.setDebugBlock64(DebugBlock.pfnCount, 1 << 40) })
    #expect(error.description.contains("more than guest RAM has pages"))
  }

  @Test("list heads, windows and the process table must lie in RAM and be of sane sizes")
  func tables() throws {
    #expect(
      decodeError { $0.setDebugBlock64(DebugBlock.listHeadsPhysical, 1 << 40) }
        == .listHeadsOutsideMemory(address: 1 << 40))
    #expect(decodeError { $0.setDebugBlock32(DebugBlock.selfMapSlot, 600) } == .badSelfMapSlot(600))
    #expect(
      decodeError { $0.setDebugBlock32(DebugBlock.windowCount, 100_000) }
        == .tooManyWindows(count: 100_000, limit: MmState.maxWindows))
    #expect(
      decodeError { $0.setDebugBlock64(DebugBlock.windowsPhysical, 0x3F_FFF0) }
        == .windowsOutsideMemory(address: 0x3F_FFF0, count: 4))
    #expect(
      decodeError { $0.setDebugBlock32(DebugBlock.processCount, .max) }
        == .tooManyProcesses(count: .max, limit: MmState.maxProcesses))
    #expect(
      decodeError { $0.setDebugBlock32(DebugBlock.processRecordSize, 16) }
        == .processRecordSize(found: 16, expected: ProcessRecord.size))
    #expect(
      decodeError { $0.setDebugBlock64(DebugBlock.processTablePhysical, 0x9E_FF0) }
        == .processTableOutsideMemory(address: 0x9E_FF0, count: 3))
    // No windows and no processes: nothing to read, nothing refused.
    #expect(
      decodeError {
        $0.setDebugBlock32(DebugBlock.windowCount, 0)
        $0.setDebugBlock64(DebugBlock.windowsPhysical, .max)
        $0.setDebugBlock32(DebugBlock.processCount, 0)
        $0.setDebugBlock64(DebugBlock.processTablePhysical, .max)
      } == nil)
  }
}
