import GuestABI
import Testing

@testable import GuestMm

@Suite("Faults on section views, decided from the prototype PTE")
struct PrototypeFaultTests {
  /// The subsection PTE of a file page still in its file.
  static let inFile = SoftwarePTE.prototype(address: 0xFFFF_8800_0001_0800, protection: 4, viaVAD: false).raw

  /// A section of `pages` pages whose prototype PTEs are `entries` (index: raw
  /// PTE), the rest still in the file (file backed) or demand zero.
  func decide(
    _ page: UInt64, pages: UInt64 = 40, fileBacked: Bool = true, validDataLength: UInt64 = 40 << 12,
    access: MemoryAccess = .read, protection: UInt8 = PageProtection.readWrite, _ entries: [UInt64: UInt64] = [:]
  ) -> PrototypeFaultDecision {
    PrototypeFault.decide(
      page: page, access: access, protection: protection, sectionPages: pages, fileBacked: fileBacked,
      validDataLength: validDataLength
    ) { entries[$0] ?? (fileBacked ? Self.inFile : SoftwarePTE.demandZero(protection: 4).raw) }
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

  @Test("page-file-backed pages never touched are zero; protections and the section's end are enforced")
  func otherPaths() {
    #expect(decide(5, fileBacked: false) == .zeroPage)
    #expect(decide(5, fileBacked: false, [5: 0]) == .accessViolation, "a SEC_RESERVE page not committed")
    #expect(decide(5, [5: 0]) == .accessViolation)
    #expect(decide(5, access: .write, protection: PageProtection.readOnly) == .accessViolation)
    #expect(decide(5, access: .execute, protection: PageProtection.readWrite) == .accessViolation)
    #expect(decide(40) == .beyondSection)
    #expect(decide(5, fileBacked: false, [5: Self.inFile]) == .accessViolation, "no file behind a page-file section")
  }

  @Test("the cluster stops at a page that is neither in the file nor in memory (not committed)")
  func clusterStopsAtOtherFormats() {
    let zero = SoftwarePTE.demandZero(protection: 4).raw
    #expect(decide(5, [3: zero, 8: 0]) == .readFile(firstPage: 4, pageCount: 4, validBytes: 4 << 12))
  }
}
