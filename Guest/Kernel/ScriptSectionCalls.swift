import GuestArch

/// The script's section calls in process `index` (its address space loaded),
/// operands in the order Sources/Script/Calls.swift lists them. A bad call
/// returns Windows' status having changed nothing.
func scriptSectionCall(_ call: ScriptCall, _ step: ScriptStepView, _ index: Int, _ mm: MemoryManager) -> UInt64 {
  switch call {
  case .createSection: return ntCreateSection(step, index, mm)
  case .openSection: return ntOpenSection(step, index)
  case .mapViewOfSection: return ntMapViewOfSection(step, index, mm)
  case .unmapViewOfSection:
    let r = mm.processes[index].memory.unmapView(baseAddress: step.operand(1))
    return answer(r.status.rawValue)
  case .querySection: return ntQuerySection(step, index)
  case .extendSection: return ntExtendSection(step, index)
  default: return ntFlushVirtualMemory(step, index, mm)
  }
}

/// The UTF-8 bytes of a name operand (0: no name); nil when it is not a valid string operand.
private func objectName(_ operand: UInt64) -> [UInt8]?? {
  if operand == 0 { return .some(nil) }
  let offset = Int(operand & 0xFFFF_FFFF)
  let length = Int(operand >> 32)
  guard let frames = scriptSession, length > 0, length <= FileObjectNames.maximumNameBytes,
    offset <= ScriptABI.stringsCapacity - length
  else { return nil }
  let bytes = UnsafePointer<UInt8>(
    bitPattern: UInt(PhysicalWindow.virtualAddress(frames.request) + UInt64(ScriptABI.stringsOffset + offset)))!
  return .some(Array(UnsafeBufferPointer(start: bytes, count: length)))
}

/// Operands past the step record's eighth (`ScriptCall.createSection`'s note): `count` UInt64s.
private func spilledOperands(_ operand: UInt64, count: Int) -> [UInt64]? {
  let offset = Int(operand & 0xFFFF_FFFF)
  guard let frames = scriptSession, Int(operand >> 32) == count * 8, offset <= ScriptABI.stringsCapacity - count * 8
  else { return nil }
  let base = PhysicalWindow.virtualAddress(frames.request) + UInt64(ScriptABI.stringsOffset + offset)
  return (0..<count).map {
    UnsafeRawPointer(bitPattern: UInt(base))!.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)
  }
}

/// NtCreateSection (ProcessHandle, DesiredAccess, ObjectName, MaximumSize,
/// SectionPageProtection, AllocationAttributes, FileHandle): a data section of
/// the file (one control area per file), or with no FileHandle one backed by
/// the page file. Output: SectionHandle.
private func ntCreateSection(_ step: ScriptStepView, _ index: Int, _ mm: MemoryManager) -> UInt64 {
  let access = SectionAccessMask(rawValue: UInt32(truncatingIfNeeded: step.operand(1))).mapped
  guard let name = objectName(step.operand(2)) else { return answer(Status.objectNameInvalid.rawValue) }
  var backing = SectionBacking.pageFile
  var block: Int? = nil
  if step.operand(6) != 0 {
    guard let slot = FileObjects.slot(step.operand(6), process: index), let entry = FileObjects.handles[slot] else {
      return answer(handleStatus(step.operand(6), index, expecting: .file).rawValue)
    }
    guard entry.access.contains(.readData), let fcb = FileObjects.blocks[entry.block], !fcb.file.isDirectory else {
      return answer(Status.accessDenied.rawValue)
    }
    block = entry.block
    backing = .file(size: fcb.file.size, writable: entry.access.contains(.writeData))
  }
  let checked = SectionRules.create(
    maximumSize: step.operand(3), protect: UInt32(truncatingIfNeeded: step.operand(4)),
    attributes: UInt32(truncatingIfNeeded: step.operand(5)), backing: backing,
    commitLimitPages: mm.database.availablePages, prototypeLimitPages: SegmentLayout.maximumPages)
  guard case .success(let plan) = checked else {
    if case .failure(let status) = checked { return answer(status.rawValue) }
    return answer(Status.invalidParameter.rawValue)
  }
  if let name, SectionObjects.named(name) != nil { return answer(Status.objectNameCollision.rawValue) }
  guard SectionObjects.hasRoom else { return answer(Status.insufficientResources.rawValue) }
  let made = block.map { dataSection($0, plan) } ?? pageFileSection(plan, step.operand(5))
  guard case .success(let controlArea) = made else {
    if case .failure(let status) = made { return answer(status.rawValue) }
    return answer(Status.invalidParameter.rawValue)
  }
  let object = SectionObject(
    controlArea: controlArea, size: plan.size, protection: plan.protection, pageFileBacked: block == nil, name: name)
  step.output(0, SectionObjects.insert(object, process: index, access: access))
  return answer(Status.success.rawValue, outputs: 1)
}

