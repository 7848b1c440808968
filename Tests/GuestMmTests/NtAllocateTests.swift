import GuestABI
import GuestMm
import Testing

// NtAllocateVirtualMemory with raw arguments. Every expected value comes from
// the facts the layer cites (WRK allocvm.c, ReactOS virtual.c, Wine's tests
// run on Windows, the VirtualAlloc documentation), not from running the code.

let memCommit = MemoryAllocationType.commit.rawValue
let memReserve = MemoryAllocationType.reserve.rawValue
let memDecommit = MemoryAllocationType.decommit.rawValue
let memRelease = MemoryAllocationType.release.rawValue
let memReset = MemoryAllocationType.reset.rawValue
let memResetUndo = MemoryAllocationType.resetUndo.rawValue
let memTopDown = MemoryAllocationType.topDown.rawValue
let memWriteWatch = MemoryAllocationType.writeWatch.rawValue
let memPhysical = MemoryAllocationType.physical.rawValue
let memLargePages = MemoryAllocationType.largePages.rawValue
let pageNoAccess = Win32Protection.noAccess.rawValue
let pageReadOnly = Win32Protection.readOnly.rawValue
let pageReadWrite = Win32Protection.readWrite.rawValue
let pageWriteCopy = Win32Protection.writeCopy.rawValue
let pageExecuteRead = Win32Protection.executeRead.rawValue
let pageExecuteWriteCopy = Win32Protection.executeWriteCopy.rawValue
let pageGuard = Win32Protection.guardPage.rawValue
let pageNoCache = Win32Protection.noCache.rawValue
let pageWriteCombine = Win32Protection.writeCombine.rawValue
/// MM_HIGHEST_VAD_ADDRESS on x64 with this user half: 0x7FFF_FFFE_FFFF less 64 KiB.
let highestVad: UInt64 = 0x7FFF_FFFD_FFFF

extension Harness {
  /// NtAllocateVirtualMemory, the status only, for `expectRefused`.
  func allocate(_ base: UInt64, _ zeroBits: UInt64, _ size: UInt64, _ type: UInt32, _ protect: UInt32) -> Status {
    let result = vm.ntAllocateVirtualMemory(
      baseAddress: base, zeroBits: zeroBits, regionSize: size, allocationType: type, protect: protect)
    #expect(result.status.isSuccess || (result.baseAddress == 0 && result.regionSize == 0), "out parameters on failure")
    return result.status
  }
}

