import GuestABI
import GuestMm
import Testing

@Suite struct ProtectTests {
  @Test func protectChangesValidAndDemandZeroPTEs() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x1_0000, protection: noAccess)
    _ = harness.vm.commit(base: 0x5000_0000, size: 0x2000, protection: readWrite)
    _ = harness.vm.resolveFault(0x5000_0000, access: .write, userMode: true)
    let mapped = harness.pte(0x5000_0000)
    let result = harness.vm.protect(base: 0x5000_0000, size: 0x2000, protection: readOnly)
    #expect(result.status == .success)
    #expect(result.oldProtection == readWrite)
    let after = harness.pte(0x5000_0000)
    #expect(after & HardwarePTE.frameMask == mapped & HardwarePTE.frameMask)
    #expect(after & HardwarePTE.writable == 0)
    #expect(after & HardwarePTE.dirty != 0)
    #expect(harness.pte(0x5000_1000) == SoftwarePTE.demandZero(protection: readOnly).raw)
    #expect(harness.backend.freedPages == 0)
    #expect(harness.vm.resolveFault(0x5000_0000, access: .write, userMode: true) == .accessViolation)
    #expect(harness.vm.resolveFault(0x5000_0000, access: .read, userMode: true) == .resolved(.alreadyValid))
    #expect(harness.vm.protect(base: 0x5000_1000, size: 1, protection: readWrite).oldProtection == readOnly)
  }

  @Test func noAccessAndBackKeepsTheFrame() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x1000, protection: readWrite, commit: true)
    _ = harness.vm.resolveFault(0x5000_0000, access: .write, userMode: true)
    let frame = harness.pte(0x5000_0000) & HardwarePTE.frameMask
    #expect(harness.vm.protect(base: 0x5000_0000, size: 0x1000, protection: noAccess) == (.success, readWrite))
    #expect(harness.pte(0x5000_0000) & HardwarePTE.user == 0)
    #expect(harness.vm.resolveFault(0x5000_0000, access: .read, userMode: true) == .accessViolation)
    #expect(harness.vm.query(0x5000_0000).info.protection == noAccess)
    #expect(harness.vm.protect(base: 0x5000_0000, size: 0x1000, protection: readOnly) == (.success, noAccess))
    #expect(harness.pte(0x5000_0000) & HardwarePTE.frameMask == frame)
    #expect(harness.vm.resolveFault(0x5000_0000, access: .read, userMode: true) == .resolved(.alreadyValid))
    #expect(harness.backend.freedPages == 0)
  }

  @Test func protectInALazyVad() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x4000, protection: readWrite, commit: true)
    let result = harness.vm.protect(base: 0x5000_1000, size: 0x1000, protection: PageProtection.executeRead)
    #expect(result == (.success, readWrite), "a zero PTE takes the VAD's protection")
    #expect(harness.pte(0x5000_1000) == SoftwarePTE.demandZero(protection: PageProtection.executeRead).raw)
    #expect(harness.pte(0x5000_0000) == 0)
    #expect(harness.vads[0].committedPages == 4)
  }

  @Test func lazyProtectOutOfTablesRollsBack() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x60_0000, protection: readWrite, commit: true)
    harness.backend.limit = 2
    harness.expectRefused(.noMemory) { $0.vm.protect(base: 0x5000_0000, size: 0x60_0000, protection: readOnly).status }
    #expect(harness.backend.freedTables == 2)
  }

  @Test func badInput() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x1_0000, protection: noAccess)
    _ = harness.vm.reserve(base: 0x5001_0000, size: 0x1_0000, protection: readWrite, commit: true)
    _ = harness.vm.commit(base: 0x5000_0000, size: 0x2000, protection: readWrite)
    let cases: [(UInt64, UInt64, UInt8, Status)] = [
      (0x5000_0000, 0, readOnly, .invalidParameter),
      (0xFFFF_8000_0000_0000, 0x1000, readOnly, .invalidParameter),
      (0x5000_0000, UInt64.max, readOnly, .invalidParameter),
      (0x5000_0000, 0x1000, 0, .invalidPageProtection),
      (0x5000_0000, 0x1000, PageProtection.executeWriteCopy, .invalidPageProtection),
      (0x6000_0000, 0x1000, readOnly, .conflictingAddresses),
      (0x5000_F000, 0x2000, readOnly, .conflictingAddresses),  // across two VADs
      (0x5000_2000, 0x1000, readOnly, .notCommitted),
      (0x5000_1000, 0x2000, readOnly, .notCommitted),  // partly committed
    ]
    for (base, size, protection, expected) in cases {
      harness.expectRefused(expected) { $0.vm.protect(base: base, size: size, protection: protection).status }
    }
    _ = harness.vm.decommit(base: 0x5001_4000, size: 0x1000)
    harness.expectRefused(.notCommitted) {
      $0.vm.protect(base: 0x5001_0000, size: 0x1_0000, protection: readOnly).status
    }
  }
}

@Suite struct QueryTests {
  @Test func freeReservedAndCommittedRuns() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x1_0000, protection: noAccess)
    _ = harness.vm.commit(base: 0x5000_0000, size: 0x1000, protection: readWrite)
    _ = harness.vm.commit(base: 0x5000_2000, size: 0x2000, protection: readWrite)
    _ = harness.vm.commit(base: 0x5000_F000, size: 0x1000, protection: readWrite)
    _ = harness.vm.resolveFault(0x5000_2000, access: .read, userMode: true)

    let low = harness.vm.query(0x1234)
    #expect(low.status == .success)
    #expect(
      low.info
        == MemoryBasicInformation(
          baseAddress: 0x1000, allocationBase: 0, allocationProtection: 0, regionSize: 0x4FFF_F000, state: .free,
          protection: noAccess, type: nil))

    let middle = harness.vm.query(0x5000_F700).info
    #expect(
      middle
        == MemoryBasicInformation(
          baseAddress: 0x5000_F000, allocationBase: 0x5000_0000, allocationProtection: noAccess, regionSize: 0x1000,
          state: .committed, protection: readWrite, type: .private))

    let reserved = harness.vm.query(0x5000_1000).info
    #expect(reserved.state == .reserved)
    #expect(reserved.protection == 0)
    #expect(reserved.regionSize == 0x1000)

    let mixed = harness.vm.query(0x5000_2000).info
    #expect(mixed.state == .committed)
    #expect(mixed.regionSize == 0x2000, "a mapped and a demand-zero page with the same protection are one run")

    _ = harness.vm.protect(base: 0x5000_3000, size: 0x1000, protection: readOnly)
    #expect(harness.vm.query(0x5000_2000).info.regionSize == 0x1000, "runs end where the protection changes")
    #expect(harness.vm.query(0x5000_4000).info.regionSize == 0xB000)

    let top = harness.vm.query(0x5001_0000).info
    #expect(top.state == .free)
    #expect(top.regionSize == UserAddressSpace.end - 0x5001_0000)
  }

  @Test func reserveOnlyRunsSpanTheVad() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x100_0000, protection: readWrite)
    let info = harness.vm.query(0x5000_3000).info
    #expect(info.state == .reserved)
    #expect(info.regionSize == 0xFF_D000)
    #expect(info.allocationProtection == readWrite)
  }

  @Test func addressesPastTheUserHalfAreInvalid() {
    let harness = Harness()
    #expect(harness.vm.query(UserAddressSpace.end).status == .invalidParameter)
    #expect(harness.vm.query(0xFFFF_8000_0000_0000).status == .invalidParameter)
    #expect(harness.vm.query(UserAddressSpace.end - 1).status == .success)
  }
}
