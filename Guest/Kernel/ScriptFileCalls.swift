import GuestArch

/// The script's NT file calls in process `index` (its address space loaded),
/// operands in the order Sources/Script/Calls.swift lists them (operand 0,
/// the process, resolved already). The I/O is non-cached (no Cc yet): whole
/// sectors, to sector-aligned buffers, straight between the disk and the
/// process's pages. A bad call returns its status having changed nothing.
func scriptFileCall(_ call: ScriptCall, _ step: ScriptStepView, _ index: Int, _ mm: MemoryManager) -> UInt64 {
  let status: Status
  switch call {
  case .createFile:
    return ntCreateFile(
      step, index, access: step.operand(1), name: step.operand(2), attributes: step.operand(3), share: step.operand(4),
      disposition: step.operand(5), options: step.operand(6))
  case .openFile:
    return ntCreateFile(
      step, index, access: step.operand(1), name: step.operand(2), attributes: 0, share: step.operand(3),
      disposition: UInt64(FileCreateDisposition.open.rawValue), options: step.operand(4))
  case .readFile, .writeFile: return ntReadWriteFile(step, index, mm, write: call == .writeFile)
  case .queryInformationFile: return ntQueryInformationFile(step, index)
  case .setInformationFile: status = ntSetInformationFile(step, index)
  case .flushBuffersFile: status = ntFlushBuffersFile(step, index)
  default:
    guard let slot = FileObjects.slot(step.operand(1), process: index) else {
      return answer(Status.invalidHandle.rawValue)
    }
    status = FileObjects.close(slot: slot)
  }
  return answer(status.rawValue)
}

/// NtCreateFile's checks of its flags (IoCreateFile's), before any name is looked at.
private func checkCreateParameters(_ access: FileAccessMask, _ share: UInt64, _ disposition: UInt64, _ options: UInt64)
  -> Status?
{
  let create = FileCreateOptions(rawValue: UInt32(truncatingIfNeeded: options))
  guard share & ~UInt64(FileShareAccess.valid.rawValue) == 0, options >> 32 == 0,
    create.isSubset(of: .valid), disposition <= UInt64(FileCreateDisposition.overwriteIf.rawValue),
    !create.isSuperset(of: [.directoryFile, .nonDirectoryFile])
  else { return .invalidParameter }
  if create.contains(.directoryFile) {
    let allowed: [UInt64] = [1, 2, 3]  // FILE_OPEN, FILE_CREATE, FILE_OPEN_IF
    guard allowed.contains(disposition) else { return .invalidParameter }
  }
  if create.contains(.deleteOnClose), !access.contains(.delete) { return .invalidParameter }
  return nil
}

/// NtCreateFile / NtOpenFile: outputs FileHandle and IO_STATUS_BLOCK.Information.
private func ntCreateFile(
  _ step: ScriptStepView, _ index: Int, access rawAccess: UInt64, name: UInt64, attributes: UInt64, share: UInt64,
  disposition: UInt64, options: UInt64
) -> UInt64 {
  let access = FileAccessMask(rawValue: UInt32(truncatingIfNeeded: rawAccess)).mapped
  if let bad = checkCreateParameters(access, share, disposition, options) { return answer(bad.rawValue) }
  guard attributes & ~0x7FA7 == 0 else { return answer(Status.invalidParameter.rawValue) }
  let path: [UInt16]
  switch objectPath(name) {
  case .failure(let status): return answer(status.rawValue)
  case .success(let volumePath): path = volumePath
  }
  guard let volume = FileSystem.volume else { return answer(FileSystem.unavailable.rawValue) }
  guard FileObjects.hasRoom else { return answer(Status.insufficientResources.rawValue) }
  let create = FileCreateOptions(rawValue: UInt32(truncatingIfNeeded: options))
  let shareAccess = FileShareAccess(rawValue: UInt32(truncatingIfNeeded: share))
  let file: FatFile
  let information: FileCreateResult
  switch openOrCreate(volume, path, FileCreateDisposition(rawValue: UInt32(disposition))!, create, access, shareAccess)
  {
  case .failure(let status): return answer(status.rawValue)
  case .success(let opened): (file, information) = opened
  }
  let handle = FileObjects.open(
    file, process: index, access: access, share: shareAccess, deleteOnClose: create.contains(.deleteOnClose),
    cached: !create.contains(.noIntermediateBuffering))
  step.output(0, handle)
  step.output(1, information.rawValue)
  return answer(Status.success.rawValue, outputs: 2)
}

