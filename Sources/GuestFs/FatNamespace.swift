#if canImport(GuestABI)
  import GuestABI
#endif
#if canImport(GuestMm)
  import GuestMm
#endif

/// A path relative to the volume's root: components separated by `\` (or
/// `/`), an optional leading separator, and a trailing one that asks for a directory.
struct PathName {
  var components: [[UInt16]] = []
  var trailingSeparator = false

  /// Splits and checks `path` (UTF-16 units): an empty component or an
  /// invalid name is STATUS_OBJECT_NAME_INVALID. "" and "\" are the root.
  init(_ path: [UInt16]) throws(Status) {
    var current: [UInt16] = []
    for (index, unit) in path.enumerated() {
      guard unit == UInt16(UInt8(ascii: "\\")) || unit == UInt16(UInt8(ascii: "/")) else {
        current.append(unit)
        continue
      }
      if index == 0 { continue }
      guard LongName.isValid(current) else { throw .objectNameInvalid }
      components.append(current)
      current = []
      trailingSeparator = index == path.count - 1
    }
    if !current.isEmpty {
      guard LongName.isValid(current) else { throw .objectNameInvalid }
      components.append(current)
    }
  }
}

/// Names: opening, creating and deleting by path, and enumerating directories.
extension FatVolume {
  /// Opens the file or directory at `path`. A missing last component is
  /// STATUS_OBJECT_NAME_NOT_FOUND; a missing directory, or a file, on the
  /// way there is STATUS_OBJECT_PATH_NOT_FOUND.
  public func open(_ path: [UInt16]) throws(Status) -> FatFile {
    let name = try PathName(path)
    let parent = try directory(of: name)
    guard let last = name.components.last else { return parent }
    guard let record = try lookup(last, in: parent.firstCluster) else { throw .objectNameNotFound }
    let file = try file(for: record, parent: parent.firstCluster)
    guard file.isDirectory || !name.trailingSeparator else { throw .objectNameInvalid }
    return file
  }

  /// The directory holding the last component of `name` (the root for the root itself).
  func directory(of name: PathName) throws(Status) -> FatFile {
    var directory = try root()
    for component in name.components.dropLast() {
      guard let record = try lookup(component, in: directory.firstCluster), record.isDirectory else {
        throw .objectPathNotFound
      }
      directory = try file(for: record, parent: directory.firstCluster)
    }
    return directory
  }

  /// The open file a directory record names, once its chain proves to hold the
  /// file's size; a chain the size does not fit in is a corrupt file.
  func file(for record: DirectoryRecord, parent: UInt32) throws(Status) -> FatFile {
    if record.firstCluster == 0 {
      guard !record.isDirectory, record.size == 0 else { throw .fileCorruptError }
      return FatFile(record, parent: parent, clusters: 0)
    }
    let clusters = try table.chainLength(from: record.firstCluster, &device)
    let capacity = UInt64(clusters) * UInt64(geometry.bytesPerCluster)
    guard record.isDirectory || UInt64(record.size) <= capacity else { throw .fileCorruptError }
    return FatFile(record, parent: parent, clusters: clusters)
  }

  /// Creates a file (empty) or a directory (with "." and "..") at `path`:
  /// STATUS_OBJECT_NAME_COLLISION when the name exists, STATUS_DISK_FULL with
  /// nothing changed when the directory cannot grow or no cluster is free.
  public func create(_ path: [UInt16], isDirectory: Bool) throws(Status) -> FatFile {
    let name = try PathName(path)
    guard let last = name.components.last else { throw .objectNameCollision }
    guard isDirectory || !name.trailingSeparator else { throw .objectNameInvalid }
    let parent = try directory(of: name)
    guard try lookup(last, in: parent.firstCluster) == nil else { throw .objectNameCollision }
    let short = try shortName(for: last, in: parent.firstCluster)
    var slots = short.needsLongName ? encodeLongName(last, shortName: short.name) : []
    let count = UInt32(slots.count / FatDirectoryEntry.size) + 1
    return try finish { () throws(Status) -> FatFile in
      let start = try reserveSlots(count, in: parent.firstCluster, extra: isDirectory ? 1 : 0)
      let first = isDirectory ? try makeDirectory(in: parent) : 0
      var entry = [UInt8](repeating: 0, count: FatDirectoryEntry.size)
      let attributes = isDirectory ? FatAttribute.directory : FatAttribute.archive
      entry.withUnsafeMutableBytes { slot in
        encodeShortEntry(
          slot.baseAddress!, name: short.name, attributes: attributes, caseFlags: short.caseFlags, firstCluster: first,
          size: 0)
      }
      slots += entry
      let position = try writeSlots(slots, at: start)
      var record = entry.withUnsafeBytes { DirectoryRecord(slot: $0.baseAddress!, position: position) }
      record.firstPosition = start
      record.slotCount = count
      return FatFile(record, parent: parent.firstCluster, clusters: isDirectory ? 1 : 0)
    }
  }

