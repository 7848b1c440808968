import GuestArch

// A data section's pages and its file: the cluster read a fault asks for,
// and the writes of modified pages (a flush, the segment going).

extension ControlAreas {
  /// Reads section pages [first, first + count) of `slot`'s file into new
  /// pages in one request (the first `validBytes` bytes from the file, the
  /// rest zero) and makes them section pages: `faulting` valid, the others
  /// in transition on standby. The faulting page's PFN, or noMemory /
  /// inPageError with nothing changed.
  static func readCluster(_ slot: Int, first: UInt64, count: UInt64, validBytes: UInt64, faulting: UInt64)
    -> Result<UInt64, Status>
  {
    let mm = MemoryManager.booted("ControlAreas.readCluster")
    guard let area = areas[slot], let block = area.fileBlock, count > 0, count <= UInt64(IoMapping.capacity)
    else { kernelPanic("ControlAreas.readCluster", "not a file page cluster") }
    var frames = (
      UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
      UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0)
    )
    return withUnsafeMutableBytes(of: &frames) { raw in
      let pfns = raw.bindMemory(to: UInt64.self)
      for n in 0..<Int(count) {
        guard let pfn = mm.database.allocatePage(zeroed: false) else {
          for taken in 0..<n { mm.database.insertTail(pfns[taken], into: .free) }
          return .failure(.noMemory)
        }
        pfns[n] = pfn
      }
      let taken = UnsafeBufferPointer(rebasing: pfns[0..<Int(count)])
      guard transferFile(block, read: true, offset: first << 12, bytes: validBytes, frames: taken, zeroTo: count << 12)
      else {
        for pfn in taken { mm.database.insertTail(pfn, into: .free) }
        return .failure(.inPageError)
      }
      for (n, pfn) in taken.enumerated() {
        let page = first + UInt64(n)
        mm.database.attachPrototype(
          pfn, pteAddress: area.segment.entryAddress(page), pteFrame: area.segment.entryPhysical(page) >> 12,
          original: area.segment.read(page), protection: area.protection, mapped: page == faulting, modified: false)
        areas[slot]!.counts.addPage()
      }
      publish(slot)
      return .success(taken[Int(faulting - first)])
    }
  }

  /// Moves `bytes` between FCB `block`'s file at `offset` and `frames`, mapped
  /// together for the one transfer; a read zeroes from `bytes` to `zeroTo`.
  /// False on any file-system error.
  static func transferFile(
    _ block: Int, read: Bool, offset: UInt64, bytes: UInt64, frames: UnsafeBufferPointer<UInt64>, zeroTo: UInt64
  ) -> Bool {
    guard let volume = FileSystem.volume, FileObjects.blocks[block] != nil else { return false }
    let base = IoMapping.map(frames)
    defer { IoMapping.unmap(frames.count) }
    let buffer = UnsafeMutableRawPointer(bitPattern: UInt(base))!
    do throws(Status) {
      if bytes > 0 {
        if read {
          let got = try volume.read(
            &FileObjects.blocks[block]!.file, at: offset,
            into: UnsafeMutableRawBufferPointer(start: buffer, count: Int(bytes)))
          if UInt64(got) < bytes {
            (buffer + got).initializeMemory(as: UInt8.self, repeating: 0, count: Int(bytes) - got)
          }
        } else {
          _ = try volume.write(
            &FileObjects.blocks[block]!.file, at: offset, from: UnsafeRawBufferPointer(start: buffer, count: Int(bytes))
          )
        }
      }
    } catch {
      return false
    }
    if read, zeroTo > bytes {
      (buffer + Int(bytes)).initializeMemory(as: UInt8.self, repeating: 0, count: Int(zeroTo - bytes))
    }
    return true
  }

  /// Writes section page `page` of `slot` (in memory as `pfn`) to its file:
  /// the bytes below the file's size. False on a file-system error.
  static func writePage(_ slot: Int, page: UInt64, pfn: UInt64) -> Bool {
    guard let area = areas[slot], let block = area.fileBlock else { return false }
    let offset = page << 12
    guard offset < area.fileSize else { return true }
    var frame = pfn
    return withUnsafePointer(to: &frame) {
      transferFile(
        block, read: false, offset: offset, bytes: min(4096, area.fileSize - offset),
        frames: UnsafeBufferPointer(start: $0, count: 1), zeroTo: 0)
    }
  }

  /// Writes every modified page of `slot`'s file among section pages [first,
  /// last] to the file and marks it clean (NT's MiFlushSectionInternal, one
  /// write per page). The pages written, or nil at the first failed write.
  static func flush(_ slot: Int, first: UInt64, last: UInt64) -> UInt64? {
    let mm = MemoryManager.booted("ControlAreas.flush")
    guard let area = areas[slot], area.fileBlock != nil else { return 0 }
    var written: UInt64 = 0
    var page = first
    while page <= last, page < area.segment.pages {
      let pfn: UInt64? =
        switch SoftwarePTE(raw: area.segment.read(page)) {
        case .valid(let raw): (raw & HardwarePTE.frameMask) >> 12
        case .transition(let pfn, _): pfn
        default: nil
        }
      if let pfn, mm.database.record(pfn).frameFlags.contains(.modified) {
        guard writePage(slot, page: page, pfn: pfn) else { return nil }
        mm.database.noteWritten(pfn)
        written += 1
      }
      page += 1
    }
    return written
  }

  /// The last section object and view of `slot` went: modified file pages
  /// are written, every section page is freed, then the segment, and the
  /// control area gives its slot and its file back.
  static func retire(_ slot: Int) {
    let mm = MemoryManager.booted("ControlAreas.retire")
    guard let area = areas[slot] else { return }
    _ = flush(slot, first: 0, last: area.segment.pages - 1)  // a failed write loses the page, as a failed flush would
    for page in 0..<area.segment.pages {
      guard case .transition(let pfn, _) = SoftwarePTE(raw: area.segment.read(page)) else { continue }
      mm.database.detachPrototype(pfn)
      area.segment.write(page, 0)
      _ = areas[slot]!.counts.removePage { kernelPanic("ControlAreas.retire", $0) }
    }
    area.segment.destroy(mm.database)
    areas[slot] = nil
    if let block = area.fileBlock { FileObjects.releaseSection(block: block) }
  }
}