/// A page-file-backed control area for `plan`.
private func pageFileSection(_ plan: SectionPlan, _ attributes: UInt64) -> Result<Int, Status> {
  let reserve = SectionAttributes(rawValue: UInt32(truncatingIfNeeded: attributes)).contains(.reserve)
  guard
    let slot = ControlAreas.create(
      size: plan.size, protection: plan.protection, fileBlock: nil, fileSize: 0, reserve: reserve)
  else { return .failure(.insufficientResources) }
  return .success(slot)
}

/// The file's data section: its control area if it has one (one more section
/// object on it), else a new one covering the file, grown first when the
/// section is larger than the file.
private func dataSection(_ block: Int, _ plan: SectionPlan) -> Result<Int, Status> {
  if let slot = FileObjects.blocks[block]!.dataSection {
    guard plan.size <= ControlAreas.areas[slot]!.segment.pages << 12 else { return .failure(.sectionTooBig) }
    return ControlAreas.addSection(slot) ? .success(slot) : .failure(.accessDenied)
  }
  guard let volume = FileSystem.volume else { return .failure(.objectPathNotFound) }
  if plan.extendsFile {
    do throws(Status) { try volume.setEndOfFile(&FileObjects.blocks[block]!.file, to: plan.size) } catch {
      return .failure(error)
    }
  }
  let size = FileObjects.blocks[block]!.file.size
  guard
    let slot = ControlAreas.create(
      size: size, protection: plan.protection, fileBlock: block, fileSize: size, reserve: false)
  else { return .failure(.insufficientResources) }
  FileObjects.blocks[block]!.dataSection = slot
  ControlAreas.publish(slot)
  return .success(slot)
}

/// NtOpenSection (ProcessHandle, DesiredAccess, ObjectName): a handle on the named section.
private func ntOpenSection(_ step: ScriptStepView, _ index: Int) -> UInt64 {
  let access = SectionAccessMask(rawValue: UInt32(truncatingIfNeeded: step.operand(1))).mapped
  guard let name = objectName(step.operand(2)), let name else { return answer(Status.objectNameInvalid.rawValue) }
  guard let object = SectionObjects.named(name) else { return answer(Status.objectNameNotFound.rawValue) }
  guard SectionObjects.hasRoom else { return answer(Status.insufficientResources.rawValue) }
  step.output(0, SectionObjects.open(object, process: index, access: access))
  return answer(Status.success.rawValue, outputs: 1)
}

/// NtMapViewOfSection (ProcessHandle, SectionHandle, BaseAddress, ZeroBits,
/// CommitSize, SectionOffset, ViewSize, then from the strings area
/// InheritDisposition, AllocationType, Win32Protect). Outputs: BaseAddress, ViewSize.
private func ntMapViewOfSection(_ step: ScriptStepView, _ index: Int, _ mm: MemoryManager) -> UInt64 {
  let checked = checkedView(step, index)
  guard case .success(let view) = checked else { return answer(checked.failureStatus.rawValue) }
  let r = mm.processes[index].memory.mapView(
    controlArea: ControlAreas.recordPhysical(view.area), plan: view.plan, baseAddress: step.operand(2))
  step.output(0, r.base)
  step.output(1, r.size)
  return answer(r.status.rawValue, outputs: 2)
}

/// NtMapViewOfSection with ProcessHandle "System" (MmMapViewInSystemSpace):
/// the SectionHandle is its holder's, the checks every view gets come first,
/// then system space's own (`SystemViewSpace.refusal`). Outputs: BaseAddress, ViewSize.
func ntMapViewInSystemSpace(_ step: ScriptStepView) -> UInt64 {
  let holder = SectionObjects.holder(step.operand(1)) ?? MemoryManager.booted("ntMapViewInSystemSpace").currentProcess
  let checked = checkedView(step, holder ?? 0)
  guard case .success(let view) = checked else { return answer(checked.failureStatus.rawValue) }
  if let refusal = SystemViewSpace.refusal(
    of: view.plan, baseAddress: step.operand(2), allocationType: view.allocationType)
  {
    return answer(refusal.rawValue)
  }
  let mapped = SystemViews.map(view.area, plan: view.plan)
  guard case .success(let placed) = mapped else { return answer(mapped.failureStatus.rawValue) }
  step.output(0, placed.base)
  step.output(1, placed.pages << 12)
  return answer(Status.success.rawValue, outputs: 2)
}

