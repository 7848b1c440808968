import GuestABI
import Testing

@testable import GuestMm

/// The section calls' argument checks against what Windows answers, case by
/// case from ReactOS's tests run on Windows (rostests/apitests/ntdll/
/// NtMapViewOfSection.c, rostests/kmtests/ntos_mm/ZwMapViewOfSection.c).
@Suite("NtCreateSection and NtMapViewOfSection: Windows' statuses")
struct SectionRulesTests {
  static let readWrite = Win32Protection.readWrite.rawValue
  static let commit = SectionAttributes.commit.rawValue
  static let reserve = SectionAttributes.reserve.rawValue

  func create(
    _ size: UInt64, protect: UInt32 = readWrite, attributes: UInt32 = commit, backing: SectionBacking = .pageFile
  ) -> Result<SectionPlan, Status> {
    SectionRules.create(
      maximumSize: size, protect: protect, attributes: attributes, backing: backing, commitLimitPages: 1 << 20,
      prototypeLimitPages: 1 << 28)
  }

  func status(_ result: Result<SectionPlan, Status>) -> Status? {
    if case .failure(let status) = result { return status }
    return nil
  }

  @Test(
    "page-file sections: sizes, protections and attributes",
    arguments: [
      (0x2_0000, readWrite, commit, nil),
      (0x80_0000_0000, readWrite, commit, Status.commitmentLimit),  // 512 GiB committed
      (0x80_0000_0000, Win32Protection.noAccess.rawValue, commit, .invalidPageProtection),
      (0x800_0000_0000, readWrite, reserve, .insufficientResources),  // 8 TiB reserved
      (0x8000_0000_0000, readWrite, reserve, .sectionTooBig),  // 128 TiB
      (0x2_0000_0000, readWrite, reserve, nil),  // 8 GiB reserved
      (0, readWrite, commit, .invalidParameter4),
      (0x1_0000, readWrite, commit | reserve, .invalidParameter6),
      (0x1_0000, readWrite, 0, .invalidParameter6),
      (0x1_0000, readWrite, commit | 0x1, .invalidParameter6),
      (0x1_0000, readWrite | Win32Protection.guardPage.rawValue, commit, .invalidPageProtection),
      (0x1_0000, readWrite | Win32Protection.readOnly.rawValue, commit, .invalidPageProtection),
    ] as [(UInt64, UInt32, UInt32, Status?)])
  func pageFileSections(size: UInt64, protect: UInt32, attributes: UInt32, expected: Status?) {
    #expect(status(create(size, protect: protect, attributes: attributes)) == expected)
  }

  @Test("data sections: the file's size by default, an empty file refused, growth only when writable")
  func dataSections() throws {
    let file = SectionBacking.file(size: 10_000, writable: true)
    #expect(try create(0, backing: file).get().size == 10_000)
    #expect(status(create(0, backing: .file(size: 0, writable: true))) == .mappedFileSizeZero)
    #expect(try create(50_000, backing: file).get().extendsFile)
    let readOnly = Win32Protection.readOnly.rawValue
    #expect(status(create(50_000, protect: readOnly, backing: file)) == .sectionTooBig)
    #expect(status(create(0, backing: .file(size: 10_000, writable: false))) == .accessDenied)
    let copy = Win32Protection.writeCopy.rawValue
    #expect(try create(0, protect: copy, backing: .file(size: 10_000, writable: false)).get().size == 10_000)
  }

  // MARK: Views

  static let pageFile = SectionSummary(size: 0x2_0000, protection: PageProtection.readWrite, pageFileBacked: true)
  static let dataFile = SectionSummary(size: 0x3000, protection: PageProtection.readWrite, pageFileBacked: false)
  static let readOnlyFile = SectionSummary(size: 0x3000, protection: PageProtection.readOnly, pageFileBacked: false)

  func map(
    _ section: SectionSummary, base: UInt64 = 0, zeroBits: UInt64 = 0, commit: UInt64 = 0, offset: UInt64 = 0,
    size: UInt64 = 0, inherit: UInt32 = 2, type: UInt32 = 0, protect: UInt32 = readWrite
  ) -> Status? {
    let result = SectionRules.mapView(
      section, baseAddress: base, zeroBits: zeroBits, commitSize: commit, sectionOffset: offset, viewSize: size,
      inheritDisposition: inherit, allocationType: type, protect: protect)
    if case .failure(let status) = result { return status }
    return nil
  }

