#if canImport(GuestABI)
  import GuestABI
#endif

/// The section a view would map, as NtMapViewOfSection's checks see it.
public struct SectionSummary: Equatable, Sendable {
  public var size: UInt64
  /// The protection code the section was created with.
  public var protection: UInt8
  public var pageFileBacked: Bool

  public init(size: UInt64, protection: UInt8, pageFileBacked: Bool) {
    self.size = size
    self.protection = protection
    self.pageFileBacked = pageFileBacked
  }
}

extension SectionRules {
  /// AllocationType bits NtMapViewOfSection takes: MEM_RESERVE (data sections only),
  /// MEM_TOP_DOWN, MEM_LARGE_PAGES, SEC_NO_CHANGE and MEM_DOS_LIM.
  static let viewAllocationTypes: UInt32 = 0x2000 | 0x10_0000 | 0x2000_0000 | 0x40_0000 | 0x4000_0000

  /// NtMapViewOfSection (BaseAddress, ZeroBits, CommitSize, SectionOffset,
  /// ViewSize, InheritDisposition, AllocationType, Win32Protect) on `section`:
  /// the view's plan, or Windows' status. A base of 0 lets the Mm choose. The
  /// placement itself (a free range, STATUS_CONFLICTING_ADDRESSES, STATUS_NO_MEMORY)
  /// is the address space's to decide.
  public static func mapView(
    _ section: SectionSummary, baseAddress: UInt64, zeroBits: UInt64, commitSize: UInt64, sectionOffset: UInt64,
    viewSize: UInt64, inheritDisposition: UInt32, allocationType: UInt32, protect: UInt32
  ) -> Result<ViewPlan, Status> {
    guard let code = NtProtection.code(fromWin32: protect) else { return .failure(.invalidPageProtection) }
    guard SectionInherit(rawValue: inheritDisposition) != nil else { return .failure(.invalidParameter8) }
    guard allocationType & ~viewAllocationTypes == 0 else { return .failure(.invalidParameter9) }
    let reserve = allocationType & MemoryAllocationType.reserve.rawValue != 0
    if reserve, section.pageFileBacked { return .failure(.invalidParameter9) }
    guard zeroBits <= SectionLimits.maximumZeroBits else { return .failure(.invalidParameter4) }
    let highest = NtUserAddresses.highestVadAddress
    guard baseAddress <= highest, viewSize <= highest + 1 - baseAddress else { return .failure(.invalidParameter3) }
    guard commitSize <= section.size, section.pageFileBacked || commitSize == 0 || reserve else {
      return .failure(.invalidParameter5)
    }
    guard baseAddress % SectionLimits.granularity == 0, sectionOffset % SectionLimits.granularity == 0 else {
      return .failure(.mappedAlignment)
    }
    guard compatible(section: section.protection, view: code),
      !reserve || ProtectionRules.allows(section.protection, .write)
    else { return .failure(.sectionProtection) }
    return viewRange(section, offset: sectionOffset, size: viewSize, reserve: reserve).map {
      ViewPlan(offset: sectionOffset, size: $0, protection: code, commitSize: (commitSize + 0xFFF) & ~0xFFF)
    }
  }

  /// The view's size in bytes, whole pages: 0 asks for the rest of the section; a view
  /// past the section's end is refused, except a MEM_RESERVE view of a data section
  /// (room for the file to grow into).
  private static func viewRange(_ section: SectionSummary, offset: UInt64, size: UInt64, reserve: Bool)
    -> Result<UInt64, Status>
  {
    guard offset < section.size || (reserve && size != 0) else { return .failure(.invalidViewSize) }
    let wanted = size == 0 ? section.size - offset : size
    let (end, overflow) = offset.addingReportingOverflow(wanted)
    guard !overflow, end <= section.size || reserve else { return .failure(.invalidViewSize) }
    return .success((wanted + 0xFFF) & ~0xFFF)
  }

  /// Whether a view may have protection `view` on a section of protection
  /// `section` (codes; modifiers ignored): the view's access must be one the
  /// section's allows, write-copy counting as reading (it never writes the section).
  public static func compatible(section: UInt8, view: UInt8) -> Bool {
    let viewAccess = view == PageProtection.inaccessible ? PageProtection.noAccess : view & 7
    let allowed: [UInt8] =
      switch section & 7 {
      case PageProtection.readOnly, PageProtection.writeCopy:
        [PageProtection.readOnly, PageProtection.writeCopy]
      case PageProtection.readWrite:
        [PageProtection.readOnly, PageProtection.readWrite, PageProtection.writeCopy]
      case PageProtection.execute: [PageProtection.execute]
      case PageProtection.executeRead, PageProtection.executeWriteCopy:
        [
          PageProtection.readOnly, PageProtection.writeCopy, PageProtection.execute, PageProtection.executeRead,
          PageProtection.executeWriteCopy,
        ]
      case PageProtection.executeReadWrite: Array(1...7)
      default: []
      }
    return viewAccess == PageProtection.noAccess || allowed.contains(viewAccess)
  }
}
