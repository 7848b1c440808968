import GuestArch

/// The guest's volume (the FAT32 file system on disk 0, drive C:), mounted
/// when the disks start; what NtCreateFile answers when there is none.
enum FileSystem {
  static var volume: FatVolume<DiskBlockDevice>? = nil
  /// Why there is no volume: no disk (the object manager has no C:), or a disk that is not FAT32.
  static var unavailable: Status = .objectPathNotFound

  /// Mounts disk 0 if it holds a FAT32 volume; a disk that does not is still usable raw.
  static func mount() {
    guard !DiskSystem.disks.isEmpty else { return }
    do throws(Status) {
      volume = try FatVolume.mount(DiskBlockDevice(index: 0))
      Console.write("fat: C: mounted\n")
    } catch {
      unavailable = .unrecognizedVolume
    }
  }

  /// Before the guest exits: every handle closed (its valid data length zeroed out), the FAT and FSInfo written.
  static func shutdown() {
    ControlAreas.flushAll()
    for slot in 0..<FileObjects.handles.count where FileObjects.handles[slot] != nil {
      _ = FileObjects.close(slot: slot)
    }
    FileObjects.closeSectionFiles()
    guard let volume else { return }
    do throws(Status) { try volume.flush() } catch { kernelPanic("FileSystem.shutdown", "the volume would not flush") }
  }
}

/// One open file or directory, shared by every handle that opens it (NT's
/// FCB): its GuestFs state and IoCheckShareAccess's counts.
struct FileControlBlock {
  var file: FatFile
  var handles = 0
  /// Opens that asked for read, write or delete access, and those that share each.
  var openCount = 0, readers = 0, writers = 0, deleters = 0
  var sharedRead = 0, sharedWrite = 0, sharedDelete = 0
  var deleteOnClose = false
  /// The file's data section (its control area's slot): it keeps the file open after the last handle closes.
  var dataSection: Int? = nil
  /// Cc caches the file (its shared cache map): Cc holds a section reference on `dataSection`.
  var cacheMap = false

  /// IoCheckShareAccess: whether an open with `access` and `share` fits the opens there are.
  func allows(_ access: FileAccessMask, _ share: FileShareAccess) -> Bool {
    let (read, write, delete) = Self.kinds(access)
    guard read || write || delete else { return true }
    if read && sharedRead < openCount || write && sharedWrite < openCount || delete && sharedDelete < openCount {
      return false
    }
    return
      !(readers > 0 && !share.contains(.read) || writers > 0 && !share.contains(.write)
      || deleters > 0 && !share.contains(.delete))
  }

  /// IoSetShareAccess / IoRemoveShareAccess: `sign` 1 adds the open, -1 removes it.
  mutating func count(_ access: FileAccessMask, _ share: FileShareAccess, _ sign: Int) {
    let (read, write, delete) = Self.kinds(access)
    guard read || write || delete else { return }
    openCount += sign
    if read { readers += sign }
    if write { writers += sign }
    if delete { deleters += sign }
    if share.contains(.read) { sharedRead += sign }
    if share.contains(.write) { sharedWrite += sign }
    if share.contains(.delete) { sharedDelete += sign }
  }

  static func kinds(_ access: FileAccessMask) -> (Bool, Bool, Bool) {
    (
      !access.isDisjoint(with: [.readData, .execute]), !access.isDisjoint(with: [.writeData, .appendData]),
      access.contains(.delete)
    )
  }
}

/// One handle: the process whose table holds it, its file, what it was granted.
struct FileHandleEntry {
  var process: Int
  var block: Int
  var access: FileAccessMask
  var share: FileShareAccess
  /// Reads and writes go through Cc (the file was opened without FILE_NO_INTERMEDIATE_BUFFERING).
  var cached: Bool
}

/// The guest's open files and their handles (`FileObjectNames.firstHandle`, multiples of four).
enum FileObjects {
  static var blocks: [FileControlBlock?] = []
  static var handles: [FileHandleEntry?] = []

  /// The slot of `handle` if process `process` holds it.
  static func slot(_ handle: UInt64, process: Int) -> Int? {
    let offset = handle &- FileObjectNames.firstHandle
    guard handle >= FileObjectNames.firstHandle, offset & 3 == 0, offset >> 2 < UInt64(handles.count),
      let entry = handles[Int(offset >> 2)], entry.process == process
    else { return nil }
    return Int(offset >> 2)
  }

  /// The open block of the file at `position` (nil: the root), if one is open.
  static func block(for file: FatFile) -> Int? {
    blocks.firstIndex { $0 != nil && $0!.file.entry == file.entry && $0!.file.isRoot == file.isRoot }
  }

  /// Whether another handle fits.
  static var hasRoom: Bool {
    handles.count < FileObjectNames.handleCapacity || handles.contains { $0 == nil }
  }

  /// A new handle on `file` (its block shared if open); the handle value.
  static func open(
    _ file: FatFile, process: Int, access: FileAccessMask, share: FileShareAccess, deleteOnClose: Bool, cached: Bool
  ) -> UInt64 {
    let index = block(for: file) ?? insert(FileControlBlock(file: file), into: &blocks)
    blocks[index]!.handles += 1
    blocks[index]!.count(access, share, 1)
    if deleteOnClose { blocks[index]!.deleteOnClose = true }
    let entry = FileHandleEntry(process: process, block: index, access: access, share: share, cached: cached)
    let slot = insert(entry, into: &handles)
    return FileObjectNames.firstHandle + UInt64(slot) * 4
  }

  private static func insert<T>(_ value: T, into list: inout [T?]) -> Int {
    if let free = list.firstIndex(where: { $0 == nil }) {
      list[free] = value
      return free
    }
    list.append(value)
    return list.count - 1
  }

  /// Closes the handle in `slot`; the last handle of a file cleans it up (valid
  /// data length zeroed out, deleted if asked at open) and writes the FAT.
  static func close(slot: Int) -> Status {
    guard let entry = handles[slot], FileSystem.volume != nil else { return .invalidHandle }
    handles[slot] = nil
    blocks[entry.block]!.handles -= 1
    blocks[entry.block]!.count(entry.access, entry.share, -1)
    guard blocks[entry.block]!.handles == 0 else { return .success }
    CacheManager.uninitialize(entry.block)  // may close the file with its section
    guard blocks[entry.block] != nil, blocks[entry.block]!.dataSection == nil else { return .success }
    return closeBlock(entry.block)
  }

  /// At shutdown, after every handle closed: the files sections still hold close too.
  static func closeSectionFiles() {
    for index in 0..<blocks.count where blocks[index] != nil { _ = closeBlock(index) }
  }

  /// The file's data section went: with no handle left the file closes now.
  static func releaseSection(block index: Int) {
    blocks[index]!.dataSection = nil
    if blocks[index]!.handles == 0 { _ = closeBlock(index) }
  }

  /// Closes FCB `index`, which no handle and no section uses any more: its
  /// valid data length zeroed out, deleted if asked at open, the FAT written.
  private static func closeBlock(_ index: Int) -> Status {
    guard var block = blocks[index], let volume = FileSystem.volume else { return .invalidHandle }
    blocks[index] = nil
    do throws(Status) {
      try volume.close(&block.file)
      if block.deleteOnClose, !block.file.isRoot { try volume.delete(block.file) }
      try volume.flush()
    } catch {
      return error
    }
    return .success
  }
}