@Suite struct NtAllocateRefusalTests {
  // (base, zeroBits, size, type, protect, status), in the order the checks run.
  static let rows: [(UInt64, UInt64, UInt64, UInt32, UInt32, Status)] = [
    (0, 22, 0x1000, memReserve, pageReadWrite, .invalidParameter3),  // Wine: 22 zero bits is invalid
    (0, 31, 0x1000, memReserve, pageReadWrite, .invalidParameter3),
    (0, 0x20, 0x1000, memReserve, pageReadWrite, .invalidParameter3),  // mask: 58 leading zeros > 53
    (0, 0x3FF, 0x1000, memReserve, pageReadWrite, .invalidParameter3),  // 54 > 53
    (0, 22, 0, 0, 0, .invalidParameter3),  // ZeroBits is checked first
    (0, 0, 0x1000, 0, pageReadWrite, .invalidParameter5),  // none of COMMIT, RESERVE, RESET
    (0, 0, 0x1000, memTopDown, pageReadWrite, .invalidParameter5),
    (0, 0, 0x1000, memCommit | 0x1, pageReadWrite, .invalidParameter5),  // unknown bit
    (0, 0, 0x1000, memCommit | memDecommit, pageReadWrite, .invalidParameter5),  // a FreeType flag
    (0, 0, 0x1000, memReserve | memRelease, pageReadWrite, .invalidParameter5),
    (0, 0, 0x1000, memReset | memCommit, pageReadWrite, .invalidParameter5),  // MEM_RESET alone only
    (0, 0, 0x1000, memReset | memTopDown, pageReadWrite, .invalidParameter5),
    (0, 0, 0x1000, memLargePages | memReserve, pageReadWrite, .invalidParameter5),  // needs MEM_COMMIT
    (0, 0, 0x1000, memLargePages | memCommit | memWriteWatch, pageReadWrite, .invalidParameter5),
    (0, 0, 0x1000, memWriteWatch | memCommit, pageReadWrite, .invalidParameter5),  // needs MEM_RESERVE
    (0, 0, 0x1000, memWriteWatch | memReserve | memPhysical, pageReadWrite, .invalidParameter5),
    (0, 0, 0x1000, memPhysical | memCommit, pageReadWrite, .invalidParameter5),  // needs MEM_RESERVE
    (0, 0, 0x1000, memPhysical | memReserve | memCommit, pageReadWrite, .invalidParameter5),
    (0, 0, 0x1000, memResetUndo | memCommit, pageReadWrite, .invalidParameter5),
    (0, 0, 0x1000, memPhysical | memReserve, pageReadOnly, .invalidParameter6),  // PAGE_READWRITE only
    (0, 0, 0x1000, 0, 0, .invalidParameter5),  // AllocationType before Protect
    (0, 0, 0x1000, memReserve, 0, .invalidPageProtection),
    (0, 0, 0x1000, memReserve, 0x03, .invalidPageProtection),  // two access values
    (0, 0, 0x1000, memReserve, 0x11, .invalidPageProtection),  // one from each nibble
    (0, 0, 0x1000, memReserve, pageNoAccess | pageGuard, .invalidPageProtection),
    (0, 0, 0x1000, memReserve, pageReadWrite | pageGuard | pageNoCache, .invalidPageProtection),
    (0, 0, 0x1000, memReserve, pageReadWrite | pageGuard | pageWriteCombine, .invalidPageProtection),
    (0, 0, 0x1000, memReserve, pageReadWrite | pageNoCache | pageWriteCombine, .invalidPageProtection),
    (0, 0, 0x1000, memReserve, pageNoAccess | pageNoCache, .invalidPageProtection),
    (0, 0, 0x1000, memReserve, pageNoAccess | pageWriteCombine, .invalidPageProtection),
    (0, 0, 0x1000, memReserve, 0x800 | pageReadWrite, .invalidPageProtection),  // past PAGE_WRITECOMBINE * 2
    (0xFFFF_8000_0000_0000, 0, 0, memReserve, 0, .invalidPageProtection),  // Protect before the base
    (highestVad + 1, 0, 0x1000, memReserve, pageReadWrite, .invalidParameter2),
    (0xFFFF_8000_0000_0000, 0, 0, memReserve, pageReadWrite, .invalidParameter2),  // base before size
    (0x7FFF_FFFD_0000, 0, 0x1_0001, memReserve, pageReadWrite, .invalidParameter4),  // past the VAD area
    (0, 0, highestVad + 2, memReserve, pageReadWrite, .invalidParameter4),
    (0, 0, UInt64.max, memCommit, pageReadWrite, .invalidParameter4),
    (0x5000_0000, 0, 0, memCommit, pageReadWrite, .invalidParameter4),
    (0x5000_0000, 0, 0x1000, memReset, pageReadWrite, .notImplemented),
    (0x5000_0000, 0, 0x1000, memResetUndo, pageNoAccess, .notImplemented),
    (0, 0, 0x20_0000, memLargePages | memCommit | memReserve, pageReadWrite, .notImplemented),
    (0, 0, 0x1000, memPhysical | memReserve | memTopDown, pageReadWrite, .notImplemented),
    (0, 0, 0x1000, memWriteWatch | memReserve, pageReadWrite, .notImplemented),
    (0, 0, 0x1000, memReserve, pageWriteCopy, .invalidPageProtection),  // not for private memory
    (0x6000_0000, 0, 0x1000, memReserve | memCommit, pageExecuteWriteCopy, .invalidPageProtection),
    (0x5000_0000, 0, 0x1000, memCommit, pageWriteCopy, .invalidPageProtection),  // commit path, VAD found
    (0x6000_0000, 0, 0x1000, memCommit, pageWriteCopy, .conflictingAddresses),  // no VAD comes first
    (0x6000_0000, 0, 0x1000, memCommit, pageReadWrite, .conflictingAddresses),  // nothing reserved there
    (0x5000_F000, 0, 0x2000, memCommit, pageReadWrite, .conflictingAddresses),  // runs past the VAD
    (0x4FFF_F000, 0, 0x2000, memCommit, pageReadWrite, .conflictingAddresses),  // starts before it
    (0x5000_1000, 0, 0x1000, memReserve | memCommit, pageReadWrite, .conflictingAddresses),  // Wine: 64K align
    (0x5000_8000, 12, 0x1000, memReserve, pageReadWrite, .conflictingAddresses),  // ZeroBits ignored
    (0x4FFF_0000, 0, 0x1_0001, memReserve, pageReadWrite, .conflictingAddresses),
    (0x1000, 0, 0x1000, memReserve, pageReadWrite, .invalidParameter2),  // rounds into the first 64 KiB
    (0, 21, 0x1000, memReserve | memCommit, pageReadWrite, .noMemory),  // Wine: 21 zero bits never fits
    (0, 16, 0x1000, memReserve | memTopDown, pageReadWrite, .noMemory),  // below 0x1_0000: nothing
  ]

  @Test(arguments: rows)
  func refused(base: UInt64, zeroBits: UInt64, size: UInt64, type: UInt32, protect: UInt32, expected: Status) {
    let harness = Harness()
    #expect(harness.allocate(0x5000_0000, 0, 0x1_0000, memReserve, pageReadWrite) == .success)
    harness.expectRefused(expected) { $0.allocate(base, zeroBits, size, type, protect) }
  }

