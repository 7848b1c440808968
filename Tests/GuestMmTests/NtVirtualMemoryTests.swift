import GuestABI
import GuestMm
import Testing

// NtFreeVirtualMemory, NtProtectVirtualMemory, NtQueryVirtualMemory and the
// PAGE_* conversion with raw arguments. Expected values come from the facts the
// layer cites (WRK freevm.c, ReactOS virtual.c and section.c, Wine's tests run
// on Windows, phnt's information classes), not from running the code.

extension Harness {
  /// NtFreeVirtualMemory, the status only, for `expectRefused`.
  func free(_ base: UInt64, _ size: UInt64, _ type: UInt32) -> Status {
    let result = vm.ntFreeVirtualMemory(baseAddress: base, regionSize: size, freeType: type)
    #expect(result.status.isSuccess || (result.baseAddress == 0 && result.regionSize == 0))
    return result.status
  }

  /// NtProtectVirtualMemory, the status only, for `expectRefused`.
  func protect(_ base: UInt64, _ size: UInt64, _ protect: UInt32) -> Status {
    let result = vm.ntProtectVirtualMemory(baseAddress: base, regionSize: size, newProtect: protect)
    #expect(result.status.isSuccess || (result.baseAddress == 0 && result.oldProtect == 0))
    return result.status
  }

  func info(_ address: UInt64) -> NtMemoryBasicInformation {
    vm.ntQueryVirtualMemory(baseAddress: address, informationClass: 0).info
  }
}

/// 64 KiB at 0x5000_0000 reserved and committed read-write, page 1 touched.
private func committedRegion(records: Int = 100) -> Harness {
  let harness = Harness(records: records)
  #expect(harness.allocate(0x5000_0000, 0, 0x1_0000, memReserve | memCommit, pageReadWrite) == .success)
  #expect(harness.vm.resolveFault(0x5000_1000, access: .write, userMode: true) == .resolved(.demandZero))
  return harness
}

/// A mapped view's VAD (no section behind it: the calls must refuse before touching it).
private func addMappedView(_ harness: Harness) {
  let view = VadEntry(startPage: 0x7000_0, endPage: 0x7000_F, protection: readOnly, type: .mapped)
  #expect(harness.vm.vads.insert(view, at: harness.vm.vads.firstIndex(startingAfter: 0x7000_0)))
}

@Suite struct NtFreeTests {
  static let refusals: [(UInt64, UInt64, UInt32, Status)] = [
    (0x5000_0000, 0, 0, .invalidParameter4),  // neither flag
    (0x5000_0000, 0, memDecommit | memRelease, .invalidParameter4),  // both
    (0x5000_0000, 0, memRelease | 0x1, .invalidParameter4),  // another bit
    (0x5000_0000, 0, memCommit, .invalidParameter4),
    (0xFFFF_8000_0000_0000, 0, 0, .invalidParameter4),  // FreeType is checked first
    (0x7FFF_FFFF_0000, 0, memRelease, .invalidParameter2),  // above MM_HIGHEST_USER_ADDRESS
    (0xFFFF_8000_0000_0000, 0, memDecommit, .invalidParameter2),
    (0x7FFF_FFFE_F000, 0x1000, memDecommit, .invalidParameter3),  // 0xFFF left below the top
    (0x5000_0000, UInt64.max, memRelease, .invalidParameter3),
    (0x6000_0000, 0, memRelease, .memoryNotAllocated),
    (0x4FFF_F000, 0x2000, memDecommit, .memoryNotAllocated),  // the base's page has no VAD
    (0x5000_F000, 0x2000, memRelease, .unableToFreeVm),  // past the VAD's end
    (0x5000_F000, 0x1001, memDecommit, .unableToFreeVm),
    (0x5000_1001, 0, memRelease, .freeVmNotAtBase),  // Wine: size 0 away from the base
    (0x5000_1001, 0, memDecommit, .freeVmNotAtBase),  // the same for a decommit
    (0x7000_0000, 0, memRelease, .unableToDeleteSection),  // a mapped view
    (0x7000_1000, 0, memDecommit, .unableToDeleteSection),  // before the not-at-base check
  ]

  @Test(arguments: refusals)
  func refused(base: UInt64, size: UInt64, type: UInt32, expected: Status) {
    let harness = committedRegion()
    addMappedView(harness)
    harness.expectRefused(expected) { $0.free(base, size, type) }
  }

