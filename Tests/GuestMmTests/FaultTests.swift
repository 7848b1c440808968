import GuestABI
import GuestMm
import Testing

/// A 64 KiB reservation at 0x5000_0000 with page i committed as `codes[i]`.
private func committed(_ codes: [UInt8]) -> Harness {
  let harness = Harness()
  _ = harness.vm.reserve(base: 0x5000_0000, size: 0x1_0000, protection: noAccess)
  for (i, code) in codes.enumerated() {
    #expect(harness.vm.commit(base: 0x5000_0000 + UInt64(i) * page, size: page, protection: code).status == .success)
  }
  return harness
}

@Suite struct FaultTests {
  @Test func demandZeroMapsAPageWithTheProtectionsBits() {
    let harness = committed([readWrite, readWrite, PageProtection.executeRead, readOnly | PageProtection.noCache])
    #expect(harness.vm.resolveFault(0x5000_0123, access: .read, userMode: true) == .resolved(.demandZero))
    let read = harness.pte(0x5000_0000)
    let rights = HardwarePTE.present | HardwarePTE.user | HardwarePTE.writable | HardwarePTE.noExecute
    #expect(read & rights == rights)
    #expect(read & HardwarePTE.accessed != 0)
    #expect(read & HardwarePTE.dirty == 0, "a read fault leaves D clear")
    #expect(harness.backend.users[FakeBackend.frame(read)] == 1)

    #expect(harness.vm.resolveFault(0x5000_1000, access: .write, userMode: true) == .resolved(.demandZero))
    #expect(harness.pte(0x5000_1000) & HardwarePTE.dirty != 0, "a write fault sets D")

    #expect(harness.vm.resolveFault(0x5000_2000, access: .execute, userMode: true) == .resolved(.demandZero))
    let code = harness.pte(0x5000_2000)
    #expect(code & HardwarePTE.noExecute == 0)
    #expect(code & HardwarePTE.writable == 0)

    #expect(harness.vm.resolveFault(0x5000_3000, access: .read, userMode: false) == .resolved(.demandZero))
    #expect(harness.pte(0x5000_3000) & HardwarePTE.cacheDisable != 0)
    #expect(harness.pte(0x5000_3000) & HardwarePTE.user != 0, "user pages are user pages whoever touches them")
    #expect(harness.backend.accountingProblems() == [])
  }

  @Test func protectionViolationsChangeNothing() {
    let harness = committed([readOnly, readWrite, noAccess, PageProtection.execute])
    harness.expectRefused(.accessViolation) { $0.vm.resolveFault(0x5000_0000, access: .write, userMode: true).status }
    harness.expectRefused(.accessViolation) { $0.vm.resolveFault(0x5000_0000, access: .execute, userMode: true).status }
    harness.expectRefused(.accessViolation) { $0.vm.resolveFault(0x5000_1000, access: .execute, userMode: true).status }
    harness.expectRefused(.accessViolation) { $0.vm.resolveFault(0x5000_2000, access: .read, userMode: true).status }
    harness.expectRefused(.accessViolation) { $0.vm.resolveFault(0x5000_2000, access: .read, userMode: false).status }
    #expect(harness.vm.resolveFault(0x5000_3000, access: .read, userMode: true) == .resolved(.demandZero))
    // Mapped read-only: a write is still refused, a read is already fine.
    #expect(harness.vm.resolveFault(0x5000_0000, access: .read, userMode: true) == .resolved(.demandZero))
    harness.expectRefused(.accessViolation) { $0.vm.resolveFault(0x5000_0000, access: .write, userMode: true).status }
    #expect(harness.vm.resolveFault(0x5000_0000, access: .read, userMode: true) == .resolved(.alreadyValid))
  }

  @Test func uncommittedFreeAndKernelAddressesAreViolations() {
    let harness = committed([readWrite])
    let addresses: [UInt64] = [0x5000_1000, 0x6000_0000, 0, 0xFFFF_8000_0000_1000, UserAddressSpace.end]
    for address in addresses {
      for userMode in [true, false] {
        harness.expectRefused(.accessViolation) {
          $0.vm.resolveFault(address, access: .read, userMode: userMode).status
        }
      }
    }
  }

  @Test func guardPageFiresOnce() {
    let harness = committed([readWrite | PageProtection.guardPage])
    #expect(harness.vm.resolveFault(0x5000_0000, access: .write, userMode: true) == .guardPage)
    #expect(FaultResolution.guardPage.status == .guardPageViolation)
    #expect(harness.pte(0x5000_0000) == SoftwarePTE.demandZero(protection: readWrite).raw)
    #expect(harness.backend.allocated == 1, "only the page table: no page for the guard hit")
    #expect(harness.vm.resolveFault(0x5000_0000, access: .write, userMode: true) == .resolved(.demandZero))
  }

  @Test func guardPageChecksTheAccessFirst() {
    let harness = committed([readOnly | PageProtection.guardPage])
    harness.expectRefused(.accessViolation) { $0.vm.resolveFault(0x5000_0000, access: .write, userMode: true).status }
    #expect(harness.vm.resolveFault(0x5000_0000, access: .read, userMode: true) == .guardPage)
  }

