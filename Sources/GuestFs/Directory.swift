#if canImport(GuestABI)
  import GuestABI
#endif
#if canImport(GuestMm)
  import GuestMm
#endif

/// How a scan of a directory's slots ended.
struct SlotScan {
  /// The visitor asked to stop (else the chain ended).
  var stopped: Bool
  /// The cluster the scan was in when it ended.
  var lastCluster: UInt32
  /// Slots visited.
  var slots: UInt32
}

/// Room for new slots: a run of free slots, complete or ending with the chain.
struct SlotRun {
  var start: DirectoryPosition?
  var length: UInt32 = 0
  var complete = false
  var lastCluster: UInt32 = 0
  var slots: UInt32 = 0
}

/// Directories as chains of 32-byte slots, read a sector at a time: scans,
/// lookups by name, and the slot writes of insertions and removals. A
/// directory longer than FAT allows (65536 slots) or with a broken chain is a
/// corrupt file, which is also what stops a looping one.
extension FatVolume {
  var slotsPerCluster: UInt32 { UInt32(geometry.bytesPerCluster / FatDirectoryEntry.size) }

  /// Visits the slots of the directory whose chain starts at `first`, from
  /// `start` (after it when `skipFirst`), until `visit` returns true.
  func forEachSlot(
    of first: UInt32, from start: DirectoryPosition? = nil, skipFirst: Bool = false,
    _ visit: (DirectoryPosition, UnsafeRawPointer) -> Bool
  ) throws(Status) -> SlotScan {
    guard geometry.isDataCluster(first) else { throw .fileCorruptError }
    var position = start ?? DirectoryPosition(cluster: first, index: 0)
    var skip = skipFirst
    var slots: UInt32 = 0
    var loaded = UInt64.max
    while true {
      while position.index < slotsPerCluster {
        defer { position.index += 1 }
        if skip {
          skip = false
          continue
        }
        let (sector, offset) = location(of: position)
        if sector != loaded {
          try check(device.read(sector: sector, count: 1, into: directorySector))
          loaded = sector
        }
        slots += 1
        if visit(position, directorySector + offset) {
          return SlotScan(stopped: true, lastCluster: position.cluster, slots: slots)
        }
      }
      guard let next = try table.successor(of: position.cluster, &device) else {
        return SlotScan(stopped: false, lastCluster: position.cluster, slots: slots)
      }
      guard slots < UInt32(FatDirectoryEntry.maximumEntries) else { throw .fileCorruptError }
      position = DirectoryPosition(cluster: next, index: 0)
    }
  }

  /// Visits the live entries (long names assembled, "." and ".." left out)
  /// until the end marker, or until `visit` returns true; returns whether it did.
  func forEachRecord(
    of first: UInt32, from start: DirectoryPosition? = nil, skipFirst: Bool = false,
    _ visit: (DirectoryRecord) -> Bool
  ) throws(Status) -> Bool {
    var assembler = LongNameAssembler()
    var found = false
    _ = try forEachSlot(of: first, from: start, skipFirst: skipFirst) { position, slot in
      switch SlotKind(slot) {
      case .end: return true
      case .free, .volumeLabel, .dot: assembler.reset()
      case .longName: assembler.add(slot, at: position)
      case .entry:
        var record = DirectoryRecord(slot: slot, position: position)
        let (longStart, parts) = (assembler.start, assembler.parts)
        let sum = ShortName.checksum(UnsafeRawBufferPointer(start: slot, count: FatDirectoryEntry.nameLength))
        if let name = assembler.finish(shortChecksum: sum) {
          record.longName = name
          record.firstPosition = longStart
          record.slotCount = parts + 1
        }
        found = visit(record)
        return found
      }
      return false
    }
    return found
  }

  /// The entry of the directory at `first` whose long or 8.3 name is `name` (ASCII case folded).
  func lookup(_ name: [UInt16], in first: UInt32) throws(Status) -> DirectoryRecord? {
    var match: DirectoryRecord?
    _ = try forEachRecord(of: first) { record in
      guard namesMatch(record.longName, name) || namesMatch(ShortName.display(record.shortName, caseFlags: 0), name)
      else { return false }
      match = record
      return true
    }
    return match
  }

