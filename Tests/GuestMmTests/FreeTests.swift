import GuestABI
import GuestMm
import Testing

/// A harness with a 64 KiB reservation at 0x5000_0000, pages 0-3 committed readWrite
/// and pages 0 and 2 touched (mapped).
private func touchedRegion() -> Harness {
  let harness = Harness()
  _ = harness.vm.reserve(base: 0x5000_0000, size: 0x1_0000, protection: noAccess)
  _ = harness.vm.commit(base: 0x5000_0000, size: 0x4000, protection: readWrite)
  _ = harness.vm.resolveFault(0x5000_0000, access: .write, userMode: true)
  _ = harness.vm.resolveFault(0x5000_2000, access: .read, userMode: true)
  return harness
}

private let decommittedPTE = SoftwarePTE.demandZero(protection: PageProtection.decommitted).raw

@Suite struct DecommitTests {
  @Test func decommitFreesPagesAndZeroesPTEs() {
    let harness = touchedRegion()
    #expect(harness.backend.users.count == 2)
    let result = harness.vm.decommit(base: 0x5000_1800, size: 0x1000)
    #expect(result.status == .success)
    #expect(result.base == 0x5000_1000)
    #expect(result.size == 0x2000)
    #expect(harness.pte(0x5000_1000) == 0)
    #expect(harness.pte(0x5000_2000) == 0)
    #expect(harness.backend.freedPages == 1)
    #expect(harness.pte(0x5000_0000) & 1 == 1)
    #expect(harness.vads[0].committedPages == 2)
    #expect(harness.vm.resolveFault(0x5000_2000, access: .read, userMode: true) == .accessViolation)
    #expect(harness.backend.accountingProblems() == [])
  }

  @Test func decommittingUncommittedPagesSucceeds() {
    let harness = touchedRegion()
    #expect(harness.vm.decommit(base: 0x5000_8000, size: 0x8000).status == .success)
    #expect(harness.vads[0].committedPages == 4)
  }

  @Test func sizeZeroRunsToTheVadsEnd() {
    let harness = touchedRegion()
    let result = harness.vm.decommit(base: 0x5000_1000, size: 0)
    #expect(result.status == .success)
    #expect(result.size == 0xF000)
    #expect(harness.vads[0].committedPages == 1)
    #expect(harness.vm.decommit(base: 0x5000_0000, size: 0).size == 0x1_0000)
    #expect(harness.backend.ptes.isEmpty)
    #expect(harness.backend.freedPages == 2)
    #expect(harness.backend.tables.isEmpty, "the emptied page table went back")
  }

  @Test func decommitInALazyVadLeavesMarkers() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x4000, protection: readWrite, commit: true)
    _ = harness.vm.resolveFault(0x5000_1000, access: .write, userMode: true)
    #expect(harness.vm.decommit(base: 0x5000_0000, size: 0x2000).status == .success)
    #expect(harness.pte(0x5000_0000) == decommittedPTE)
    #expect(harness.pte(0x5000_1000) == decommittedPTE)
    #expect(harness.backend.freedPages == 1)
    #expect(harness.vads[0].committedPages == 2)
    let info = harness.vm.query(0x5000_0000).info
    #expect(info.state == .reserved)
    #expect(info.regionSize == 0x2000)
    #expect(harness.vm.query(0x5000_2000).info.state == .committed)
    #expect(harness.vm.resolveFault(0x5000_0000, access: .read, userMode: true) == .accessViolation)
    #expect(harness.vm.commit(base: 0x5000_0000, size: 0x1000, protection: readWrite).status == .success)
    #expect(harness.pte(0x5000_0000) == SoftwarePTE.demandZero(protection: readWrite).raw)
    #expect(harness.vads[0].committedPages == 3)
  }

  @Test func lazyDecommitOutOfTablesRollsBack() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x60_0000, protection: readWrite, commit: true)
    _ = harness.vm.resolveFault(0x5000_0000, access: .write, userMode: true)
    harness.backend.limit = harness.backend.inUse + 1
    harness.expectRefused(.noMemory) { $0.vm.decommit(base: 0x5000_0000, size: 0).status }
    #expect(harness.backend.freedPages == 0, "the mapped page survived the refused decommit")
  }

  @Test func badInput() {
    let harness = touchedRegion()
    _ = harness.vm.reserve(base: 0x5001_0000, size: 0x1_0000, protection: noAccess)
    let cases: [(UInt64, UInt64, Status)] = [
      (0xFFFF_8000_0000_0000, 0x1000, .invalidParameter),
      (UserAddressSpace.end, 0, .invalidParameter),
      (0x5000_0000, UInt64.max, .invalidParameter),
      (0x6000_0000, 0x1000, .memoryNotAllocated),
      (0x6000_0000, 0, .memoryNotAllocated),
      (0x5000_F000, 0x2000, .unableToFreeVm),  // past the VAD's end
      (0x5000_0000, 0x2_0000, .unableToFreeVm),  // across two VADs
    ]
    for (base, size, expected) in cases {
      harness.expectRefused(expected) { $0.vm.decommit(base: base, size: size).status }
    }
  }
}

