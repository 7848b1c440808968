#if canImport(GuestABI)
  import GuestABI
#endif
#if canImport(GuestMm)
  import GuestMm
#endif

/// One direction of a transfer between a file's clusters and memory.
enum Transfer {
  case read(UnsafeMutableRawPointer)
  case write(UnsafeRawPointer)
  /// Writes zeros (nothing in memory).
  case zero

  /// The same transfer `bytes` further along in memory.
  func advanced(by bytes: Int) -> Transfer {
    switch self {
    case .read(let pointer): return .read(pointer + bytes)
    case .write(let pointer): return .write(pointer + bytes)
    case .zero: return .zero
    }
  }
}

/// File data: NtReadFile, NtWriteFile, NtSetInformationFile's end of file, and
/// the zeroing NT's valid data length asks for. Bytes from the valid data
/// length to the end of file are never read from the disk: they may be what a
/// freed cluster held, so they read as zeros until written or until close.
extension FatVolume {
  /// Reads from `offset` into `buffer`: returns the bytes read, fewer when the
  /// end of file comes first; STATUS_END_OF_FILE when `offset` is at or after it.
  public func read(_ file: inout FatFile, at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer)
    throws(Status) -> Int
  {
    guard !file.isDirectory else { throw .fileIsADirectory }
    guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
    guard offset < file.size else { throw .endOfFile }
    let count = Int(min(UInt64(buffer.count), file.size - offset))
    let valid = offset < file.validDataLength ? Int(min(UInt64(count), file.validDataLength - offset)) : 0
    if valid > 0 { try transfer(&file, at: offset, count: valid, .read(base)) }
    if valid < count { (base + valid).initializeMemory(as: UInt8.self, repeating: 0, count: count - valid) }
    return count
  }

  /// Writes `buffer` at `offset`, extending the file (and its allocation) as
  /// needed; zeros go first over the gap from the valid data length. STATUS_DISK_FULL,
  /// with nothing changed, when the clusters are not there or the file would pass 4 GiB.
  public func write(_ file: inout FatFile, at offset: UInt64, from buffer: UnsafeRawBufferPointer)
    throws(Status) -> Int
  {
    guard !file.isDirectory else { throw .fileIsADirectory }
    guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
    let (end, overflow) = offset.addingReportingOverflow(UInt64(buffer.count))
    guard !overflow, end <= fatMaximumFileSize else { throw .diskFull }
    try finish { () throws(Status) in
      let before = (file.size, file.firstCluster)
      try allocate(&file, toCover: end)
      if offset > file.validDataLength {
        try transfer(&file, at: file.validDataLength, count: Int(offset - file.validDataLength), .zero)
      }
      try transfer(&file, at: offset, count: buffer.count, .write(base))
      file.validDataLength = max(file.validDataLength, end)
      file.size = max(file.size, end)
      if before != (file.size, file.firstCluster) { try commit(file) }
    }
    return buffer.count
  }

  /// Sets the end of file (FileEndOfFileInformation): a longer file gets its
  /// clusters now and keeps its valid data length; a shorter one frees the
  /// clusters past the new end (all of them, and its first cluster, at 0).
  public func setEndOfFile(_ file: inout FatFile, to size: UInt64) throws(Status) {
    guard !file.isDirectory else { throw .fileIsADirectory }
    guard size <= fatMaximumFileSize else { throw .diskFull }
    try finish { () throws(Status) in
      if size > file.size { try allocate(&file, toCover: size) } else { try release(&file, keeping: size) }
      file.size = size
      file.validDataLength = min(file.validDataLength, size)
      try commit(file)
    }
  }

  /// The last close of a file (IRP_MJ_CLEANUP): zeros from the valid data
  /// length to the end of file reach the disk, so no stale byte stays visible.
  public func close(_ file: inout FatFile) throws(Status) {
    guard !file.isDirectory, file.validDataLength < file.size else { return }
    try transfer(&file, at: file.validDataLength, count: Int(file.size - file.validDataLength), .zero)
    file.validDataLength = file.size
  }

  /// Clusters holding `size` bytes.
  func clusters(for size: UInt64) -> UInt32 {
    let bytes = UInt64(geometry.bytesPerCluster)
    return UInt32((size + bytes - 1) / bytes)
  }

  /// Grows the file's chain to hold `size` bytes, all new clusters found before any is taken.
  func allocate(_ file: inout FatFile, toCover size: UInt64) throws(Status) {
    let needed = clusters(for: size)
    guard needed > file.allocatedClusters else { return }
    let tail =
      file.allocatedClusters == 0
      ? 0 : try table.cluster(at: file.allocatedClusters - 1, from: file.firstCluster, cursor: &file.cursor, &device)
    let first = try table.allocate(needed - file.allocatedClusters, after: tail, &device)
    if file.firstCluster == 0 { file.firstCluster = first }
    file.allocatedClusters = needed
  }

