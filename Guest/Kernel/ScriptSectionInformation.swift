import GuestArch

/// The section object `handle` names in process `index`, with its handle's entry; nil when it names none.
private func sectionObject(_ handle: UInt64, _ index: Int) -> (SectionHandleEntry, SectionObject)? {
  guard let slot = SectionObjects.slot(handle, process: index), let entry = SectionObjects.handles[slot],
    let object = SectionObjects.objects[entry.object]
  else { return nil }
  return (entry, object)
}

/// What the query and extend rules judge of `object` through a handle granted `entry.access`.
private func sectionFacts(_ entry: SectionHandleEntry, _ object: SectionObject) -> SectionFacts {
  let summary = SectionSummary(size: object.size, protection: object.protection, pageFileBacked: object.pageFileBacked)
  return SectionFacts(summary: summary, reserve: ControlAreas.areas[object.controlArea]!.reserve, granted: entry.access)
}

/// NtQuerySection (ProcessHandle, SectionHandle, SectionInformationClass):
/// SectionBasicInformation's BaseAddress, AllocationAttributes, MaximumSize.
func ntQuerySection(_ step: ScriptStepView, _ index: Int) -> UInt64 {
  guard UInt32(exactly: step.operand(2)).flatMap(SectionInformationClass.init(rawValue:)) != nil else {
    return answer(Status.invalidInfoClass.rawValue)  // NT checks the class before the handle
  }
  guard let (entry, object) = sectionObject(step.operand(1), index) else {
    return answer(handleStatus(step.operand(1), index, expecting: .section).rawValue)
  }
  switch SectionRules.query(sectionFacts(entry, object), informationClass: step.operand(2)) {
  case .failure(let status): return answer(status.rawValue)
  case .success(let information):
    step.output(0, information.baseAddress)
    step.output(1, UInt64(information.allocationAttributes))
    step.output(2, information.maximumSize)
    return answer(Status.success.rawValue, outputs: 3)
  }
}

/// NtExtendSection (ProcessHandle, SectionHandle, NewSectionSize): a data
/// section grows, and its file with it where the file is shorter
/// (FsRtlSetFileSize, then CcSetFileSizes). Output: NewSectionSize.
func ntExtendSection(_ step: ScriptStepView, _ index: Int) -> UInt64 {
  guard let (entry, object) = sectionObject(step.operand(1), index) else {
    return answer(handleStatus(step.operand(1), index, expecting: .section).rawValue)
  }
  switch SectionRules.extend(sectionFacts(entry, object), newSize: step.operand(2)) {
  case .failure(let status): return answer(status.rawValue)
  case .success(.unchanged(let size)):
    step.output(0, size)
    return answer(Status.success.rawValue, outputs: 1)
  case .success(.grow(let size)):
    let status = growDataSection(object.controlArea, to: size)
    guard status == .success else { return answer(status.rawValue) }
    SectionObjects.objects[entry.object]!.size = size
    step.output(0, size)
    return answer(Status.success.rawValue, outputs: 1)
  }
}

/// The file of data section `slot` made at least `size` bytes long and the
/// segment grown over it; on a failure the file is as it was.
private func growDataSection(_ slot: Int, to size: UInt64) -> Status {
  guard let block = ControlAreas.areas[slot]!.fileBlock, let volume = FileSystem.volume else {
    kernelPanic("growDataSection", "not a data section")
  }
  var file = FileObjects.blocks[block]!.file
  let oldSize = file.size
  if size > oldSize {
    do throws(Status) { try volume.setEndOfFile(&file, to: size) } catch { return error }
    FileObjects.blocks[block]!.file = file
  }
  guard CacheManager.grow(block, to: max(size, oldSize)) == .success else {
    do throws(Status) { try volume.setEndOfFile(&file, to: oldSize) } catch {
      kernelPanic("growDataSection", "the file cannot shrink back")
    }
    FileObjects.blocks[block]!.file = file
    return .insufficientResources
  }
  return .success
}