  @Test func guardOnAMappedPageFiresOnceAndKeepsTheFrame() {
    let harness = committed([readWrite])
    _ = harness.vm.resolveFault(0x5000_0000, access: .write, userMode: true)
    let frame = harness.pte(0x5000_0000) & HardwarePTE.frameMask
    #expect(
      harness.vm.protect(base: 0x5000_0000, size: page, protection: readWrite | PageProtection.guardPage).status
        == .success)
    #expect(harness.vm.query(0x5000_0000).info.protection == readWrite | PageProtection.guardPage)
    #expect(harness.vm.resolveFault(0x5000_0000, access: .read, userMode: true) == .guardPage)
    #expect(harness.pte(0x5000_0000) & HardwarePTE.frameMask == frame)
    #expect(harness.vm.query(0x5000_0000).info.protection == readWrite)
    #expect(harness.vm.resolveFault(0x5000_0000, access: .write, userMode: true) == .resolved(.alreadyValid))
  }

  @Test func lazyVadGuardAndDemandZero() {
    let harness = Harness()
    _ = harness.vm.reserve(
      base: 0x5000_0000, size: 0x2000, protection: readWrite | PageProtection.guardPage, commit: true)
    #expect(harness.vm.resolveFault(0x5000_1000, access: .read, userMode: true) == .guardPage)
    #expect(harness.pte(0x5000_1000) == SoftwarePTE.demandZero(protection: readWrite).raw)
    #expect(harness.vm.resolveFault(0x5000_1000, access: .read, userMode: true) == .resolved(.demandZero))
    #expect(harness.vm.resolveFault(0x5000_0000, access: .read, userMode: true) == .guardPage)
  }

  @Test func outOfPagesIsNoMemoryWithNothingChanged() {
    let harness = committed([readWrite])
    harness.backend.limit = harness.backend.inUse
    harness.expectRefused(.noMemory) { $0.vm.resolveFault(0x5000_0000, access: .read, userMode: true).status }
    // A lazy VAD with no page table yet: the table is made, then the page is missing.
    let lazy = Harness()
    _ = lazy.vm.reserve(base: 0x5000_0000, size: 0x2000, protection: readWrite, commit: true)
    lazy.backend.limit = 1
    lazy.expectRefused(.noMemory) { $0.vm.resolveFault(0x5000_0000, access: .read, userMode: true).status }
    #expect(lazy.backend.freedTables == 1)
    lazy.backend.limit = 0
    lazy.expectRefused(.noMemory) { $0.vm.resolveFault(0x5000_0000, access: .read, userMode: true).status }
    lazy.backend.limit = 2
    #expect(lazy.vm.resolveFault(0x5000_0000, access: .read, userMode: true) == .resolved(.demandZero))
  }

  @Test func laterPathsAreNotSupportedYet() {
    let harness = committed([readWrite, readWrite, readWrite, readWrite])
    // A prototype PTE belongs in a view only: in private memory it is an access violation.
    let stray = SoftwarePTE.prototype(address: 0xFFFF_8000_1234_0000, protection: readWrite, viaVAD: false)
    _ = harness.vm.backend.writePTE(0x5000_0000, stray.raw, fate: .free)
    #expect(harness.vm.resolveFault(0x5000_0000, access: .read, userMode: true) == .accessViolation)
    let planted: [(UInt64, SoftwarePTE, FaultPath)] = [
      (0x5000_1000, .transition(pfn: 0x99, protection: readWrite), .transition),
      (0x5000_2000, .pageFile(file: 1, offset: 7, protection: readWrite), .pageFile),
    ]
    for (address, pte, path) in planted {
      let planted = harness.vm.backend.writePTE(address, pte.raw, fate: .free)
      #expect(planted)
      harness.expectRefused(.notSupported) { $0.vm.resolveFault(address, access: .write, userMode: true).status }
      #expect(harness.vm.resolveFault(address, access: .read, userMode: true) == .notSupported(path))
    }
    _ = harness.vm.backend.writePTE(
      0x5000_3000, SoftwarePTE.transition(pfn: 0x99, protection: readOnly).raw, fate: .free)
    #expect(harness.vm.resolveFault(0x5000_3000, access: .write, userMode: true) == .accessViolation)
  }

  @Test func kernelModeSeesHiddenValidPages() {
    let harness = committed([readWrite])
    _ = harness.vm.resolveFault(0x5000_0000, access: .write, userMode: true)
    _ = harness.vm.protect(base: 0x5000_0000, size: page, protection: noAccess)
    #expect(harness.vm.resolveFault(0x5000_0000, access: .read, userMode: true) == .accessViolation)
    // U is clear: the kernel's read does not fault, so a kernel fault there is stale.
    #expect(harness.vm.resolveFault(0x5000_0000, access: .read, userMode: false) == .resolved(.alreadyValid))
    #expect(harness.vm.resolveFault(0x5000_0000, access: .write, userMode: false) == .accessViolation)
  }
}