@Suite struct ReleaseTests {
  @Test func wholeReleaseFreesEverything() {
    let harness = touchedRegion()
    let result = harness.vm.release(base: 0x5000_0000, size: 0)
    #expect(result.status == .success)
    #expect(result.base == 0x5000_0000)
    #expect(result.size == 0x1_0000)
    #expect(harness.vads.isEmpty)
    #expect(harness.backend.ptes.isEmpty)
    #expect(harness.backend.freedPages == 2)
    #expect(harness.backend.accountingProblems() == [])
    #expect(harness.vm.query(0x5000_0000).info.state == .free)
  }

  @Test func releaseOfALazyVadClearsItsMarkers() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x4000, protection: readWrite, commit: true)
    _ = harness.vm.decommit(base: 0x5000_1000, size: 0x1000)
    #expect(harness.vm.release(base: 0x5000_0000, size: 0).status == .success)
    #expect(harness.backend.ptes.isEmpty)
  }

  @Test func partialReleaseShrinksAndSplits() {
    let harness = touchedRegion()
    // Front page.
    var result = harness.vm.release(base: 0x5000_0000, size: 0x1000)
    #expect(result.status == .success)
    #expect(harness.vads[0].startPage == 0x5000_1)
    #expect(harness.vads[0].committedPages == 3)
    // Back pages.
    result = harness.vm.release(base: 0x5000_E000, size: 0x2000)
    #expect(result.status == .success)
    #expect(harness.vads[0].endPage == 0x5000_D)
    // Middle: page 2 (mapped) goes, pages 1 and 3 (committed) stay on either side.
    result = harness.vm.release(base: 0x5000_2000, size: 0x1000)
    #expect(result.status == .success)
    let vads = harness.vads
    #expect(vads.count == 2)
    #expect((vads[0].startPage, vads[0].endPage, vads[0].committedPages) == (0x5000_1, 0x5000_1, 1))
    #expect((vads[1].startPage, vads[1].endPage, vads[1].committedPages) == (0x5000_3, 0x5000_D, 1))
    #expect(vads[1].protection == noAccess)
    #expect(harness.backend.freedPages == 2)
    #expect(harness.vm.query(0x5000_3000).info.allocationBase == 0x5000_3000)
    #expect(harness.backend.accountingProblems() == [])
  }

  @Test func releaseRoundsToPages() {
    let harness = Harness()
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x2000, protection: readWrite)
    let result = harness.vm.release(base: 0x5000_0001, size: 0x1000)
    #expect(result.status == .success)
    #expect(result.size == 0x2000)
    #expect(harness.vads.isEmpty)
  }

  @Test func splitWithAFullTableIsNoMemory() {
    let harness = Harness(records: 1)
    _ = harness.vm.reserve(base: 0x5000_0000, size: 0x3000, protection: readWrite, commit: true)
    _ = harness.vm.resolveFault(0x5000_1000, access: .write, userMode: true)
    harness.expectRefused(.noMemory) { $0.vm.release(base: 0x5000_1000, size: 0x1000).status }
    #expect(harness.vm.release(base: 0x5000_0000, size: 0x1000).status == .success, "a trim needs no record")
  }

  @Test func badInput() {
    let harness = touchedRegion()
    _ = harness.vm.reserve(base: 0x5001_0000, size: 0x1_0000, protection: noAccess)
    let cases: [(UInt64, UInt64, Status)] = [
      (0xFFFF_8000_0000_0000, 0, .invalidParameter),
      (0x5000_0000, UInt64.max, .invalidParameter),
      (0x6000_0000, 0, .memoryNotAllocated),
      (0x5002_0000, 0x1000, .memoryNotAllocated),
      (0x5000_1000, 0, .freeVmNotAtBase),
      (0x5000_0000, 0x1_1000, .unableToFreeVm),  // one page past the VAD
      (0x5000_0000, 0x2_0000, .unableToFreeVm),  // two VADs at once
    ]
    for (base, size, expected) in cases {
      harness.expectRefused(expected) { $0.vm.release(base: base, size: size).status }
    }
  }
}
