import GuestArch

/// NtReadFile / NtWriteFile (ProcessHandle, FileHandle, Buffer, Length,
/// ByteOffset): output Information, the bytes moved. Through Cc for a handle
/// opened for cached I/O; otherwise non-cached, as with
/// FILE_NO_INTERMEDIATE_BUFFERING: offset, length and buffer in whole sectors
/// (what Cc holds of the file written first, and for a write purged).
func ntReadWriteFile(_ step: ScriptStepView, _ index: Int, _ mm: MemoryManager, write: Bool) -> UInt64 {
  guard let slot = FileObjects.slot(step.operand(1), process: index), let volume = FileSystem.volume else {
    return answer(handleStatus(step.operand(1), index, expecting: .file).rawValue)
  }
  let entry = FileObjects.handles[slot]!
  let (buffer, length, offset) = (step.operand(2), step.operand(3), step.operand(4))
  var file = FileObjects.blocks[entry.block]!.file
  guard !file.isDirectory else { return answer(Status.invalidDeviceRequest.rawValue) }
  let needed: FileAccessMask = write ? [.writeData, .appendData] : [.readData]
  guard !entry.access.isDisjoint(with: needed) else { return answer(Status.accessDenied.rawValue) }
  guard length > 0 else { return transferred(step, 0) }
  if entry.cached { return cachedReadWrite(step, entry.block, write, buffer, length, offset, index, mm) }
  if FileObjects.blocks[entry.block]!.cacheMap {
    guard CacheManager.flush(entry.block) != nil else { return answer(Status.inPageError.rawValue) }
    if write, !CacheManager.purge(entry.block) { return answer(Status.userMappedFile.rawValue) }
  }
  let sector = FileObjectNames.sectorSize
  guard offset % sector == 0, length % sector == 0, buffer % sector == 0, length <= 1 << 31 else {
    return answer(Status.invalidParameter.rawValue)
  }
  if !write, offset >= file.size { return answer(Status.endOfFile.rawValue) }
  if let bad = lockUserBuffer(buffer, length, write ? .read : .write, index, mm) { return answer(bad.rawValue) }
  let moved: Int
  do throws(Status) {
    let raw = UnsafeMutableRawPointer(bitPattern: UInt(buffer))!
    moved =
      write
      ? try volume.write(&file, at: offset, from: UnsafeRawBufferPointer(start: raw, count: Int(length)))
      : try volume.read(&file, at: offset, into: UnsafeMutableRawBufferPointer(start: raw, count: Int(length)))
  } catch {
    FileObjects.blocks[entry.block]!.file = file
    return answer(error.rawValue)
  }
  FileObjects.blocks[entry.block]!.file = file
  return transferred(step, UInt64(moved))
}

/// The cached path: any offset and length; a read stops at the end of file,
/// a write past it extends the file first (and the section with it).
private func cachedReadWrite(
  _ step: ScriptStepView, _ block: Int, _ write: Bool, _ buffer: UInt64, _ length: UInt64, _ offset: UInt64,
  _ index: Int, _ mm: MemoryManager
) -> UInt64 {
  guard let volume = FileSystem.volume, length <= 1 << 31 else { return answer(Status.invalidParameter.rawValue) }
  let size = FileObjects.blocks[block]!.file.size
  if !write, offset >= size { return answer(Status.endOfFile.rawValue) }
  let (end, overflow) = offset.addingReportingOverflow(length)
  guard !overflow else { return answer(Status.invalidParameter.rawValue) }
  let count = write ? length : min(length, size - offset)
  if let bad = lockUserBuffer(buffer, count, write ? .read : .write, index, mm) { return answer(bad.rawValue) }
  if write, end > size {
    do throws(Status) { try volume.setEndOfFile(&FileObjects.blocks[block]!.file, to: end) } catch {
      return answer(error.rawValue)
    }
  }
  let ready = CacheManager.initialize(block, size: FileObjects.blocks[block]!.file.size)
  guard ready == .success else { return answer(ready.rawValue) }
  switch CacheManager.copy(block, write: write, offset: offset, length: count, buffer: buffer) {
  case .failure(let status): return answer(status.rawValue)
  case .success(let moved): return transferred(step, moved)
  }
}

private func transferred(_ step: ScriptStepView, _ bytes: UInt64) -> UInt64 {
  step.output(0, bytes)
  return answer(Status.success.rawValue, outputs: 1)
}