  @Test("bases, offsets, sizes and commit sizes")
  func placement() {
    #expect(map(Self.pageFile, base: 0x3000_1000, size: 0x1000) == .mappedAlignment)
    #expect(map(Self.pageFile, base: 0x3000_0000, size: 0x2000) == nil)
    #expect(map(Self.pageFile, base: 0xFFFF_8000_0000_00C8) == .invalidParameter3)
    #expect(map(Self.pageFile, size: UInt64.max) == .invalidParameter3)
    #expect(map(Self.pageFile, commit: 500, offset: 0x4_0211) == .mappedAlignment)
    #expect(map(Self.pageFile, offset: UInt64.max) == .mappedAlignment)
    #expect(map(Self.pageFile, offset: 0x1_0000, size: 0x1000) == nil)
    #expect(map(Self.pageFile, commit: 500) == nil)
    #expect(map(Self.pageFile, commit: UInt64.max) == .invalidParameter5)
    #expect(map(Self.pageFile, commit: 0x100_0000) == .invalidParameter5)
    #expect(map(Self.dataFile, commit: 500) == .invalidParameter5)
    #expect(map(Self.dataFile, commit: 500, type: MemoryAllocationType.reserve.rawValue) == nil)
    #expect(map(Self.dataFile, size: 0x3001) == .invalidViewSize)
    #expect(map(Self.dataFile, size: 0x3001, type: MemoryAllocationType.reserve.rawValue) == nil)
    #expect(map(Self.dataFile, offset: 0x1_0000) == .invalidViewSize)
    for bits: UInt64 in [1, 5, 20, 21] { #expect(map(Self.dataFile, zeroBits: bits) == nil) }
    for bits: UInt64 in [22, UInt64.max] { #expect(map(Self.dataFile, zeroBits: bits) == .invalidParameter4) }
  }

  @Test("the whole section from the offset when ViewSize is 0, in whole pages")
  func sizes() throws {
    let big = SectionSummary(size: 0x2_0000_0000, protection: PageProtection.readWrite, pageFileBacked: true)
    let whole = try SectionRules.mapView(
      big, baseAddress: 0, zeroBits: 0, commitSize: 0, sectionOffset: 0, viewSize: 0, inheritDisposition: 1,
      allocationType: 0, protect: Self.readWrite
    ).get()
    #expect(whole.size == 0x2_0000_0000)
    let rounded = try SectionRules.mapView(
      Self.dataFile, baseAddress: 0, zeroBits: 0, commitSize: 0, sectionOffset: 0, viewSize: 0x2FFF,
      inheritDisposition: 1, allocationType: 0, protect: Self.readWrite
    ).get()
    #expect(rounded.size == 0x3000)
  }

  @Test("allocation types and inherit dispositions")
  func types() {
    #expect(
      map(Self.pageFile, commit: 0x1000, size: 0x2000, type: MemoryAllocationType.commit.rawValue) == .invalidParameter9
    )
    #expect(map(Self.pageFile, type: MemoryAllocationType.reserve.rawValue) == .invalidParameter9)
    let reserveCommit = MemoryAllocationType([.reserve, .commit]).rawValue
    #expect(map(Self.dataFile, type: reserveCommit) == .invalidParameter9)
    #expect(map(Self.dataFile, type: MemoryAllocationType([.largePages, .reserve]).rawValue) == nil)
    #expect(map(Self.dataFile, inherit: 0) == .invalidParameter8)
    #expect(map(Self.dataFile, inherit: 3) == .invalidParameter8)
  }

  @Test("a view's protection must fit the section's")
  func protections() {
    typealias W = Win32Protection
    #expect(
      map(Self.pageFile, base: 0x3000_0000, size: 0x1000, protect: W.executeReadWrite.rawValue) == .sectionProtection)
    #expect(map(Self.dataFile, protect: W.readOnly.rawValue) == nil)
    #expect(map(Self.dataFile, protect: W.noAccess.rawValue) == nil)
    #expect(map(Self.dataFile, protect: W.executeWriteCopy.rawValue) == .sectionProtection)
    let readOnly: [(UInt32, Status?)] = [
      (W.readWrite.rawValue, .sectionProtection), (W.writeCopy.rawValue, nil),
      (W.executeRead.rawValue, .sectionProtection),
      (W.execute.rawValue, .sectionProtection), (W.readOnly.rawValue, nil), (W.noAccess.rawValue, nil),
      (W.readWrite.rawValue | W.readOnly.rawValue, .invalidPageProtection),
    ]
    for (protect, expected) in readOnly { #expect(map(Self.readOnlyFile, protect: protect) == expected, "\(protect)") }
    #expect(
      map(Self.readOnlyFile, type: MemoryAllocationType.reserve.rawValue, protect: W.readOnly.rawValue)
        == .sectionProtection)
  }
}