  @Test func splittingWithAFullTableIsInsufficientResources() {
    let harness = committedRegion(records: 1)
    harness.expectRefused(.insufficientResources) { $0.free(0x5000_4000, 0x2000, memRelease) }
    #expect(harness.free(0x5000_0000, 0x2000, memRelease) == .success, "shrinking needs no record")
  }

  // (base, size, type) -> (base, size), each on a fresh region.
  static let successes: [(UInt64, UInt64, UInt32, UInt64, UInt64)] = [
    (0x5000_1FFF, 2, memDecommit, 0x5000_1000, 0x2000),  // Wine: both pages the bytes touch
    (0x5000_0FFE, 0, memDecommit, 0x5000_0000, 0),  // Wine: whole VAD, size 0 reported since 10 1709
    (0x5000_0FFF, 0, memRelease, 0x5000_0000, 0x1_0000),  // Wine: the base's page is the VAD's start
    (0x5000_0010, 0xFFF0, memRelease, 0x5000_0000, 0x1_0000),  // a sized release of all of it
    (0x5000_4000, 0x2000, memRelease, 0x5000_4000, 0x2000),  // the middle: the VAD splits
    (0x5000_E000, 0x2000, memDecommit, 0x5000_E000, 0x2000),
  ]

  @Test(arguments: successes)
  func freed(base: UInt64, size: UInt64, type: UInt32, expectedBase: UInt64, expectedSize: UInt64) {
    let harness = committedRegion()
    let result = harness.vm.ntFreeVirtualMemory(baseAddress: base, regionSize: size, freeType: type)
    #expect(result.status == .success)
    #expect(result.baseAddress == expectedBase)
    #expect(result.regionSize == expectedSize)
    #expect(harness.backend.accountingProblems() == [])
  }

  @Test func releaseShapesTheVads() {
    let harness = committedRegion()
    #expect(harness.free(0x5000_4000, 0x2000, memRelease) == .success)
    #expect(harness.vads.map { [$0.startPage, $0.endPage] } == [[0x5000_0, 0x5000_3], [0x5000_6, 0x5000_F]])
    #expect(harness.info(0x5000_4000).state == .free)
    #expect(harness.free(0x5000_6000, 0, memRelease) == .success)
    #expect(harness.free(0x5000_0000, 0, memRelease) == .success)
    #expect(harness.vads.isEmpty)
    #expect(harness.backend.ptes.isEmpty, "the touched page went with its VAD")
  }

  @Test func decommitOverAPartlyDecommittedRangeSucceeds() {
    let harness = committedRegion()
    #expect(harness.free(0x5000_2000, 0x2000, memDecommit) == .success)
    #expect(harness.free(0x5000_1000, 0x4000, memDecommit) == .success)
    #expect(harness.info(0x5000_1000).state == .reserve)
    #expect(harness.info(0x5000_1000).regionSize == 0x4000)
    #expect(harness.free(0x5000_0000, 0, memDecommit) == .success, "size 0 from the base: the whole VAD")
    #expect(harness.info(0x5000_0000).regionSize == 0x1_0000)
    #expect(harness.info(0x5000_0000).state == .reserve)
  }
}

@Suite struct NtProtectTests {
  static let refusals: [(UInt64, UInt64, UInt32, Status)] = [
    (0x5000_0000, 0x1000, 0, .invalidPageProtection),
    (0x5000_0000, 0x1000, pageNoAccess | pageGuard, .invalidPageProtection),
    (0x5000_0000, 0x1000, 0x800 | pageReadOnly, .invalidPageProtection),
    (0xFFFF_8000_0000_0000, 0, 0, .invalidPageProtection),  // the protection is checked first
    (0x7FFF_FFFF_0000, 0x1000, pageReadOnly, .invalidParameter2),
    (0xFFFF_8000_0000_0000, 0, pageReadOnly, .invalidParameter2),
    (0x5000_0000, 0, pageReadOnly, .invalidParameter3),  // size 0
    (0x7FFF_FFFE_F000, 0x1001, pageReadOnly, .invalidParameter3),  // past MM_USER_PROBE_ADDRESS
    (0x6000_0000, 0x1000, pageReadOnly, .conflictingAddresses),  // no VAD
    (0x5000_F000, 0x2000, pageReadOnly, .conflictingAddresses),  // past the VAD's end
    (0x5000_0000, 0x1000, pageWriteCopy, .invalidParameter4),  // ReactOS: write-copy, private memory
    (0x5000_0000, 0x1000, pageExecuteWriteCopy, .invalidParameter4),
    (0x5000_3000, 0x2000, pageReadOnly, .notCommitted),  // page 4 is reserved only
    (0x5000_8000, 0x1000, pageReadOnly, .notCommitted),
    (0x7000_0000, 0x1000, pageReadOnly, .notImplemented),  // a mapped view
  ]