/// What the disposition does with the file that is, or is not, at `path`.
private func openOrCreate(
  _ volume: FatVolume<DiskBlockDevice>, _ path: [UInt16], _ disposition: FileCreateDisposition,
  _ options: FileCreateOptions, _ access: FileAccessMask, _ share: FileShareAccess
) -> Result<(FatFile, FileCreateResult), Status> {
  do throws(Status) {
    var file = try volume.open(path)
    if disposition == .create { return .failure(.objectNameCollision) }
    if options.contains(.directoryFile), !file.isDirectory { return .failure(.notADirectory) }
    if options.contains(.nonDirectoryFile), file.isDirectory { return .failure(.fileIsADirectory) }
    if let open = FileObjects.block(for: file) {
      guard FileObjects.blocks[open]!.allows(access, share) else { return .failure(.sharingViolation) }
      file = FileObjects.blocks[open]!.file
    }
    switch disposition {
    case .open, .openIf: return .success((file, .opened))
    default:
      guard !file.isDirectory else { return .failure(.objectNameCollision) }
      try volume.setEndOfFile(&file, to: 0)
      if let open = FileObjects.block(for: file) { FileObjects.blocks[open]!.file = file }
      return .success((file, disposition == .supersede ? .superseded : .overwritten))
    }
  } catch .objectNameNotFound {
    guard disposition != .open, disposition != .overwrite else { return .failure(.objectNameNotFound) }
    do throws(Status) {
      return .success((try volume.create(path, isDirectory: options.contains(.directoryFile)), .created))
    } catch {
      return .failure(error)
    }
  } catch {
    return .failure(error)
  }
}

/// The path on the volume an ObjectName operand names (`FileObjectNames.prefixes`), as UTF-16 units.
private func objectPath(_ operand: UInt64) -> Result<[UInt16], Status> {
  let offset = Int(operand & 0xFFFF_FFFF)
  let length = Int(operand >> 32)
  guard let frames = scriptSession, length > 0, length <= FileObjectNames.maximumNameBytes,
    offset <= ScriptABI.stringsCapacity - length
  else { return .failure(.invalidParameter) }
  let bytes = UnsafeRawPointer(
    bitPattern: UInt(PhysicalWindow.virtualAddress(frames.request) + UInt64(ScriptABI.stringsOffset + offset)))!
  guard let units = utf16(bytes.assumingMemoryBound(to: UInt8.self), length) else {
    return .failure(.objectNameInvalid)
  }
  for prefix in FileObjectNames.prefixes where hasPrefix(units, prefix) {
    let rest = Array(units[prefix.utf8CodeUnitCount...])
    guard rest.isEmpty || rest[0] == 0x5C else { return .failure(.objectNameInvalid) }
    return .success(rest)
  }
  return .failure(units.first == 0x5C ? .objectPathNotFound : .objectPathSyntaxBad)
}

/// UTF-8 to UTF-16 (a malformed sequence: nil).
private func utf16(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> [UInt16]? {
  var units: [UInt16] = []
  var at = 0
  while at < count {
    let lead = UInt32(bytes[at])
    let extra = lead < 0x80 ? 0 : lead >> 5 == 6 ? 1 : lead >> 4 == 14 ? 2 : lead >> 3 == 30 ? 3 : -1
    guard extra >= 0, at + extra < count else { return nil }
    var scalar = extra == 0 ? lead : lead & (0x3F >> UInt32(extra))
    for n in 0..<extra {
      let next = UInt32(bytes[at + 1 + n])
      guard next >> 6 == 2 else { return nil }
      scalar = scalar << 6 | next & 0x3F
    }
    if scalar >= 0x1_0000 {
      units.append(UInt16(0xD800 + ((scalar - 0x1_0000) >> 10)))
      units.append(UInt16(0xDC00 + ((scalar - 0x1_0000) & 0x3FF)))
    } else {
      units.append(UInt16(scalar))
    }
    at += 1 + extra
  }
  return units
}

/// Whether `units` starts with `prefix`, ASCII letters in either case.
private func hasPrefix(_ units: [UInt16], _ prefix: StaticString) -> Bool {
  guard units.count >= prefix.utf8CodeUnitCount else { return false }
  for n in 0..<prefix.utf8CodeUnitCount {
    func fold(_ unit: UInt16) -> UInt16 { unit >= 0x61 && unit <= 0x7A ? unit - 0x20 : unit }
    if fold(units[n]) != fold(UInt16(prefix.utf8Start[n])) { return false }
  }
  return true
}
