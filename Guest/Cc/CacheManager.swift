import GuestArch

/// The cache manager, a client of Mm: it keeps no cache of its own. Caching
/// a file opens its data section (Cc holds one section reference on it while
/// the file is cached); reads and writes copy through 256 KiB views of that
/// section in system space (`SystemCache`), whose faults bring the pages in;
/// a flush asks Mm to write the section's modified pages to the file.
enum CacheManager {
  /// CcInitializeCacheMap for FCB `block`: its data section (made now if the
  /// file has none), covering at least `size` bytes. A status when no
  /// control area or page can be had.
  static func initialize(_ block: Int, size: UInt64) -> Status {
    if FileObjects.blocks[block]!.cacheMap { return grow(block, to: size) }
    if let slot = FileObjects.blocks[block]!.dataSection {
      guard ControlAreas.addSection(slot) else { return .accessDenied }
    } else {
      guard
        let slot = ControlAreas.create(
          size: size, protection: PageProtection.readWrite, fileBlock: block, fileSize: size, reserve: false)
      else { return .insufficientResources }
      FileObjects.blocks[block]!.dataSection = slot
    }
    FileObjects.blocks[block]!.cacheMap = true
    return grow(block, to: size)
  }

  /// CcSetFileSizes: the section covers a file now `size` bytes long.
  static func grow(_ block: Int, to size: UInt64) -> Status {
    guard let slot = FileObjects.blocks[block]!.dataSection else { return .success }
    return ControlAreas.fileGrew(slot, to: size) ? .success : .insufficientResources
  }

  /// CcUninitializeCacheMap (the file's last handle closed): its modified
  /// pages written, its views unmapped, Cc's section reference released.
  static func uninitialize(_ block: Int) {
    guard FileObjects.blocks[block]?.cacheMap == true, let slot = FileObjects.blocks[block]!.dataSection else { return }
    _ = flush(block)
    guard SystemCache.drop(slot) else { kernelPanic("CacheManager.uninitialize", "a view still in use") }
    FileObjects.blocks[block]!.cacheMap = false
    ControlAreas.removeSection(slot)
  }

  /// CcCopyRead / CcCopyWrite of `length` bytes at file `offset` to or from
  /// `buffer` (a locked kernel or current-process address): view by view, each
  /// page touched through the fault path before the copy. The bytes moved, or
  /// the status of the first page that could not be had.
  static func copy(_ block: Int, write: Bool, offset: UInt64, length: UInt64, buffer: UInt64) -> Result<UInt64, Status>
  {
    guard let slot = FileObjects.blocks[block]!.dataSection else { return .failure(.invalidParameter) }
    var at = offset
    let end = offset + length
    while at < end {
      guard let view = SystemCache.acquire(slot, offset: at) else { return .failure(.insufficientResources) }
      let viewEnd = min(view.fileOffset + SystemCacheLayout.viewSize, end)
      let base = SystemCache.address(ofSlot: view.slot) + (at - view.fileOffset)
      var page = base & ~0xFFF
      while page < base + (viewEnd - at) {
        let resolution = SystemCache.resolve(page, access: write ? .write : .read)
        guard case .resolved = resolution else {
          SystemCache.release(view.slot)
          return .failure(resolution.status)
        }
        page += 4096
      }
      let user = UnsafeMutableRawPointer(bitPattern: UInt(buffer + (at - offset)))!
      let cache = UnsafeMutableRawPointer(bitPattern: UInt(base))!
      if write {
        cache.copyMemory(from: user, byteCount: Int(viewEnd - at))
      } else {
        user.copyMemory(from: cache, byteCount: Int(viewEnd - at))
      }
      SystemCache.release(view.slot)
      at = viewEnd
    }
    return .success(length)
  }

  /// CcFlushCache: the views' D bits into the pages' records, then every
  /// modified page of the section written. The pages written, or nil at a failed write.
  static func flush(_ block: Int, offset: UInt64 = 0, length: UInt64 = 0) -> UInt64? {
    guard let slot = FileObjects.blocks[block]?.dataSection, let area = ControlAreas.areas[slot] else { return 0 }
    SystemCache.harvestDirtyBits(slot)
    SystemViews.harvestDirtyBits(slot)  // a driver's view in system space wrote through no process PTE
    let last = length == 0 ? area.segment.pages - 1 : (offset &+ length &- 1) >> 12
    return ControlAreas.flush(slot, first: offset >> 12, last: last)
  }

  /// CcPurgeCacheSection: false, with nothing changed, while a user view maps
  /// the section; otherwise Cc's views go and every page of the section in
  /// memory is dropped, modified or not, its prototype PTE back to the file's.
  static func purge(_ block: Int, offset: UInt64 = 0, length: UInt64 = 0) -> Bool {
    guard let slot = FileObjects.blocks[block]?.dataSection, let area = ControlAreas.areas[slot] else { return true }
    guard area.counts.mappedViews == SystemCache.viewCount(slot), SystemCache.drop(slot) else { return false }
    let last = length == 0 ? area.segment.pages - 1 : (offset &+ length &- 1) >> 12
    ControlAreas.dropResidentPages(slot, first: offset >> 12, last: last)
    return true
  }
}