extension ControlAreas {
  /// The file of `slot` is now `size` bytes (CcSetFileSizes growing it): the
  /// segment grows to cover it, its new pages still in the file. False, unchanged, when pages run out.
  static func fileGrew(_ slot: Int, to size: UInt64) -> Bool {
    guard var area = areas[slot], size > area.fileSize else { return true }
    let database = MemoryManager.booted("ControlAreas.fileGrew").database
    guard
      area.segment.grow(to: (size + 0xFFF) >> 12, initial: inFilePTE(slot: slot, protection: area.protection), database)
    else { return false }
    area.fileSize = size
    area.size = max(area.size, size)
    areas[slot] = area
    publish(slot)
    return true
  }

  /// The file of `slot` is now `size` bytes, shorter (no user view maps the
  /// section, and Cc purged it): bytes past it read as zero.
  static func fileShrank(_ slot: Int, to size: UInt64) {
    guard areas[slot] != nil, size < areas[slot]!.fileSize else { return }
    areas[slot]!.fileSize = size
    publish(slot)
  }

  /// Every section page of `slot` in transition leaves memory unwritten
  /// (a purge): freed, its prototype PTE back to what it was before the page came in.
  static func dropResidentPages(_ slot: Int, first: UInt64 = 0, last: UInt64 = .max) {
    let database = MemoryManager.booted("ControlAreas.dropResidentPages").database
    guard let area = areas[slot], first < area.segment.pages else { return }
    for page in first...min(last, area.segment.pages - 1) {
      guard case .transition(let pfn, _) = SoftwarePTE(raw: area.segment.read(page)) else { continue }
      let original = database.record(pfn).originalPTE
      database.detachPrototype(pfn)
      area.segment.write(page, original)
      _ = areas[slot]!.counts.removePage { kernelPanic("ControlAreas.dropResidentPages", $0) }
    }
    publish(slot)
  }
}