  /// Frees the chain past what `size` bytes need (a chain longer than the size
  /// needed, as a hostile volume may have, loses its excess too).
  func release(_ file: inout FatFile, keeping size: UInt64) throws(Status) {
    let keep = clusters(for: size)
    guard keep < file.allocatedClusters else { return }
    if keep == 0 {
      try table.freeChain(from: file.firstCluster, &device)
      file.firstCluster = 0
    } else {
      let last = try table.cluster(at: keep - 1, from: file.firstCluster, cursor: &file.cursor, &device)
      guard let rest = try table.successor(of: last, &device) else { throw .fileCorruptError }
      _ = try table.chainLength(from: rest, &device)
      try table.setEntry(last, FatEntry.endOfChain, &device)
      try table.freeChain(from: rest, &device)
    }
    file.allocatedClusters = keep
    if file.cursor.index >= keep { file.cursor = ChainCursor() }
  }

  /// Puts the file's FAT changes, then its size and first cluster, on the disk.
  func commit(_ file: FatFile) throws(Status) {
    try table.writeBack(&device)
    guard let entry = file.entry else { return }
    let size = UInt32(truncatingIfNeeded: file.size)
    try modifySlots(from: entry, count: 1) { _, slot in
      storeEntryCluster(slot, file.firstCluster)
      storeLittle32(slot, FatDirectoryEntry.fileSize, file.isDirectory ? 0 : size)
    }
  }
}

// MARK: - Moving bytes

extension FatVolume {
  /// Moves `count` bytes of the file from `offset` (inside its allocation), a cluster at a time.
  func transfer(_ file: inout FatFile, at offset: UInt64, count: Int, _ kind: Transfer) throws(Status) {
    let clusterBytes = UInt64(geometry.bytesPerCluster)
    var done = 0
    while done < count {
      let position = offset + UInt64(done)
      let within = Int(position % clusterBytes)
      let index = UInt32(position / clusterBytes)
      let cluster = try table.cluster(at: index, from: file.firstCluster, cursor: &file.cursor, &device)
      let run = try contiguousRun(&file, from: index, cluster: cluster, within: within, left: count - done, kind)
      try transfer(in: cluster, at: within, count: run, kind.advanced(by: done))
      done += run
    }
  }

  /// Bytes from `within` in cluster number `index` (the chain's `cluster`) that lie in
  /// one run of consecutive clusters, at most `left`: one device request moves them.
  /// Zeroing stays a cluster at a time (its source is one cluster of zeros).
  private func contiguousRun(
    _ file: inout FatFile, from index: UInt32, cluster: UInt32, within: Int, left: Int, _ kind: Transfer
  ) throws(Status) -> Int {
    let clusterBytes = geometry.bytesPerCluster
    var run = min(left, clusterBytes - within)
    if case .zero = kind { return run }
    var next = index
    while run < left, next + 1 < file.allocatedClusters, run < 1 << 20 {
      next += 1
      let following = try table.cluster(at: next, from: file.firstCluster, cursor: &file.cursor, &device)
      guard following == cluster &+ (next - index) else { break }
      run += min(left - run, clusterBytes)
    }
    return run
  }

  /// Moves bytes inside one cluster: whole sectors straight to or from memory,
  /// the partial ones at either end through the bounce sector.
  private func transfer(in cluster: UInt32, at within: Int, count: Int, _ kind: Transfer) throws(Status) {
    let sectorSize = FatBootSector.sectorSize
    var sector = geometry.firstSector(of: cluster) + UInt64(within / sectorSize)
    var skip = within % sectorSize
    var done = 0
    while done < count {
      if skip != 0 || count - done < sectorSize {
        let piece = min(sectorSize - skip, count - done)
        try partialSector(sector, at: skip, count: piece, kind.advanced(by: done))
        done += piece
        sector += 1
        skip = 0
      } else {
        let sectors = (count - done) / sectorSize
        try wholeSectors(sector, count: sectors, kind.advanced(by: done))
        done += sectors * sectorSize
        sector += UInt64(sectors)
      }
    }
  }

  /// Part of one sector: read it, then copy out, or patch and write it back.
  private func partialSector(_ sector: UInt64, at offset: Int, count: Int, _ kind: Transfer) throws(Status) {
    try check(device.read(sector: sector, count: 1, into: bounce))
    switch kind {
    case .read(let pointer):
      pointer.copyMemory(from: bounce + offset, byteCount: count)
      return
    case .write(let pointer): (bounce + offset).copyMemory(from: pointer, byteCount: count)
    case .zero: (bounce + offset).initializeMemory(as: UInt8.self, repeating: 0, count: count)
    }
    try check(device.write(sector: sector, count: 1, from: bounce))
  }

  /// Whole sectors of one cluster (the zero cluster covers the longest run).
  private func wholeSectors(_ sector: UInt64, count: Int, _ kind: Transfer) throws(Status) {
    switch kind {
    case .read(let pointer): try check(device.read(sector: sector, count: count, into: pointer))
    case .write(let pointer): try check(device.write(sector: sector, count: count, from: pointer))
    case .zero: try check(device.write(sector: sector, count: count, from: zeros))
    }
  }
}