  /// Whether the directory at `first` holds nothing but "." and "..".
  func isEmptyDirectory(_ first: UInt32) throws(Status) -> Bool {
    !(try forEachRecord(of: first) { _ in true })
  }
}

// MARK: - Writing slots

extension FatVolume {
  /// The slot after `position` in its directory; a chain ending there is corrupt.
  func slot(after position: DirectoryPosition) throws(Status) -> DirectoryPosition {
    if position.index + 1 < slotsPerCluster {
      return DirectoryPosition(cluster: position.cluster, index: position.index + 1)
    }
    guard let next = try table.successor(of: position.cluster, &device) else { throw .fileCorruptError }
    return DirectoryPosition(cluster: next, index: 0)
  }

  /// Rewrites `count` consecutive slots from `start` through `change` (slot
  /// number, slot bytes), a sector at a time; returns the last slot's position.
  @discardableResult
  func modifySlots(
    from start: DirectoryPosition, count: UInt32, _ change: (UInt32, UnsafeMutableRawPointer) -> Void
  ) throws(Status) -> DirectoryPosition {
    var position = start
    var loaded = UInt64.max
    for number in 0..<count {
      if number > 0 { position = try slot(after: position) }
      let (sector, offset) = location(of: position)
      if sector != loaded {
        if loaded != UInt64.max { try check(device.write(sector: loaded, count: 1, from: directorySector)) }
        try check(device.read(sector: sector, count: 1, into: directorySector))
        loaded = sector
      }
      change(number, directorySector + offset)
    }
    if loaded != UInt64.max { try check(device.write(sector: loaded, count: 1, from: directorySector)) }
    return position
  }

  /// Finds `count` free consecutive slots in the directory at `first`.
  func findFreeSlots(_ count: UInt32, in first: UInt32) throws(Status) -> SlotRun {
    var run = SlotRun()
    var ended = false
    let scan = try forEachSlot(of: first) { position, slot in
      let kind = SlotKind(slot)
      if kind == .end { ended = true }
      guard ended || kind == .free else {
        run.start = nil
        run.length = 0
        return false
      }
      if run.length == 0 { run.start = position }
      run.length += 1
      return run.length == count
    }
    run.complete = scan.stopped
    run.lastCluster = scan.lastCluster
    run.slots = scan.slots
    return run
  }

  /// Makes room for `count` slots in the directory at `first` while making sure
  /// `extra` more clusters stay free for the caller: grows the directory by
  /// zeroed clusters if no free run is long enough. Returns the run's first slot.
  func reserveSlots(_ count: UInt32, in first: UInt32, extra: UInt32) throws(Status) -> DirectoryPosition {
    let run = try findFreeSlots(count, in: first)
    if run.complete, let start = run.start {
      guard try table.hasFree(extra, &device) else { throw .diskFull }
      return start
    }
    let growth = (count - run.length + slotsPerCluster - 1) / slotsPerCluster
    guard run.slots + growth * slotsPerCluster <= UInt32(FatDirectoryEntry.maximumEntries),
      try table.hasFree(extra + growth, &device)
    else { throw .diskFull }
    let added = try table.allocate(growth, after: run.lastCluster, &device)
    var cluster = added
    for number in 0..<growth {
      if number > 0 { cluster = try table.advance(from: cluster, steps: 1, &device) }
      try zeroCluster(cluster)
    }
    return run.start ?? DirectoryPosition(cluster: added, index: 0)
  }

  /// Writes whole slots (a multiple of 32 bytes) from `start`; returns the last one's position.
  func writeSlots(_ slots: [UInt8], at start: DirectoryPosition) throws(Status) -> DirectoryPosition {
    try modifySlots(from: start, count: UInt32(slots.count / FatDirectoryEntry.size)) { number, slot in
      let base = Int(number) * FatDirectoryEntry.size
      for offset in 0..<FatDirectoryEntry.size {
        slot.storeBytes(of: slots[base + offset], toByteOffset: offset, as: UInt8.self)
      }
    }
  }
}