/// MmProbeAndLockPages for the buffer: first every page is checked (committed,
/// its protection allowing `access`, no guard) without changing anything, then
/// the pages not resident are faulted in. The access the device makes: a
/// read from the file writes memory.
func lockUserBuffer(
  _ buffer: UInt64, _ length: UInt64, _ access: MemoryAccess, _ index: Int, _ mm: MemoryManager
)
  -> Status?
{
  let (end, overflow) = buffer.addingReportingOverflow(length)
  guard !overflow, buffer >= UserAddressSpace.lowest, end <= UserAddressSpace.end else { return .accessViolation }
  var page = buffer & ~0xFFF
  while page < end {
    guard let code = mm.processes[index].memory.committedProtection(at: page) else { return .accessViolation }
    if ProtectionRules.isGuard(code) { return .guardPageViolation }
    // A write-copy page takes the device's write as a write (its copy is made when faulted in below).
    guard ProtectionRules.allows(code, access) else { return .accessViolation }
    page += 4096
  }
  page = buffer & ~0xFFF
  while page < end {
    let pte =
      DiskBlockDevice.physical(page) == nil ? 0 : arch_load64(KernelLayout.selfMapEntryAddress(of: page, level: 1))
    if pte & HardwarePTE.present == 0 || (access == .write && pte & HardwarePTE.writable == 0) {
      let resolution = mm.processes[index].memory.resolveFault(page, access: access, userMode: true)
      guard case .resolved = resolution else { return resolution.status }
    }
    page += 4096
  }
  return nil
}

/// NtQueryInformationFile (ProcessHandle, FileHandle, FileInformationClass):
/// FileStandardInformation's fields as outputs.
func ntQueryInformationFile(_ step: ScriptStepView, _ index: Int) -> UInt64 {
  guard let slot = FileObjects.slot(step.operand(1), process: index), let volume = FileSystem.volume else {
    return answer(handleStatus(step.operand(1), index, expecting: .file).rawValue)
  }
  guard step.operand(2) == UInt64(FileInformationClass.standard.rawValue) else {
    return answer(Status.invalidInfoClass.rawValue)
  }
  let block = FileObjects.blocks[FileObjects.handles[slot]!.block]!
  step.output(0, UInt64(block.file.allocatedClusters) * UInt64(volume.geometry.bytesPerCluster))
  step.output(1, block.file.size)
  step.output(2, 1)
  step.output(3, block.deleteOnClose ? 1 : 0)
  step.output(4, block.file.isDirectory ? 1 : 0)
  return answer(Status.success.rawValue, outputs: 5)
}

/// NtSetInformationFile (ProcessHandle, FileHandle, FileInformationClass, EndOfFile): FileEndOfFileInformation.
func ntSetInformationFile(_ step: ScriptStepView, _ index: Int) -> Status {
  guard let slot = FileObjects.slot(step.operand(1), process: index), let volume = FileSystem.volume else {
    return handleStatus(step.operand(1), index, expecting: .file)
  }
  guard step.operand(2) == UInt64(FileInformationClass.endOfFile.rawValue) else { return .invalidInfoClass }
  let entry = FileObjects.handles[slot]!
  guard entry.access.contains(.writeData) else { return .accessDenied }
  var file = FileObjects.blocks[entry.block]!.file
  guard !file.isDirectory else { return .invalidParameter }
  let size = step.operand(3)
  if let slot = FileObjects.blocks[entry.block]!.dataSection, size < file.size {
    let area = ControlAreas.areas[slot]!
    // A view of a process maps the section: the file may not shrink under it.
    if area.counts.mappedViews > SystemCache.viewCount(slot) { return .userMappedFile }
    if !CacheManager.purge(entry.block) { return .userMappedFile }
  }
  do throws(Status) { try volume.setEndOfFile(&file, to: size) } catch { return error }
  FileObjects.blocks[entry.block]!.file = file
  if let slot = FileObjects.blocks[entry.block]!.dataSection {
    if size < ControlAreas.areas[slot]!.fileSize {
      ControlAreas.fileShrank(slot, to: size)
    } else if CacheManager.grow(entry.block, to: size) != .success {
      return .insufficientResources
    }
  }
  return .success
}

/// NtFlushBuffersFile (ProcessHandle, FileHandle): the FAT, FSInfo and the disk's cache.
func ntFlushBuffersFile(_ step: ScriptStepView, _ index: Int) -> Status {
  guard let slot = FileObjects.slot(step.operand(1), process: index), let volume = FileSystem.volume else {
    return handleStatus(step.operand(1), index, expecting: .file)
  }
  guard !FileObjects.handles[slot]!.access.isDisjoint(with: [.writeData, .appendData]) else { return .accessDenied }
  do throws(Status) { try volume.flush() } catch { return error }
  return .success
}