  @Test(arguments: refusals)
  func refused(base: UInt64, size: UInt64, protect: UInt32, expected: Status) {
    let harness = Harness()
    #expect(harness.allocate(0x5000_0000, 0, 0x1_0000, memReserve, pageNoAccess) == .success)
    #expect(harness.allocate(0x5000_0000, 0, 0x4000, memCommit, pageReadWrite) == .success)
    addMappedView(harness)
    harness.expectRefused(expected) { $0.protect(base, size, protect) }
  }

  @Test func protectRoundsAndReportsTheFirstPagesOldProtection() {
    let harness = Harness()
    #expect(harness.allocate(0x5000_0000, 0, 0x1_0000, memReserve, pageNoAccess) == .success)
    #expect(harness.allocate(0x5000_0000, 0, 0x4000, memCommit, pageReadWrite) == .success)
    let first = harness.vm.ntProtectVirtualMemory(
      baseAddress: 0x5000_0800, regionSize: 0x1000, newProtect: pageReadOnly)
    #expect(first.status == .success)
    #expect(first.baseAddress == 0x5000_0000)
    #expect(first.regionSize == 0x2000)
    #expect(first.oldProtect == pageReadWrite)
    let steps: [(UInt32, UInt32)] = [
      (pageExecuteRead, pageReadOnly), (pageReadWrite | pageGuard, pageExecuteRead),
      (pageReadWrite | pageNoCache, pageReadWrite | pageGuard), (pageNoAccess, pageReadWrite | pageNoCache),
      (pageReadWrite | pageWriteCombine, pageNoAccess), (pageReadOnly, pageReadWrite | pageWriteCombine),
    ]
    for (new, old) in steps {
      let result = harness.vm.ntProtectVirtualMemory(baseAddress: 0x5000_0000, regionSize: 1, newProtect: new)
      #expect(result.oldProtect == old)
      #expect(harness.info(0x5000_0000).protect.rawValue == new)
    }
  }
}

@Suite struct NtQueryTests {
  @Test func freeMemoryRunsToTheNextVadOrTheTopOfTheVadArea() {
    let harness = Harness()
    let empty = harness.info(0x5000_0123)
    #expect(empty.baseAddress == 0x5000_0000)
    #expect(empty.regionSize == highestVad + 1 - 0x5000_0000)
    #expect(empty.state == .free)
    #expect(empty.protect == .noAccess)
    #expect(empty.allocationBase == 0)
    #expect(empty.allocationProtect == [])
    #expect(empty.type == .none)
    #expect(harness.allocate(0x5000_0000, 0, 0x1_0000, memReserve, pageReadWrite) == .success)
    #expect(harness.info(0x4000_0000).regionSize == 0x1000_0000)
  }

  @Test func reservedCommittedAndGuardRuns() {
    let harness = Harness()
    #expect(harness.allocate(0x5000_0000, 0, 0x1_0000, memReserve, pageReadWrite) == .success)
    #expect(harness.allocate(0x5000_0000, 0, 0x2000, memCommit, pageReadOnly) == .success)
    #expect(harness.allocate(0x5000_2000, 0, 0x1000, memCommit, pageReadWrite | pageGuard) == .success)
    let expected: [(UInt64, UInt64, MemoryRegionState, UInt32)] = [
      (0x5000_0000, 0x2000, .commit, pageReadOnly), (0x5000_2000, 0x1000, .commit, pageReadWrite | pageGuard),
      (0x5000_3000, 0xD000, .reserve, 0), (0x5000_8FFF, 0x8000, .reserve, 0),
    ]
    for (address, size, state, protect) in expected {
      let info = harness.info(address)
      #expect(info.baseAddress == address & ~0xFFF)
      #expect(info.allocationBase == 0x5000_0000)
      #expect(info.allocationProtect == .readWrite)
      #expect(info.regionSize == size)
      #expect(info.state == state)
      #expect(info.protect.rawValue == protect)
      #expect(info.type == .private)
    }
    #expect(harness.vm.resolveFault(0x5000_2000, access: .read, userMode: true) == .guardPage)
    #expect(harness.info(0x5000_2000).protect == .readWrite, "the guard fired once and went")
  }

