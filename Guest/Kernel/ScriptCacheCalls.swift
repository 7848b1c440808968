import GuestArch

/// CcFlushCache (ProcessHandle, FileHandle, FileOffset, Length) and
/// CcPurgeCacheSection (ProcessHandle, FileHandle, FileOffset, Length) on the
/// file's section, whole file when Length is 0 (a NULL FileOffset to NT).
/// Outputs: the bytes written (CcFlushCache's IO_STATUS_BLOCK.Information),
/// or whether the purge happened (it fails while a process's view maps the section).
func scriptCacheCall(_ call: ScriptCall, _ step: ScriptStepView, _ index: Int) -> UInt64 {
  guard let slot = FileObjects.slot(step.operand(1), process: index) else {
    return answer(handleStatus(step.operand(1), index, expecting: .file).rawValue)
  }
  let block = FileObjects.handles[slot]!.block
  let (offset, length) = (step.operand(2), step.operand(3))
  guard length == 0 || offset.addingReportingOverflow(length).overflow == false else {
    return answer(Status.invalidParameter.rawValue)
  }
  if call == .ccFlushCache {
    guard let pages = CacheManager.flush(block, offset: offset, length: length) else {
      return answer(Status.inPageError.rawValue)
    }
    step.output(0, pages << 12)
    return answer(Status.success.rawValue, outputs: 1)
  }
  step.output(0, CacheManager.purge(block, offset: offset, length: length) ? 1 : 0)
  return answer(Status.success.rawValue, outputs: 1)
}
