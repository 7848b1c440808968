#if canImport(GuestABI)
  import GuestABI
#endif

/// What backs a section: the page file (its size is MaximumSize), or a file of `size` bytes.
public enum SectionBacking: Equatable, Sendable {
  case pageFile
  case file(size: UInt64, writable: Bool)
}

/// A section NtCreateSection's checks admit: its size, protection code and commitment.
public struct SectionPlan: Equatable, Sendable {
  public var size: UInt64
  public var protection: UInt8
  /// SEC_COMMIT on the page file: every page is charged now; SEC_RESERVE: on commit.
  public var committed: Bool
  /// A data section larger than its file grows the file to its size (a writable section only).
  public var extendsFile: Bool
}

/// A view NtMapViewOfSection's checks admit: where in the section, how much, how protected.
public struct ViewPlan: Equatable, Sendable {
  public var offset: UInt64
  public var size: UInt64
  public var protection: UInt8
  /// Pages committed at the view's start (a SEC_RESERVE section's CommitSize).
  public var commitSize: UInt64
}

/// The section calls' checks of their arguments, with Windows' statuses, before
/// anything changes (so a refused call changes nothing). Where Windows and its
/// documentation disagree, Windows wins: ReactOS's API and kernel-mode tests,
/// run against Windows, pin these (NtMapViewOfSection.c, ZwMapViewOfSection.c).
public enum SectionRules {
  /// NtCreateSection (MaximumSize, SectionPageProtection, AllocationAttributes):
  /// `commitLimitPages` is what the commit charge may still take, `prototypeLimitPages`
  /// the most pages whose prototype PTEs the Mm can allocate.
  public static func create(
    maximumSize: UInt64, protect: UInt32, attributes rawAttributes: UInt32, backing: SectionBacking,
    commitLimitPages: UInt64, prototypeLimitPages: UInt64
  ) -> Result<SectionPlan, Status> {
    let attributes = SectionAttributes(rawValue: rawAttributes)
    guard attributes.isSubset(of: .known), !attributes.isSuperset(of: [.commit, .reserve]),
      !attributes.isDisjoint(with: [.commit, .reserve, .image])
    else { return .failure(.invalidParameter6) }
    if attributes.contains(.image) { return .failure(.notSupported) }
    guard let code = NtProtection.code(fromWin32: protect), code != PageProtection.inaccessible,
      !ProtectionRules.isGuard(code)
    else { return .failure(.invalidPageProtection) }
    switch backing {
    case .pageFile:
      return pageFileSection(
        maximumSize, code, commit: attributes.contains(.commit), commitLimitPages, prototypeLimitPages)
    case .file(let fileSize, let writable):
      return dataSection(maximumSize, code, fileSize: fileSize, writable: writable, prototypeLimitPages)
    }
  }

  private static func pageFileSection(
    _ size: UInt64, _ code: UInt8, commit: Bool, _ commitLimit: UInt64, _ prototypeLimit: UInt64
  ) -> Result<SectionPlan, Status> {
    guard size != 0 else { return .failure(.invalidParameter4) }
    guard size < SectionLimits.tooBig else { return .failure(.sectionTooBig) }
    let pages = (size + 0xFFF) >> 12
    guard pages <= prototypeLimit else { return .failure(.insufficientResources) }
    if commit, pages > commitLimit { return .failure(.commitmentLimit) }
    return .success(SectionPlan(size: size, protection: code, committed: commit, extendsFile: false))
  }

  private static func dataSection(
    _ maximumSize: UInt64, _ code: UInt8, fileSize: UInt64, writable: Bool, _ prototypeLimit: UInt64
  ) -> Result<SectionPlan, Status> {
    let writesFile = ProtectionRules.allows(code, .write) && !isWriteCopy(code)
    if writesFile, !writable { return .failure(.accessDenied) }
    let size = maximumSize == 0 ? fileSize : maximumSize
    guard size != 0 else { return .failure(.mappedFileSizeZero) }
    guard size < SectionLimits.tooBig else { return .failure(.sectionTooBig) }
    if size > fileSize, !writesFile { return .failure(.sectionTooBig) }
    guard (size + 0xFFF) >> 12 <= prototypeLimit else { return .failure(.insufficientResources) }
    return .success(SectionPlan(size: size, protection: code, committed: true, extendsFile: size > fileSize))
  }

  static func isWriteCopy(_ code: UInt8) -> Bool {
    let access = code & 7
    return access == PageProtection.writeCopy || access == PageProtection.executeWriteCopy
  }
}
