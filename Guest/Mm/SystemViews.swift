import GuestArch

/// Views mapped in system space outside Cc (MmMapViewInSystemSpace, a
/// script's NtMapViewOfSection with ProcessHandle "System"): `SystemViewSpace`
/// decides where each goes; this maps it in the window's page table
/// (`SystemSpacePTEs`, faults bring pages in) and publishes the records the
/// host reads. Each view is a user reference on its control area, as NT's
/// are, so it keeps the section alive after its handles close.
enum SystemViews {
  /// Physical address of the window's page table (set when a script runs; 0 otherwise).
  static var table: UInt64 = 0
  /// Physical address of the `SystemViewRecord`s (set at boot).
  static var recordsPhysical: UInt64 = 0
  static var space = SystemViewSpace()

  /// Maps `plan` (checked, `SystemViewSpace.refusal` included) of control
  /// area `area`: the view, or STATUS_NO_MEMORY (no room or no window) or
  /// STATUS_ACCESS_DENIED (the section is being deleted) with nothing changed.
  static func map(_ area: Int, plan: ViewPlan) -> Result<SystemViewSpace.View, Status> {
    guard table != 0 else { return .failure(.noMemory) }
    switch space.map(controlArea: ControlAreas.recordPhysical(area), plan: plan) {
    case .failure(let status): return .failure(status)
    case .success(let placed):
      guard ControlAreas.addView(area, user: true) else {
        _ = space.unmap(slot: placed.slot)
        return .failure(.accessDenied)
      }
      publish(placed.slot)
      return .success(placed.view)
    }
  }

  /// MmUnmapViewInSystemSpace of the view holding `address`: its valid PTEs
  /// go (a written page noted modified), then its record, then its reference
  /// on the section. STATUS_NOT_MAPPED_VIEW when no view holds the address.
  static func unmap(_ address: UInt64) -> Status {
    guard let slot = space.slot(containing: address), let view = space.views[slot] else { return .notMappedView }
    guard let area = ControlAreas.slot(at: view.controlArea) else {
      kernelPanic("SystemViews.unmap", "a view of no control area")
    }
    SystemSpacePTEs.unmap(table, base: view.base, pages: view.pages)
    _ = space.unmap(slot: slot)
    publish(slot)
    ControlAreas.removeView(area, user: true)
    return .success
  }

  /// A fault (or a kernel touch) at `address` in a view: its section page
  /// mapped with the view's protection; an access it does not allow, or one
  /// outside every view, is an access violation.
  static func resolve(_ address: UInt64, access: MemoryAccess) -> FaultResolution {
    guard table != 0, let slot = space.slot(containing: address), let view = space.views[slot],
      let area = ControlAreas.slot(at: view.controlArea), ProtectionRules.allows(view.protection, access),
      access != .execute
    else { return .accessViolation }
    let va = address & ~0xFFF
    return SystemSpacePTEs.resolve(
      table, va, area: area, page: view.sectionPage(of: va), protection: view.protection, access: access)
  }

  /// Touch at CPL 0 (the script's ProcessHandle "System"): `pages` accesses
  /// one page apart from `address` (access 0 read, 1 write, 2 execute), each
  /// page through the fault path first. The status, the address that could
  /// not be accessed (0 when all were), and the pages done before it.
  static func touch(_ address: UInt64, pages: UInt64, access: UInt64) -> (Status, UInt64, UInt64) {
    let kind: MemoryAccess = access == 0 ? .read : access == 1 ? .write : .execute
    for done in 0..<pages {
      let va = address &+ done << 12
      let resolution = resolve(va, access: kind)
      guard case .resolved = resolution else { return (resolution.status, va, done) }
      arch_touch_byte(va, kind == .write ? 1 : 0)
    }
    return (.success, 0, pages)
  }

  /// Moves the D bits of every view of `area` into its pages' records (before a flush).
  static func harvestDirtyBits(_ area: Int) {
    let section = ControlAreas.recordPhysical(area)
    for case let view? in space.views where view.controlArea == section {
      SystemSpacePTEs.harvestDirtyBits(table, base: view.base, pages: view.pages)
    }
  }

  /// Writes slot `slot`'s record as the host reads it.
  static func publish(_ slot: Int) {
    let record = UnsafeMutableRawPointer(
      bitPattern: UInt(PhysicalWindow.virtualAddress(recordsPhysical + UInt64(slot * SystemViewRecord.size))))!
    let view = space.views[slot]
    record.storeBytes(of: view?.controlArea ?? 0, toByteOffset: SystemViewRecord.controlArea, as: UInt64.self)
    record.storeBytes(of: view?.base ?? 0, toByteOffset: SystemViewRecord.base, as: UInt64.self)
    record.storeBytes(of: view?.sectionOffset ?? 0, toByteOffset: SystemViewRecord.sectionOffset, as: UInt64.self)
    record.storeBytes(
      of: UInt32(truncatingIfNeeded: view?.pages ?? 0), toByteOffset: SystemViewRecord.pages, as: UInt32.self)
    record.storeBytes(
      of: UInt32(view?.protection ?? 0), toByteOffset: SystemViewRecord.protection, as: UInt32.self)
  }
}