/// The checks every NtMapViewOfSection gets, in process `index`'s handle
/// table: the section's control area slot, the view's plan and the AllocationType.
private func checkedView(_ step: ScriptStepView, _ index: Int) -> Result<
  (area: Int, plan: ViewPlan, allocationType: UInt32), Status
> {
  guard let slot = SectionObjects.slot(step.operand(1), process: index), let entry = SectionObjects.handles[slot],
    let object = SectionObjects.objects[entry.object]
  else { return .failure(handleStatus(step.operand(1), index, expecting: .section)) }
  guard let rest = spilledOperands(step.operand(7), count: 3) else { return .failure(.invalidParameter) }
  let summary = SectionSummary(size: object.size, protection: object.protection, pageFileBacked: object.pageFileBacked)
  let allocationType = UInt32(truncatingIfNeeded: rest[1])
  let checked = SectionRules.mapView(
    summary, baseAddress: step.operand(2), zeroBits: step.operand(3), commitSize: step.operand(4),
    sectionOffset: step.operand(5), viewSize: step.operand(6), inheritDisposition: UInt32(truncatingIfNeeded: rest[0]),
    allocationType: allocationType, protect: UInt32(truncatingIfNeeded: rest[2]))
  guard case .success(let plan) = checked else { return .failure(checked.failureStatus) }
  guard entry.access.isSuperset(of: SectionAccessMask.needed(forView: plan.protection)) else {
    return .failure(.accessDenied)
  }
  return .success((object.controlArea, plan, allocationType))
}

extension Result where Failure == Status {
  /// The failure's status (STATUS_INVALID_PARAMETER for a success, which callers never ask).
  var failureStatus: Status {
    if case .failure(let status) = self { return status }
    return .invalidParameter
  }
}

/// The calls a script makes with ProcessHandle "System" (`SectionHandles.systemProcess`):
/// a view in system space, its unmap (MmUnmapViewInSystemSpace: any address in
/// the view) and a Touch at CPL 0. Any other call is STATUS_INVALID_HANDLE: the
/// handle names no process.
func scriptSystemSpaceCall(_ call: ScriptCall, _ step: ScriptStepView) -> UInt64 {
  switch call {
  case .mapViewOfSection: return ntMapViewInSystemSpace(step)
  case .unmapViewOfSection: return answer(SystemViews.unmap(step.operand(1)).rawValue)
  case .touch:
    guard step.operand(3) <= 2 else { return answer(ScriptStatus.invalidParameter) }
    let (status, fault, done) = SystemViews.touch(step.operand(1), pages: step.operand(2), access: step.operand(3))
    step.output(0, fault)
    step.output(1, done)
    // Two outputs, not prepareTouch's three: the interpreter stores this answer and runs no routine.
    return answer(status.rawValue, outputs: 2)
  default: return answer(ScriptStatus.invalidHandle)
  }
}

/// NtFlushVirtualMemory (ProcessHandle, BaseAddress, RegionSize): the view's
/// pages the process wrote (D set in its PTEs) are noted modified, and every
/// modified page of the range goes to the file. Outputs: BaseAddress, RegionSize.
private func ntFlushVirtualMemory(_ step: ScriptStepView, _ index: Int, _ mm: MemoryManager) -> UInt64 {
  let r = mm.processes[index].memory.viewPagesToFlush(baseAddress: step.operand(1), regionSize: step.operand(2))
  guard r.status == .success, let slot = ControlAreas.slot(at: r.controlArea) else { return answer(r.status.rawValue) }
  guard ControlAreas.flush(slot, first: r.firstSectionPage, last: r.lastSectionPage) != nil else {
    return answer(Status.inPageError.rawValue)  // STATUS_IN_PAGE_ERROR: what a failed flush write returns
  }
  step.output(0, r.base)
  step.output(1, r.size)
  return answer(Status.success.rawValue, outputs: 2)
}

/// The object types a script handle may name.
enum ScriptHandleType { case file, section }

/// Why `handle` is not an open handle of `expected` type in process `index`:
/// STATUS_OBJECT_TYPE_MISMATCH when it is one of the other type, else
/// STATUS_INVALID_HANDLE (ObReferenceObjectByHandle's two refusals).
func handleStatus(_ handle: UInt64, _ index: Int, expecting expected: ScriptHandleType) -> Status {
  let isFile = FileObjects.slot(handle, process: index).map { FileObjects.handles[$0] != nil } ?? false
  let isSection = SectionObjects.slot(handle, process: index).map { SectionObjects.handles[$0] != nil } ?? false
  let other = expected == .file ? isSection : isFile
  return other ? .objectTypeMismatch : .invalidHandle
}
