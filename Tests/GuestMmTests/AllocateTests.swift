import GuestABI
import GuestMm
import Testing

@Suite struct ReserveTests {
  // (base, size, expected size): base rounds down to 64 KiB, the end up to a page.
  static let roundings: [(UInt64, UInt64, UInt64)] = [
    (0x5000_0000, 0x0001, 0x1000),
    (0x5000_8000, 0x0001, 0x9000),
    (0x5000_0010, 0x1000, 0x2000),
    (0x5001_0000, 0x2000, 0x2000),
    (0x5000_FFFF, 0x3000, 0x13000),
    (0x5000_1010, 0x7000, 0x9000),
  ]

  @Test(arguments: roundings)
  func rounding(base: UInt64, size: UInt64, expected: UInt64) {
    let harness = Harness()
    let result = harness.vm.reserve(base: base, size: size, protection: noAccess)
    #expect(result.status == .success)
    #expect(result.base == base & ~0xFFFF)
    #expect(result.size == expected)
    let vad = harness.vads[0]
    #expect(vad.startPage == result.base >> 12)
    #expect(vad.pageCount == expected >> 12)
    #expect(vad.protection == noAccess)
    #expect(vad.committedPages == 0)
    #expect(vad.flags == [])
    #expect(harness.backend.ptes.isEmpty, "a reservation writes no PTE")
  }

  @Test func baseZeroTakesTheLowestAlignedGap() {
    let harness = Harness()
    let first = harness.vm.reserve(base: 0, size: 0x3000, protection: readWrite)
    #expect(first.status == .success)
    #expect(first.base == UserAddressSpace.lowest)
    #expect(first.size == 0x3000)
    let second = harness.vm.reserve(base: 0, size: 0x1_0001, protection: readWrite)
    #expect(second.base == 0x2_0000, "next 64 KiB boundary after the first")
    #expect(second.size == 0x1_1000)
    let fixed = harness.vm.reserve(base: 0x6_0000, size: 0x1000, protection: readWrite)
    #expect(fixed.status == .success)
    // 0x4_0000..0x6_0000 is free and 128 KiB long: a 128 KiB request fits, a bigger one goes past 0x6_0000.
    #expect(harness.vm.reserve(base: 0, size: 0x2_0000, protection: readWrite).base == 0x4_0000)
    #expect(harness.vm.reserve(base: 0, size: 0x1000, protection: readWrite).base == 0x7_0000)
    #expect(harness.vm.release(base: UserAddressSpace.lowest, size: 0).status == .success)
    #expect(
      harness.vm.reserve(base: 0, size: 0x1000, protection: readWrite).base == UserAddressSpace.lowest,
      "freed gap reused")
    #expect(harness.vads.map(\.startPage) == [0x10, 0x20, 0x40, 0x60, 0x70])
  }

  @Test func baseZeroWithNoGapLeft() {
    let harness = Harness()
    let whole = UserAddressSpace.end - UserAddressSpace.lowest
    #expect(harness.vm.reserve(base: UserAddressSpace.lowest, size: whole, protection: readWrite).status == .success)
    harness.expectRefused(.noMemory) { $0.vm.reserve(base: 0, size: 0x1000, protection: readWrite).status }
  }

  @Test func reserveAndCommitAtOnce() {
    let harness = Harness()
    let result = harness.vm.reserve(base: 0x5000_4080, size: 0x1000, protection: readWrite, commit: true)
    #expect(result.status == .success)
    #expect(result.base == 0x5000_0000)
    #expect(result.size == 0x6000)
    let vad = harness.vads[0]
    #expect(vad.flags == .committedAtReservation)
    #expect(vad.committedPages == 6)
    #expect(harness.backend.ptes.isEmpty, "NT's lazy commit: the VAD says committed")
    let info = harness.vm.query(0x5000_2000).info
    #expect(info.state == .committed)
    #expect(info.protection == readWrite)
    #expect(info.regionSize == 0x4000)
  }

  static let badInputs: [(UInt64, UInt64, UInt8, Status)] = [
    (0x5000_0000, 0, 4, .invalidParameter),  // size 0
    (0xF000, 0x1000, 4, .invalidParameter),  // below the lowest user address
    (0x1000, 0x1000, 4, .invalidParameter),
    (0xFFFF_8000_0000_0000, 0x1000, 4, .invalidParameter),  // kernel space
    (0x7FFF_FFFE_F000, 0x2000, 4, .invalidParameter),  // past the user half
    (0x7FFF_FFFE_0000, UInt64.max, 4, .invalidParameter),  // wraps
    (0, UserAddressSpace.end, 4, .invalidParameter),  // bigger than the user half
    (0x5000_0000, 0x1000, 0, .invalidPageProtection),
    (0x5000_0000, 0x1000, 5, .invalidPageProtection),  // write-copy: not for private memory
    (0x5000_0000, 0x1000, 7, .invalidPageProtection),
    (0x5000_0000, 0x1000, 0x0D, .invalidPageProtection),
    (0x5000_0000, 0x1000, 0x08, .invalidPageProtection),  // no-cache without access
    (0x5000_0000, 0x1000, 0x10, .invalidPageProtection),  // guard without access
    (0x5000_0000, 0x1000, 0x20, .invalidPageProtection),
    (0x5000_0000, 0x1000, 0xFF, .invalidPageProtection),
  ]

  @Test(arguments: badInputs)
  func badInput(base: UInt64, size: UInt64, protection: UInt8, expected: Status) {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x6000_0000, size: 0x1000, protection: readWrite)
    harness.expectRefused(expected) { $0.vm.reserve(base: base, size: size, protection: protection).status }
    harness.expectRefused(expected) {
      $0.vm.reserve(base: base, size: size, protection: protection, commit: true).status
    }
  }

  @Test func overlapIsAConflict() {
    let harness = Harness()
    #expect(harness.vm.reserve(base: 0x5000_1010, size: 0x1000, protection: noAccess).status == .success)
    // Same 64 KiB region, past the reservation's end: still conflicts (its base rounds down).
    harness.expectRefused(.conflictingAddresses) {
      $0.vm.reserve(base: 0x5000_8000, size: 0x1000, protection: noAccess).status
    }
    harness.expectRefused(.conflictingAddresses) {
      $0.vm.reserve(base: 0x4FFF_0000, size: 0x1_1000, protection: readWrite).status
    }
    #expect(harness.vm.reserve(base: 0x4FFF_0000, size: 0x1_0000, protection: readWrite).status == .success, "adjacent")
  }

  @Test func fullTableIsNoMemory() {
    let harness = Harness(records: 2)
    #expect(harness.vm.reserve(base: 0, size: 0x1000, protection: readWrite).status == .success)
    #expect(harness.vm.reserve(base: 0, size: 0x1000, protection: readWrite).status == .success)
    harness.expectRefused(.noMemory) { $0.vm.reserve(base: 0, size: 0x1000, protection: readWrite).status }
    harness.expectRefused(.noMemory) { $0.vm.reserve(base: 0x5000_0000, size: 0x1000, protection: readWrite).status }
  }
}

