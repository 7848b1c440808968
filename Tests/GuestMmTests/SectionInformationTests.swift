import GuestABI
import Testing

@testable import GuestMm

/// NtQuerySection and NtExtendSection's checks and answers (facts: ReactOS's
/// NtQuerySection API test run on Windows; WRK's NtExtendSection).
@Suite("NtQuerySection and NtExtendSection: Windows' statuses and answers")
struct SectionInformationTests {
  static let readWrite = PageProtection.readWrite
  static let all = SectionAccessMask.allAccess

  func facts(
    size: UInt64, protection: UInt8 = readWrite, pageFile: Bool, reserve: Bool = false, granted: SectionAccessMask = all
  ) -> SectionFacts {
    SectionFacts(
      summary: SectionSummary(size: size, protection: protection, pageFileBacked: pageFile), reserve: reserve,
      granted: granted)
  }

  @Test("a page-file section answers SEC_COMMIT or SEC_RESERVE and its size in whole pages")
  func pageFileQuery() throws {
    let committed = try SectionRules.query(facts(size: 0x1_2345, pageFile: true), informationClass: 0).get()
    #expect(
      committed
        == SectionBasicInformation(allocationAttributes: SectionAttributes.commit.rawValue, maximumSize: 0x1_3000))
    let reserved = try SectionRules.query(facts(size: 0x2_0000, pageFile: true, reserve: true), informationClass: 0)
      .get()
    #expect(reserved.allocationAttributes == SectionAttributes.reserve.rawValue && reserved.maximumSize == 0x2_0000)
  }

  @Test("a data section answers SEC_FILE and its exact size")
  func dataQuery() throws {
    let info = try SectionRules.query(facts(size: 70001, pageFile: false), informationClass: 0).get()
    #expect(info == SectionBasicInformation(allocationAttributes: SectionAttributes.file.rawValue, maximumSize: 70001))
  }

  @Test(
    "refusals in NT's order: the class, then SECTION_QUERY, then image information of a data section",
    arguments: [
      (UInt64(2), SectionAccessMask.allAccess, Status.invalidInfoClass),
      (1 << 32, .allAccess, .invalidInfoClass),
      (2, .mapRead, .invalidInfoClass),
      (0, .mapRead, .accessDenied),
      (1, .mapRead, .accessDenied),
      (1, .query, .sectionNotImage),
    ])
  func queryRefusals(informationClass: UInt64, granted: SectionAccessMask, status: Status) {
    let result = SectionRules.query(
      facts(size: 4096, pageFile: false, granted: granted), informationClass: informationClass)
    #expect(result == .failure(status))
  }

  @Test("a writable data section grows; a size not above it answers the current size and changes nothing")
  func extendDataSection() {
    let section = facts(size: 0x1_0000, pageFile: false)
    #expect(SectionRules.extend(section, newSize: 0x3_0001) == .success(.grow(to: 0x3_0001)))
    #expect(SectionRules.extend(section, newSize: 0x1_0000) == .success(.unchanged(size: 0x1_0000)))
    #expect(SectionRules.extend(section, newSize: 0) == .success(.unchanged(size: 0x1_0000)))
    #expect(SectionRules.extend(section, newSize: SectionLimits.tooBig) == .failure(.sectionTooBig))
  }

  @Test("extend refusals: SECTION_EXTEND_SIZE first, then the page file's or a read-only or write-copy section")
  func extendRefusals() {
    let cases: [(Bool, UInt8, SectionAccessMask, Status)] = [
      (true, PageProtection.readWrite, .mapRead, .accessDenied),
      (false, PageProtection.readWrite, [.query, .mapRead, .mapWrite], .accessDenied),
      (true, PageProtection.readWrite, .allAccess, .sectionNotExtended),
      (false, PageProtection.readOnly, .allAccess, .sectionNotExtended),
      (false, PageProtection.writeCopy, .allAccess, .sectionNotExtended),
    ]
    for (pageFile, protection, granted, status) in cases {
      let section = facts(size: 0x1_0000, protection: protection, pageFile: pageFile, granted: granted)
      #expect(SectionRules.extend(section, newSize: 0x2_0000) == .failure(status), "\(pageFile) \(protection)")
    }
  }
}