  @Test func theTop64KiBIsReportedReserved() {
    let info = Harness().info(0x7FFF_FFFE_8000)
    let expected = NtMemoryBasicInformation(
      baseAddress: 0x7FFF_FFFE_8000, allocationBase: 0x7FFF_FFFE_0000, allocationProtect: .readOnly,
      regionSize: 0x8000, state: .reserve, protect: .noAccess, type: .private)
    #expect(info == expected)
  }

  static let refusals: [(UInt64, UInt32, Status)] = [
    (0x7FFF_FFFF_0000, 0, .invalidParameter),  // beyond the user half
    (0xFFFF_8000_0000_0000, 0, .invalidParameter),
    (0xFFFF_8000_0000_0000, 99, .invalidParameter),  // the address is checked first
    (0x5000_0000, 1, .notImplemented),  // MemoryWorkingSetInformation
    (0x5000_0000, 2, .notImplemented),  // MemoryMappedFilenameInformation
    (0x5000_0000, 14, .notImplemented),  // MemoryImageExtensionInformation
    (0x5000_0000, 15, .invalidInfoClass),
    (0x5000_0000, 99, .invalidInfoClass),
  ]

  @Test(arguments: refusals)
  func refused(address: UInt64, informationClass: UInt32, expected: Status) {
    let harness = Harness()
    #expect(harness.allocate(0x5000_0000, 0, 0x1_0000, memReserve | memCommit, pageReadWrite) == .success)
    harness.expectRefused(expected) {
      let result = $0.vm.ntQueryVirtualMemory(baseAddress: address, informationClass: informationClass)
      #expect(result.info == .empty)
      return result.status
    }
  }
}

@Suite struct NtProtectionTests {
  // PAGE_* -> code (MiMakeProtectionMask; nil is MM_INVALID_PROTECTION).
  static let toCode: [(UInt32, UInt8?)] = [
    (pageNoAccess, 0x18), (pageReadOnly, 1), (pageReadWrite, 4), (pageWriteCopy, 5), (0x10, 2), (0x20, 3),
    (0x40, 6), (0x80, 7), (pageReadOnly | pageGuard, 0x11), (pageReadWrite | pageNoCache, 0x0C),
    (pageExecuteRead | pageWriteCombine, 0x1B), (0, nil), (0x03, nil), (0x0C, nil), (0x30, nil), (0x12, nil),
    (pageGuard, nil), (pageNoAccess | pageGuard, nil), (pageReadOnly | pageGuard | pageNoCache, nil),
    (pageReadOnly | pageNoCache | pageWriteCombine, nil), (pageNoAccess | pageNoCache, nil),
    (pageNoAccess | pageWriteCombine, nil), (0x800 | pageReadOnly, nil), (0x1_0000 | pageReadOnly, nil),
  ]

  @Test(arguments: toCode)
  func code(protect: UInt32, expected: UInt8?) {
    #expect(NtProtection.code(fromWin32: protect) == expected)
  }

  // code -> PAGE_* (MmProtectToValue): a zero access is PAGE_NOACCESS with any modifier.
  static let toWin32: [(UInt8, UInt32)] = [
    (0, pageNoAccess), (0x08, pageNoAccess), (0x10, pageNoAccess), (0x18, pageNoAccess), (1, pageReadOnly),
    (2, 0x10), (3, 0x20), (4, pageReadWrite), (5, pageWriteCopy), (6, 0x40), (7, 0x80),
    (0x14, pageReadWrite | pageGuard), (0x09, pageReadOnly | pageNoCache), (0x1E, 0x40 | pageWriteCombine),
  ]

  @Test(arguments: toWin32)
  func win32(code: UInt8, expected: UInt32) {
    #expect(NtProtection.win32(fromCode: code).rawValue == expected)
  }
}
