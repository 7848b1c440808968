#if canImport(GuestABI)
  import GuestABI
#endif

/// What a view's fault needs to know of the section it maps.
public struct SectionShape: Equatable, Sendable {
  /// Pages of the section (prototype PTEs in its segment).
  public var pages: UInt64
  public var fileBacked: Bool
  /// A data section's file size: bytes past it read as zero.
  public var fileSize: UInt64
  /// The protection code the section was created with.
  public var protection: UInt8

  public init(pages: UInt64, fileBacked: Bool, fileSize: UInt64, protection: UInt8) {
    self.pages = pages
    self.fileBacked = fileBacked
    self.fileSize = fileSize
    self.protection = protection
  }
}

/// The sections views map, as `VirtualMemory` reaches them: control areas
/// named by the address a view's VAD records, their prototype PTEs, and the
/// work a prototype fault needs done (a file read, a zeroed page, a page
/// taken back from standby). The guest keeps them in its control-area table;
/// host tests in a model.
public protocol SectionBackend {
  /// The section of the control area at `controlArea`, nil when none is there.
  func section(_ controlArea: UInt64) -> SectionShape?

  /// The prototype PTE of section page `page` (below `SectionShape.pages`).
  func prototypePTE(_ controlArea: UInt64, page: UInt64) -> UInt64

  /// Makes section page `page` resident as `decision` says (`shareValid`,
  /// `reclaim`, `readFile`, `zeroPage`): afterwards its prototype PTE is valid
  /// and its PFN ActiveAndValid, to be mapped by the caller at once (a page read
  /// beside it goes to standby, its prototype PTE in transition). The PFN, or
  /// noMemory / inPageError with nothing changed.
  mutating func makeResident(_ controlArea: UInt64, page: UInt64, _ decision: PrototypeFaultDecision)
    -> Result<UInt64, Status>

  /// A private page holding a copy of frame `pfn` (a write-copy view's first
  /// write), with no users yet; nil when no page is available.
  mutating func copyPage(_ pfn: UInt64) -> UInt64?

  /// MEM_COMMIT over section pages `first...last` of a page-file section:
  /// each page not yet committed (prototype PTE zero, SEC_RESERVE) becomes
  /// demand zero with the section's protection, for every view at once.
  /// commitmentLimit, nothing changed, when the commit charge cannot take them.
  mutating func commitPages(_ controlArea: UInt64, first: UInt64, last: UInt64) -> Status

  /// A view of the control area was mapped (false: it is being deleted, nothing changed).
  mutating func viewMapped(_ controlArea: UInt64) -> Bool

  /// A view of the control area was unmapped, its PTEs already gone: the
  /// section may go with it, when no section object is left either.
  mutating func viewUnmapped(_ controlArea: UInt64)
}

/// No sections at all: an address space whose VADs are all private.
public struct NoSections: SectionBackend {
  public init() {}
  public func section(_ controlArea: UInt64) -> SectionShape? { nil }
  public func prototypePTE(_ controlArea: UInt64, page: UInt64) -> UInt64 { 0 }
  public mutating func makeResident(_ controlArea: UInt64, page: UInt64, _ decision: PrototypeFaultDecision)
    -> Result<UInt64, Status>
  { .failure(.accessViolation) }
  public mutating func copyPage(_ pfn: UInt64) -> UInt64? { nil }
  public mutating func commitPages(_ controlArea: UInt64, first: UInt64, last: UInt64) -> Status { .accessViolation }
  public mutating func viewMapped(_ controlArea: UInt64) -> Bool { false }
  public mutating func viewUnmapped(_ controlArea: UInt64) {}
}
