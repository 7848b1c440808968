import GuestArch

/// Cc's views in system space (`SystemCacheLayout`): `CacheViews` decides
/// which slot maps which 256 KiB of which file's section; this carries it
/// out in the window's page table, whose valid PTEs are accounted shares of
/// the section pages they map, and publishes the slots for the host.
enum SystemCache {
  /// Physical address of the window's page table (set when the disks start; 0 without disks).
  static var table: UInt64 = 0
  /// Physical address of the `CacheViewRecord`s (set at boot).
  static var recordsPhysical: UInt64 = 0
  static var views = CacheViews(capacity: SystemCacheLayout.views)

  static func address(ofSlot slot: Int) -> UInt64 { SystemCacheLayout.base + UInt64(slot) * SystemCacheLayout.viewSize }

  /// The view of control area `area` holding file offset `offset`, mapped (an
  /// idle view evicted, least recently used first) and marked in use: its
  /// slot and the file offset it starts at. nil when every view is in use or
  /// the section is being deleted.
  static func acquire(_ area: Int, offset: UInt64) -> (slot: Int, fileOffset: UInt64)? {
    switch views.acquire(section: ControlAreas.recordPhysical(area), offset: offset) {
    case .exhausted: return nil
    case .mapped(let slot):
      publish(slot)
      return (slot, views.views[slot].offset)
    case .mapNew(let slot, let evicting):
      if let evicting, let old = ControlAreas.slot(at: evicting.section) {
        unmapPTEs(slot)
        ControlAreas.removeView(old, user: false)
      }
      guard ControlAreas.addView(area, user: false) else {
        _ = views.release(slot: slot)
        _ = views.drop(section: ControlAreas.recordPhysical(area))
        publish(slot)
        return nil
      }
      publish(slot)
      return (slot, views.views[slot].offset)
    }
  }

  /// Gives back a view `acquire` returned.
  static func release(_ slot: Int) {
    _ = views.release(slot: slot)
    publish(slot)
  }

  /// Unmaps every view of control area `area` (caching ends, a purge); false,
  /// with nothing changed, while one of them is in use.
  static func drop(_ area: Int) -> Bool {
    let section = ControlAreas.recordPhysical(area)
    let slots = views.views.indices.filter { views.views[$0].section == section }
    guard views.drop(section: section) != nil else { return false }
    for slot in slots {
      unmapPTEs(slot)
      ControlAreas.removeView(area, user: false)
      publish(slot)
    }
    return true
  }

  /// Views of `area` mapped now (the system's, not the users').
  static func viewCount(_ area: Int) -> UInt32 {
    let section = ControlAreas.recordPhysical(area)
    return UInt32(views.views.filter { $0.section == section }.count)
  }

  /// Takes every valid PTE of view `slot` away (`SystemSpacePTEs.unmap`).
  static func unmapPTEs(_ slot: Int) {
    SystemSpacePTEs.unmap(table, base: address(ofSlot: slot), pages: SystemCacheLayout.viewSize >> 12)
  }

  /// Moves the D bits of every view of `area` into its pages' records (before a flush).
  static func harvestDirtyBits(_ area: Int) {
    let section = ControlAreas.recordPhysical(area)
    for slot in views.views.indices where views.views[slot].section == section {
      SystemSpacePTEs.harvestDirtyBits(table, base: address(ofSlot: slot), pages: SystemCacheLayout.viewSize >> 12)
    }
  }

  /// Writes slot `slot`'s record as the host reads it.
  static func publish(_ slot: Int) {
    let record = UnsafeMutableRawPointer(
      bitPattern: UInt(PhysicalWindow.virtualAddress(recordsPhysical + UInt64(slot * CacheViewRecord.size))))!
    let view = views.views[slot]
    record.storeBytes(of: view.section ?? 0, toByteOffset: CacheViewRecord.controlArea, as: UInt64.self)
    record.storeBytes(
      of: view.section == nil ? 0 : view.offset, toByteOffset: CacheViewRecord.fileOffset, as: UInt64.self)
    record.storeBytes(of: view.active, toByteOffset: CacheViewRecord.active, as: UInt32.self)
    record.storeBytes(of: 0 as UInt32, toByteOffset: CacheViewRecord.reserved, as: UInt32.self)
    record.storeBytes(of: view.lastUse, toByteOffset: CacheViewRecord.lastUse, as: UInt64.self)
  }
}

extension SystemCache {
  /// A fault (or a copy's touch) at `address` in a view: its section page
  /// mapped read/write (`SystemSpacePTEs.resolve`).
  static func resolve(_ address: UInt64, access: MemoryAccess) -> FaultResolution {
    guard table != 0, let slot = SystemCacheLayout.slot(of: address), let section = views.views[slot].section,
      let area = ControlAreas.slot(at: section), access != .execute
    else { return .accessViolation }
    let va = address & ~0xFFF
    let page = (views.views[slot].offset + (va - SystemCache.address(ofSlot: slot))) >> 12
    return SystemSpacePTEs.resolve(
      table, va, area: area, page: page, protection: PageProtection.readWrite, access: access)
  }
}