  @Test func aFullVadTableIsInsufficientResources() {
    let harness = Harness(records: 1)
    #expect(harness.allocate(0x5000_0000, 0, 0x1_0000, memReserve, pageReadWrite) == .success)
    harness.expectRefused(.insufficientResources) { $0.allocate(0, 0, 0x1000, memReserve, pageReadWrite) }
    // WRK allocates the VAD before it looks for overlap.
    harness.expectRefused(.insufficientResources) { $0.allocate(0x5000_0000, 0, 0x1000, memReserve, pageReadWrite) }
    #expect(harness.allocate(0x5000_0000, 0, 0x1000, memCommit, pageReadWrite) == .success, "a commit needs no VAD")
  }
}

@Suite struct NtAllocatePlacementTests {
  // (base, size, type) -> (base, size): reservations round the base down to 64 KiB
  // and the end up to a page; a chosen base takes the size in whole pages.
  static let rows: [(UInt64, UInt64, UInt32, UInt64, UInt64)] = [
    (0x6000_1234, 0x100, memReserve, 0x6000_0000, 0x2000),
    (0x6000_FFFF, 0x2, memReserve | memCommit, 0x6000_0000, 0x1_1000),
    (0x6001_0000, 0x1_0000, memReserve | memTopDown, 0x6001_0000, 0x1_0000),  // TOP_DOWN: base given, ignored
    (0, 0x1001, memReserve, 0x1_0000, 0x2000),
    (0, 1, memCommit, 0x1_0000, 0x1000),  // MEM_COMMIT at NULL reserves and commits
    (0, 0x1000, memReserve | memTopDown, 0x7FFF_FFFD_0000, 0x1000),  // highest 64 KiB below the VAD area's top
    (0x7FFF_FFFD_FFFF, 1, memReserve, 0x7FFF_FFFD_0000, 0x1_0000),  // the last byte allowed
  ]

  @Test(arguments: rows)
  func placed(base: UInt64, size: UInt64, type: UInt32, expectedBase: UInt64, expectedSize: UInt64) {
    let harness = Harness()
    let result = harness.vm.ntAllocateVirtualMemory(
      baseAddress: base, zeroBits: 0, regionSize: size, allocationType: type, protect: pageReadWrite)
    #expect(result.status == .success)
    #expect(result.baseAddress == expectedBase)
    #expect(result.regionSize == expectedSize)
    let info = harness.vm.ntQueryVirtualMemory(baseAddress: expectedBase, informationClass: 0).info
    #expect(info.allocationBase == expectedBase)
    #expect(info.state == (type & memCommit != 0 ? .commit : .reserve))
  }

  @Test func topDownTakesTheHighestFreeRangeThatFits() {
    let harness = Harness()
    let sizes: [(UInt64, UInt64)] = [
      (0x1000, 0x7FFF_FFFD_0000), (0x2_0000, 0x7FFF_FFFB_0000), (0x1_1000, 0x7FFF_FFF9_0000),
    ]
    for (size, expected) in sizes {
      let result = harness.vm.ntAllocateVirtualMemory(
        baseAddress: 0, zeroBits: 0, regionSize: size, allocationType: memReserve | memTopDown, protect: pageNoAccess)
      #expect(result.baseAddress == expected)
      #expect(result.regionSize == size)
    }
    #expect(harness.allocate(0x7FFF_0000, 0, 0x1000, memReserve, pageNoAccess) == .success)
    let below = harness.vm.ntAllocateVirtualMemory(
      baseAddress: 0, zeroBits: 1, regionSize: 0x2_0000, allocationType: memReserve | memTopDown, protect: pageNoAccess)
    #expect(below.baseAddress == 0x7FFD_0000, "under 2^31, below the VAD at 0x7FFF_0000")
  }

  // (zeroBits, type, base): counts are from bit 31, masks by their leading zeros.
  static let zeroBitRows: [(UInt64, UInt32, UInt64)] = [
    (1, memTopDown, 0x7FFF_0000),  // Wine: address >> 31 == 0
    (12, memTopDown, 0xF_0000),  // below 2^20
    (15, 0, 0x1_0000),  // below 2^17: the lowest range fits
    (0x1AAA_AAAA, memTopDown, 0x1FFF_0000),  // Wine's mask: only its leading zeros matter
    (0xFFFF_FFFF_FFFF_FFFF, 0, 0x1_0000),  // no leading zero: no constraint
    (0x7FFF_FFFF_FFFF, memTopDown, 0x7FFF_FFFD_0000),  // Windows 10: a mask past the VAD area is accepted
  ]

  @Test(arguments: zeroBitRows)
  func zeroBits(zeroBits: UInt64, type: UInt32, expected: UInt64) {
    let harness = Harness()
    let result = harness.vm.ntAllocateVirtualMemory(
      baseAddress: 0, zeroBits: zeroBits, regionSize: 0x1000, allocationType: memReserve | memCommit | type,
      protect: pageReadWrite)
    #expect(result.status == .success)
    #expect(result.baseAddress == expected)
  }
}