@Suite struct CommitTests {
  @Test func commitWritesDemandZeroPTEs() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x1_0000, protection: noAccess)
    let result = harness.vm.commit(base: 0x5000_2001, size: 0x1000, protection: readWrite)
    #expect(result.status == .success)
    #expect(result.base == 0x5000_2000)
    #expect(result.size == 0x2000, "a range straddling a page boundary commits both pages")
    #expect(harness.pte(0x5000_2000) == SoftwarePTE.demandZero(protection: readWrite).raw)
    #expect(harness.pte(0x5000_3000) == SoftwarePTE.demandZero(protection: readWrite).raw)
    #expect(harness.pte(0x5000_1000) == 0)
    #expect(harness.pte(0x5000_4000) == 0)
    #expect(harness.vads[0].committedPages == 2)
    // Committing again is fine and counts nothing twice.
    #expect(harness.vm.commit(base: 0x5000_2000, size: 0x3000, protection: readWrite).status == .success)
    #expect(harness.vads[0].committedPages == 3)
  }

  @Test func recommitKeepsContentsAndTakesTheNewProtection() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x1_0000, protection: noAccess)
    _ = harness.vm.commit(base: 0x5000_0000, size: 0x2000, protection: readWrite)
    #expect(harness.vm.resolveFault(0x5000_0000, access: .write, userMode: true) == .resolved(.demandZero))
    let mapped = harness.pte(0x5000_0000)
    #expect(harness.vm.commit(base: 0x5000_0000, size: 0x3000, protection: readOnly).status == .success)
    let after = harness.pte(0x5000_0000)
    #expect(after & HardwarePTE.frameMask == mapped & HardwarePTE.frameMask, "same frame")
    #expect(after & HardwarePTE.writable == 0)
    #expect(after & HardwarePTE.dirty != 0)
    #expect(harness.pte(0x5000_1000) == SoftwarePTE.demandZero(protection: readOnly).raw)
    #expect(harness.pte(0x5000_2000) == SoftwarePTE.demandZero(protection: readOnly).raw)
    #expect(harness.backend.freedPages == 0)
    #expect(harness.vm.resolveFault(0x5000_0000, access: .write, userMode: true) == .accessViolation)
    #expect(harness.vads[0].committedPages == 3)
  }

  @Test func baseZeroReservesAndCommits() {
    let harness = Harness()
    let result = harness.vm.commit(base: 0, size: 0x4000, protection: readWrite)
    #expect(result.status == .success)
    #expect(result.base == UserAddressSpace.lowest)
    #expect(harness.vads[0].flags == .committedAtReservation)
    #expect(harness.vm.resolveFault(result.base + 0x3000, access: .write, userMode: true) == .resolved(.demandZero))
  }

  @Test func commitInALazyVadOnlyWritesWhatDiffers() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x4000, protection: readWrite, commit: true)
    #expect(harness.vm.commit(base: 0x5000_0000, size: 0x4000, protection: readWrite).status == .success)
    #expect(harness.backend.ptes.isEmpty)
    #expect(harness.vm.commit(base: 0x5000_1000, size: 0x1000, protection: readOnly).status == .success)
    #expect(harness.pte(0x5000_1000) == SoftwarePTE.demandZero(protection: readOnly).raw)
    #expect(harness.vads[0].committedPages == 4)
    #expect(harness.vm.query(0x5000_1000).info.protection == readOnly)
  }

  @Test func badInput() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x3000, protection: noAccess)
    _ = harness.vm.reserve(base: 0x5001_0000, size: 0x1_0000, protection: noAccess)
    let cases: [(UInt64, UInt64, UInt8, Status)] = [
      (0x5000_0000, 0, readWrite, .invalidParameter),
      (0xFFFF_8000_0000_0000, 0x1000, readWrite, .invalidParameter),
      (0x7FFF_FFFF_F000, 0x1000, readWrite, .invalidParameter),
      (0x5000_0000, UInt64.max, readWrite, .invalidParameter),
      (0x5000_0000, 0x1000, 0, .invalidPageProtection),
      (0x5000_0000, 0x1000, PageProtection.writeCopy, .invalidPageProtection),
      (0x5000_0000, 0x1000, 0x10, .invalidPageProtection),
      (0x5000_3000, 0x1000, readWrite, .conflictingAddresses),  // past the reservation's end
      (0x5000_2000, 0x2000, readWrite, .conflictingAddresses),  // runs past it
      (0x5000_4000, 0x1_0000, readWrite, .conflictingAddresses),  // from a gap into the next VAD
      (0x5000_0000, 0x2_0000, readWrite, .conflictingAddresses),  // across two VADs
      (0x6000_0000, 0x1000, readWrite, .conflictingAddresses),  // nothing reserved
    ]
    for (base, size, protection, expected) in cases {
      harness.expectRefused(expected) { $0.vm.commit(base: base, size: size, protection: protection).status }
    }
  }

  @Test func runningOutOfPageTablesRollsBack() {
    let harness = Harness()
    // 5 MiB: three page tables' worth of PTEs.
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x50_0000, protection: noAccess)
    _ = harness.vm.commit(base: 0x5000_0000, size: 0x1000, protection: readOnly)
    harness.backend.limit = harness.backend.inUse + 1  // one more table, not two
    let tablesBefore = harness.backend.freedTables
    harness.expectRefused(.noMemory) { $0.vm.commit(base: 0x5000_1000, size: 0x4F_F000, protection: readWrite).status }
    #expect(harness.backend.freedTables == tablesBefore + 1, "the table made for the attempt went back")
    harness.backend.limit = Int.max
    #expect(harness.vm.commit(base: 0x5000_1000, size: 0x4F_F000, protection: readWrite).status == .success)
    #expect(harness.vads[0].committedPages == 0x500)
    #expect(harness.backend.tables.count == 3)
    #expect(harness.pte(0x5000_0000) == SoftwarePTE.demandZero(protection: readOnly).raw)
    #expect(harness.backend.accountingProblems() == [])
  }
}