  /// A new directory's cluster: zeroed, with "." (itself) and ".." (its parent, 0 for the root).
  private func makeDirectory(in parent: FatFile) throws(Status) -> UInt32 {
    let cluster = try table.allocate(1, after: 0, &device)
    try zeroCluster(cluster)
    let dots: [[UInt8]] = [Array(".          ".utf8), Array("..         ".utf8)]
    let targets = [cluster, parent.isRoot ? 0 : parent.firstCluster]
    try modifySlots(from: DirectoryPosition(cluster: cluster, index: 0), count: 2) { number, slot in
      encodeShortEntry(
        slot, name: dots[Int(number)], attributes: FatAttribute.directory, caseFlags: 0,
        firstCluster: targets[Int(number)], size: 0)
    }
    return cluster
  }

  /// Deletes a file, or a directory holding nothing (else STATUS_DIRECTORY_NOT_EMPTY):
  /// its slots become free and its clusters return to the FAT.
  public func delete(_ file: FatFile) throws(Status) {
    guard file.entry != nil else { throw .cannotDelete }
    if file.isDirectory {
      guard try isEmptyDirectory(file.firstCluster) else { throw .directoryNotEmpty }
    }
    try finish { () throws(Status) in
      // Measured before anything changes, so a damaged chain leaves the entry in place.
      if file.firstCluster != 0 { _ = try table.chainLength(from: file.firstCluster, &device) }
      try modifySlots(from: file.firstEntry, count: file.entrySlots) { _, slot in
        slot.storeBytes(of: FatDirectoryEntry.freeMarker, as: UInt8.self)
      }
      if file.firstCluster != 0 { try table.freeChain(from: file.firstCluster, &device) }
    }
  }

  /// Deletes what `path` names.
  public func delete(_ path: [UInt16]) throws(Status) {
    try delete(try open(path))
  }

  /// The next entry of `directory` after `cursor` (STATUS_NO_MORE_FILES after the last).
  public func nextEntry(in directory: FatFile, cursor: inout DirectoryCursor) throws(Status) -> DirectoryEntryInfo {
    guard directory.isDirectory else { throw .notADirectory }
    var found: DirectoryRecord?
    _ = try forEachRecord(of: directory.firstCluster, from: cursor.last, skipFirst: cursor.last != nil) { record in
      found = record
      return true
    }
    guard let record = found else { throw .noMoreFiles }
    cursor.last = record.position
    return DirectoryEntryInfo(record)
  }

  /// Every entry of `directory`, in directory order.
  public func list(_ directory: FatFile) throws(Status) -> [DirectoryEntryInfo] {
    var cursor = DirectoryCursor()
    var entries: [DirectoryEntryInfo] = []
    while true {
      do throws(Status) {
        entries.append(try nextEntry(in: directory, cursor: &cursor))
      } catch {
        if error == .noMoreFiles { return entries }
        throw error
      }
    }
  }
}

// MARK: - Short names for new entries

extension FatVolume {
  /// The 8.3 name a new entry called `name` gets in the directory at `first`:
  /// the name itself when it is a short name (its case in DIR_NTRes), else its
  /// basis, with the lowest "~N" tail no entry uses when the basis loses
  /// characters or is taken. Long-name slots go with every name but the first kind.
  func shortName(for name: [UInt16], in first: UInt32) throws(Status) -> (
    name: [UInt8], caseFlags: UInt8, needsLongName: Bool
  ) {
    let (basis, lossless) = LongName.basis(name)
    if lossless, let flags = LongName.caseFlags(name, basis: basis) { return (basis, flags, false) }
    var used = [Bool](repeating: false, count: 1000)
    var basisTaken = false
    _ = try forEachRecord(of: first) { record in
      if record.shortName == basis { basisTaken = true }
      if let number = tailNumber(record.shortName, basis: basis), number < used.count { used[number] = true }
      return false
    }
    if lossless && !basisTaken { return (basis, 0, true) }
    for number in 1..<used.count where !used[number] { return (LongName.tailed(basis, number), 0, true) }
    throw .objectNameCollision
  }

  /// N when `shortName` is `basis` with the tail "~N".
  private func tailNumber(_ shortName: [UInt8], basis: [UInt8]) -> Int? {
    var tilde = 0
    while tilde < 8 && shortName[tilde] != UInt8(ascii: "~") { tilde += 1 }
    guard tilde < 7 else { return nil }
    var number = 0
    var digits = 0
    for index in (tilde + 1)..<8 {
      let byte = shortName[index]
      if byte == UInt8(ascii: " ") { break }
      guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 6 else { return nil }
      number = number * 10 + Int(byte - UInt8(ascii: "0"))
      digits += 1
    }
    guard digits > 0, number > 0, LongName.tailed(basis, number) == shortName else { return nil }
    return number
  }
}
