import GuestABI
import Testing

@testable import GuestMm

@Suite("Faults on section views, decided from the prototype PTE")
struct PrototypeFaultTests {
  /// A section of `pages` pages whose prototype PTEs are `entries` (index: raw PTE), the rest zero.
  func decide(
    _ page: UInt64, pages: UInt64 = 40, fileBacked: Bool = true, validDataLength: UInt64 = 40 << 12,
    access: MemoryAccess = .read, protection: UInt8 = PageProtection.readWrite, _ entries: [UInt64: UInt64] = [:]
  ) -> PrototypeFaultDecision {
    PrototypeFault.decide(
      page: page, access: access, protection: protection, sectionPages: pages, fileBacked: fileBacked,
      validDataLength: validDataLength
    ) { entries[$0] ?? 0 }
  }

  @Test("a valid prototype maps the same PFN; a transition one is reclaimed without I/O")
  func inMemory() {
    let valid = (0x1234 << 12) | HardwarePTE.present | HardwarePTE.writable
    #expect(decide(3, [3: valid]) == .shareValid(pfn: 0x1234))
    let transition = SoftwarePTE.transition(pfn: 0x777, protection: PageProtection.readWrite).raw
    #expect(decide(3, [3: transition]) == .reclaim(pfn: 0x777))
    #expect(decide(3, [3: SoftwarePTE.pageFile(file: 0, offset: 9, protection: 4).raw]) == .pageFileRead)
  }

  @Test("a file page is read with its neighbours: the 64 KiB block, cut at pages already in memory")
  func clusters() {
    #expect(decide(5) == .readFile(firstPage: 0, pageCount: 16, validBytes: 16 << 12))
    #expect(decide(17) == .readFile(firstPage: 16, pageCount: 16, validBytes: 16 << 12))
    let valid = (0x99 << 12) | HardwarePTE.present
    #expect(decide(5, [2: valid, 9: valid]) == .readFile(firstPage: 3, pageCount: 6, validBytes: 6 << 12))
    // The section's last block is short: 40 pages end at page 39.
    #expect(decide(35) == .readFile(firstPage: 32, pageCount: 8, validBytes: 8 << 12))
  }

  @Test("bytes past the valid data length are zero-filled, none read past it")
  func validDataLength() {
    #expect(decide(1, validDataLength: 5000) == .readFile(firstPage: 0, pageCount: 16, validBytes: 5000))
    #expect(decide(20, validDataLength: 5000) == .readFile(firstPage: 16, pageCount: 16, validBytes: 0))
  }

  @Test("page-file-backed pages never written are zero; protections and the section's end are enforced")
  func otherPaths() {
    #expect(decide(5, fileBacked: false) == .zeroPage)
    #expect(decide(5, fileBacked: false, [5: SoftwarePTE.demandZero(protection: 4).raw]) == .zeroPage)
    #expect(decide(5, access: .write, protection: PageProtection.readOnly) == .accessViolation)
    #expect(decide(5, access: .execute, protection: PageProtection.readWrite) == .accessViolation)
    #expect(decide(40) == .beyondSection)
    let nested = SoftwarePTE.prototype(address: 0xFFFF_8000_0000_1000, protection: 4, viaVAD: false).raw
    #expect(decide(5, [5: nested]) == .accessViolation)
  }
}
