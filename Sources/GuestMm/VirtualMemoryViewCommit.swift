#if canImport(GuestABI)
  import GuestABI
#endif

extension VirtualMemory {
  /// MEM_COMMIT of `range`, inside view `vad`, in WRK allocvm.c's order: a
  /// data file's view is STATUS_ALREADY_COMMITTED (only page-file sections
  /// commit); then the range's section pages not yet committed become demand
  /// zero with the section's protection, seen by every view of it. NT then
  /// protects the range as `code`; this Mm keeps a view's protection in its
  /// VAD alone (NtProtectVirtualMemory on a view is not implemented either), so
  /// a `code` other than the view's is STATUS_NOT_IMPLEMENTED, nothing changed.
  mutating func commitView(_ range: PageRange, _ vad: VadEntry, code: UInt8)
    -> (status: Status, baseAddress: UInt64, regionSize: UInt64)
  {
    guard let shape = backend.sections.section(vad.controlArea) else { return (.accessViolation, 0, 0) }
    if shape.fileBacked { return (.alreadyCommitted, 0, 0) }
    guard code == vad.protection else { return (.notImplemented, 0, 0) }
    let first = Self.sectionPage(of: range.baseAddress, in: vad)
    let status = backend.sections.commitPages(vad.controlArea, first: first, last: first + range.count - 1)
    guard status == .success else { return (status, 0, 0) }
    return (.success, range.baseAddress, range.byteCount)
  }
}
