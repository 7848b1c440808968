import GuestArch

/// One section's control area as the kernel keeps it (NT's CONTROL_AREA
/// with its segment); `ControlAreas` publishes it in the table the host reads.
struct ControlArea {
  var counts = ControlAreaCounts()
  var segment: Segment
  var size: UInt64
  var protection: UInt8
  /// A data section's file (its FCB in `FileObjects`) and size; nil for the page file.
  var fileBlock: Int?
  var fileSize: UInt64
  var reserve: Bool

  var shape: SectionShape {
    SectionShape(pages: segment.pages, fileBacked: fileBlock != nil, fileSize: fileSize, protection: protection)
  }
}

/// The guest's control areas, in the slots of the table the debug block
/// names (`ControlAreaTable`, in the metadata page). A view's VAD and a file
/// page's subsection PTE name a control area by its record's address.
enum ControlAreas {
  /// Physical address of slot 0's record (set at boot).
  static var tablePhysical: UInt64 = 0
  static var areas: [ControlArea?] = []

  static func recordPhysical(_ slot: Int) -> UInt64 { tablePhysical + UInt64(slot * ControlAreaRecord.size) }

  /// The slot whose record is at physical `address`, if it holds a control area.
  static func slot(at address: UInt64) -> Int? {
    let offset = address &- tablePhysical
    guard address >= tablePhysical, offset % UInt64(ControlAreaRecord.size) == 0 else { return nil }
    let slot = Int(offset / UInt64(ControlAreaRecord.size))
    return slot < areas.count && areas[slot] != nil ? slot : nil
  }

  /// The subsection PTE of a file page still in its file: a prototype-format PTE naming the control area.
  static func inFilePTE(slot: Int, protection: UInt8) -> UInt64 {
    SoftwarePTE.prototype(
      address: KernelLayout.directMapBase + recordPhysical(slot), protection: protection, viaVAD: false
    ).raw
  }

  /// A new control area with a segment for `size` bytes (pages start as
  /// `fileBlock`'s subsection PTEs, demand zero, or zero for SEC_RESERVE), its
  /// first section object counted; nil when no slot or no pages are left.
  static func create(size: UInt64, protection: UInt8, fileBlock: Int?, fileSize: UInt64, reserve: Bool) -> Int? {
    if areas.isEmpty { areas = [ControlArea?](repeating: nil, count: ControlAreaTable.slots) }
    guard let slot = areas.firstIndex(where: { $0 == nil }) else { return nil }
    let initial =
      fileBlock != nil
      ? inFilePTE(slot: slot, protection: protection)
      : (reserve ? 0 : SoftwarePTE.demandZero(protection: protection).raw)
    let mm = MemoryManager.booted("ControlAreas.create")
    guard let segment = Segment.create(pages: (size + 0xFFF) >> 12, initial: initial, mm.database) else { return nil }
    var area = ControlArea(
      segment: segment, size: size, protection: protection, fileBlock: fileBlock, fileSize: fileSize, reserve: reserve)
    _ = area.counts.addSection()
    areas[slot] = area
    publish(slot)
    return slot
  }

  /// Writes slot `slot`'s record as the host reads it (zeros for a free slot).
  static func publish(_ slot: Int) {
    let record = UnsafeMutableRawPointer(bitPattern: UInt(PhysicalWindow.virtualAddress(recordPhysical(slot))))!
    record.initializeMemory(as: UInt8.self, repeating: 0, count: ControlAreaRecord.size)
    guard let area = areas[slot] else { return }
    var flags: ControlAreaFlags = .inUse
    if area.fileBlock != nil { flags.insert(.file) }
    if area.counts.beingDeleted { flags.insert(.beingDeleted) }
    if area.reserve { flags.insert(.reserve) }
    record.storeBytes(of: flags.rawValue, toByteOffset: ControlAreaRecord.flags, as: UInt32.self)
    record.storeBytes(of: area.counts.sections, toByteOffset: ControlAreaRecord.sections, as: UInt32.self)
    record.storeBytes(of: area.counts.mappedViews, toByteOffset: ControlAreaRecord.mappedViews, as: UInt32.self)
    record.storeBytes(of: area.counts.userReferences, toByteOffset: ControlAreaRecord.userReferences, as: UInt32.self)
    record.storeBytes(of: area.counts.pfnReferences, toByteOffset: ControlAreaRecord.pfnReferences, as: UInt32.self)
    record.storeBytes(of: area.protection, toByteOffset: ControlAreaRecord.protection, as: UInt8.self)
    record.storeBytes(of: area.size, toByteOffset: ControlAreaRecord.sizeBytes, as: UInt64.self)
    record.storeBytes(of: area.segment.pages, toByteOffset: ControlAreaRecord.segmentPages, as: UInt64.self)
    record.storeBytes(of: area.segment.directory, toByteOffset: ControlAreaRecord.segmentDirectory, as: UInt64.self)
    if let block = area.fileBlock, let file = FileObjects.blocks[block]?.file {
      record.storeBytes(of: file.firstCluster, toByteOffset: ControlAreaRecord.fileFirstCluster, as: UInt32.self)
    }
    record.storeBytes(of: area.fileSize, toByteOffset: ControlAreaRecord.fileSize, as: UInt64.self)
  }

  /// Counts one more section object on `slot` (a second NtCreateSection of the same file).
  static func addSection(_ slot: Int) -> Bool {
    guard areas[slot]!.counts.addSection() else { return false }
    publish(slot)
    return true
  }

  /// The last handle of a section object on `slot` closed.
  static func removeSection(_ slot: Int) {
    let release = areas[slot]!.counts.removeSection { kernelPanic("ControlAreas.removeSection", $0) }
    finish(slot, release)
  }

  /// A view of `slot` was mapped (`user`: in a process).
  static func addView(_ slot: Int, user: Bool) -> Bool {
    guard areas[slot]!.counts.addView(user: user) else { return false }
    publish(slot)
    return true
  }

  /// A view of `slot` was unmapped.
  static func removeView(_ slot: Int, user: Bool) {
    let release = areas[slot]!.counts.removeView(user: user) { kernelPanic("ControlAreas.removeView", $0) }
    finish(slot, release)
  }

  /// A section page of `slot` came into memory, or left it.
  static func addPage(_ slot: Int) {
    areas[slot]!.counts.addPage()
    publish(slot)
  }

  static func removePage(_ slot: Int) {
    let release = areas[slot]!.counts.removePage { kernelPanic("ControlAreas.removePage", $0) }
    finish(slot, release)
  }

  /// Carries out what a count change left to free, and publishes the slot.
  private static func finish(_ slot: Int, _ release: ControlAreaCounts.Release) {
    if release != .none { retire(slot) }
    publish(slot)
  }
}
