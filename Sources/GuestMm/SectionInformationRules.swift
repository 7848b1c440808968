#if canImport(GuestABI)
  import GuestABI
#endif

/// SECTION_BASIC_INFORMATION as NtQuerySection returns it.
public struct SectionBasicInformation: Equatable, Sendable {
  /// A based section's base; always 0 here (SEC_BASED sections are not made).
  public var baseAddress: UInt64 = 0
  /// SEC_FILE for a data section; SEC_COMMIT or SEC_RESERVE, as created, for the page file's.
  public var allocationAttributes: UInt32
  /// The section's size: a data section's exactly, a page-file section's rounded up to pages.
  public var maximumSize: UInt64
}

/// What NtExtendSection does once its checks pass.
public enum SectionExtension: Equatable, Sendable {
  /// The section is already at least as large: nothing changes; NewSectionSize is this size.
  case unchanged(size: UInt64)
  /// The section (and its file, where the file is shorter) grows to this size.
  case grow(to: UInt64)
}

/// A section object's state as the query and extend calls judge it.
public struct SectionFacts: Equatable, Sendable {
  public var summary: SectionSummary
  /// A page-file section made with SEC_RESERVE (its pages commit on demand).
  public var reserve: Bool
  /// What the section handle was granted (SECTION_*, generic rights mapped).
  public var granted: SectionAccessMask

  public init(summary: SectionSummary, reserve: Bool, granted: SectionAccessMask) {
    self.summary = summary
    self.reserve = reserve
    self.granted = granted
  }
}

extension SectionRules {
  /// NtQuerySection (SectionInformationClass), in NT's order: an unknown
  /// class first, then SECTION_QUERY, then image information of a data section.
  public static func query(_ section: SectionFacts, informationClass: UInt64) -> Result<SectionBasicInformation, Status>
  {
    guard let kind = UInt32(exactly: informationClass).flatMap(SectionInformationClass.init(rawValue:)) else {
      return .failure(.invalidInfoClass)
    }
    guard section.granted.contains(.query) else { return .failure(.accessDenied) }
    guard kind == .basic else { return .failure(.sectionNotImage) }
    let summary = section.summary
    guard summary.pageFileBacked else {
      return .success(
        SectionBasicInformation(allocationAttributes: SectionAttributes.file.rawValue, maximumSize: summary.size))
    }
    let attributes: SectionAttributes = section.reserve ? .reserve : .commit
    let size = (summary.size + 0xFFF) & ~0xFFF
    return .success(SectionBasicInformation(allocationAttributes: attributes.rawValue, maximumSize: size))
  }

  /// NtExtendSection (NewSectionSize): SECTION_EXTEND_SIZE first; only a
  /// data section created writable (so its file may grow) extends; a size not
  /// above the current one changes nothing and answers the current size.
  public static func extend(_ section: SectionFacts, newSize: UInt64) -> Result<SectionExtension, Status> {
    guard section.granted.contains(.extendSize) else { return .failure(.accessDenied) }
    let summary = section.summary
    let writesFile = ProtectionRules.allows(summary.protection, .write) && !isWriteCopy(summary.protection)
    guard !summary.pageFileBacked, writesFile else { return .failure(.sectionNotExtended) }
    guard newSize > summary.size else { return .success(.unchanged(size: summary.size)) }
    guard newSize < SectionLimits.tooBig else { return .failure(.sectionTooBig) }
    return .success(.grow(to: newSize))
  }
}
