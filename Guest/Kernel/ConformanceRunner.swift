import GuestArch

// The hardware conformance runner (GuestABI ConformanceABI). The host sends
// cases; a block of up to 510 of them gets one PML4 slot each and the same
// index in one shared PDPT, PD and PT, written at CPL 3 while none of them is
// live (so every entry write runs natively on kvm-pvm), then one CR3 load and
// the accesses (Guest/Boot/conformance.S). The guest reports what happened;
// the host's X86Paging model judges it.

/// Frames the runner owns, taken at boot below the boot tables' identity map.
struct ConformanceFrames {
  var request: UInt64
  var results: UInt64
  /// The block's tables: its root and the PDPT, PD and PT every case shares.
  var root: UInt64
  var pointerTable: UInt64
  var directory: UInt64
  var pageTable: UInt64
  /// The user stack, the access list and the two target pages.
  var userStack: UInt64
  var accessList: UInt64
  var target: UInt64
  var secondTarget: UInt64
}

/// Pages of the user stack and of the access list (32 bytes per case).
private let userStackPages = 4
private let accessListPages = 4
/// Words per access-list entry (GuestABI `ConformanceAccessEntry`).
private let accessEntryWords = ConformanceAccessEntry.words
/// The access list's user address: just above the stack, below the code.
private let accessListBase = UserLayout.stackTop

/// The kernel address (top 2 GiB, mapped in the boot tables and in every
/// block's root) of physical `address`, as 64-bit words.
func conformanceWords(_ address: UInt64) -> UnsafeMutablePointer<UInt64> {
  UnsafeMutablePointer<UInt64>(bitPattern: UInt(address &+ KernelLayout.virtualOffset))!
}

/// Takes the runner's frames and builds the parts of the block root that never
/// change: the kernel (top 2 GiB, supervisor, no NX) and the runner's user
/// pages. Deprivileged boot pass; nil when frames run out.
func allocateConformanceFrames(frames: inout BootFrameAllocator) -> ConformanceFrames? {
  let requestPages = (ConformanceABI.requestBufferSize + 4095) / 4096
  let resultPages = (ConformanceABI.resultsBufferSize + 4095) / 4096
  guard let request = frames.allocateContiguous(requestPages), let results = frames.allocateContiguous(resultPages),
    let root = frames.allocateZeroed(), let pointerTable = frames.allocateZeroed(),
    let directory = frames.allocateZeroed(), let pageTable = frames.allocateZeroed(),
    let userStack = frames.allocateContiguous(userStackPages),
    let accessList = frames.allocateContiguous(accessListPages), let targets = frames.allocateContiguous(513)
  else { return nil }
  // The second target 2 MiB above the first (ConformanceABI.remapToSecondTarget);
  // the pages between stay unused.
  let target = targets
  let secondTarget = targets + (2 << 20)
  let runner = ConformanceFrames(
    request: request, results: results, root: root, pointerTable: pointerTable, directory: directory,
    pageTable: pageTable, userStack: userStack, accessList: accessList, target: target,
    secondTarget: secondTarget)
  guard mapConformanceKernel(root: root, frames: &frames), mapConformanceRunner(runner, frames: &frames) else {
    return nil
  }
  UnsafeMutablePointer<UInt8>(bitPattern: UInt(target &+ KernelLayout.virtualOffset))!.pointee = 0xC3  // RET
  return runner
}

/// Root slot 511: the first GiB of RAM at -2 GiB in 2 MiB pages, supervisor,
/// writable, executable, not global, so the kernel's code, stacks, IDT, GDT and
/// TSS work under every control a case sets (NX is reserved when EFER.NXE is
/// clear; SMEP and SMAP forbid user pages).
private func mapConformanceKernel(root: UInt64, frames: inout BootFrameAllocator) -> Bool {
  guard let pointerTable = frames.allocateZeroed(), let directory = frames.allocateZeroed() else { return false }
  let large = HardwarePTE.present | HardwarePTE.writable | HardwarePTE.accessed | HardwarePTE.dirty
  for index in 0..<512 {
    conformanceWords(directory)[index] = UInt64(index) << 21 | large | HardwarePTE.pageSize
  }
  let table = HardwarePTE.present | HardwarePTE.writable | HardwarePTE.accessed
  conformanceWords(pointerTable)[tableIndex(KernelLayout.virtualOffset, level: 3)] = directory | table
  conformanceWords(root)[511] = pointerTable | table
  return true
}

/// Root slot 255: the user code pages at `UserLayout.codeBase`, the user stack
/// below `UserLayout.stackTop` and the access list above it, user-accessible.
private func mapConformanceRunner(_ runner: ConformanceFrames, frames: inout BootFrameAllocator) -> Bool {
  guard let pointerTable = frames.allocateZeroed(), let directory = frames.allocateZeroed(),
    let table = frames.allocateZeroed()
  else { return false }
  let user = HardwarePTE.present | HardwarePTE.user | HardwarePTE.accessed
  let entries = conformanceWords(table)
  var page = arch_user_text_start()
  while page < arch_user_text_end() {
    entries[tableIndex(userAddress(ofUserCode: page), level: 1)] = kernelPhysical(page) | user
    page += 4096
  }
  for n in 0..<userStackPages {
    let address = UserLayout.stackTop - UInt64(userStackPages - n) * 4096
    entries[tableIndex(address, level: 1)] =
      runner.userStack + UInt64(n) * 4096 | user | HardwarePTE.writable | HardwarePTE.dirty
  }
  for n in 0..<accessListPages {
    entries[tableIndex(accessListBase + UInt64(n) * 4096, level: 1)] =
      runner.accessList + UInt64(n) * 4096 | user | HardwarePTE.writable | HardwarePTE.dirty
  }
  entries[tableIndex(ConformanceABI.userTargetAddress, level: 1)] = runner.target | user
  let link = user | HardwarePTE.writable
  conformanceWords(directory)[tableIndex(UserLayout.codeBase, level: 2)] = table | link
  conformanceWords(pointerTable)[tableIndex(UserLayout.codeBase, level: 3)] = directory | link
  conformanceWords(runner.root)[tableIndex(UserLayout.codeBase, level: 4)] = pointerTable | link
  return true
}

/// What one deprivileged build pass works on: the request, the block it
/// builds (from `first`; it sets `count` and `controls`) and the block before,
/// whose entries it reads back into the results and clears.
struct ConformanceBlock {
  var frames: ConformanceFrames
  var caseCount: Int
  var first = 0
  var count = 0
  var controls: UInt64 = 0
  var previousFirst = 0
  var previousCount = 0
}

/// The deprivileged build pass (CPL 3, boot tables): finishes the previous
/// block, then lays out the next one (nothing when `first` reached the end).
func buildConformanceBlock(_ block: UnsafeMutablePointer<ConformanceBlock>) {
  readBackConformanceBlock(block.pointee)
  let frames = block.pointee.frames
  // Write cases may have overwritten the markers tlb cases read.
  conformanceWords(frames.target)[Int(ConformanceABI.dataOffset / 8)] = ConformanceABI.targetMarker
  conformanceWords(frames.secondTarget)[Int(ConformanceABI.dataOffset / 8)] = ConformanceABI.secondTargetMarker
  let first = block.pointee.first
  let controls = conformanceCase(frames, first).controls
  var slots = ConformanceSlots()
  var events = ConformanceEventTracker(userMode: controls & ConformanceControls.userMode.rawValue != 0)
  var count = 0
  while first + count < block.pointee.caseCount {
    let record = conformanceCase(frames, first + count)
    guard record.controls == controls, let slot = slots.take(upper: record.access.upperHalf) else { break }
    let address = layOutConformanceCase(frames, record, index: first + count, slot: slot)
    conformanceWords(frames.results + UInt64((first + count) * ConformanceABI.resultSize))[
      ConformanceResultRecord.events / 8] = events.next(record).rawValue
    let entry = conformanceWords(frames.accessList) + accessEntryWords * count
    entry[ConformanceAccessEntry.address / 8] = record.access.controlWrite ? record.entries.0 : address
    entry[ConformanceAccessEntry.word / 8] = record.access.rawValue
    entry[ConformanceAccessEntry.argument0 / 8] =
      record.access.controlWrite ? record.entries.1 : leafEntryAddress(frames, record, slot: slot)
    entry[ConformanceAccessEntry.argument1 / 8] =
      record.access.controlWrite ? record.entries.2 : mutatedLeaf(frames, record)
    count += 1
  }
  block.pointee.count = count
  block.pointee.controls = controls
}

/// Follows a block's accesses in the order they run, for the facts the
/// result record's `events` word reports.
struct ConformanceEventTracker {
  let userMode: Bool
  /// A user access through an upper-half slot ran since CR3 was last loaded.
  var upperHalfTouched = false

  /// The events of `record`'s first attempt; a tlb case that reloads CR3
  /// between its attempts starts the count again for the cases after it.
  mutating func next(_ record: ConformanceCaseView) -> ConformanceResultEvents {
    var events: ConformanceResultEvents = []
    let access = record.access
    if userMode && access.upperHalf && !access.explicitAddress && !access.controlWrite && !upperHalfTouched {
      events.insert(.firstUserUpperHalfAccess)
      upperHalfTouched = true
    }
    if access.invalidation == .reloadRoot || access.invalidation == .reloadRootKeepingPCID {
      upperHalfTouched = false
    }
    return events
  }
}

/// Hands out a block's PML4 slots in order, per half; the read-back replays
/// the same sequence instead of storing it.
struct ConformanceSlots {
  var lower = 0
  var upper = 0

  /// The next free slot of the half asked for, nil when that half is full.
  mutating func take(upper wantsUpper: Bool) -> Int? {
    if wantsUpper {
      guard upper < ConformanceABI.slotsPerHalf else { return nil }
      upper += 1
      return ConformanceABI.blockSlot(upper - 1, upper: true)
    }
    guard lower < ConformanceABI.slotsPerHalf else { return nil }
    lower += 1
    return ConformanceABI.blockSlot(lower - 1, upper: false)
  }
}

/// One case record as the build pass reads it.
struct ConformanceCaseView {
  var entries: (UInt64, UInt64, UInt64, UInt64)
  var controls: UInt64
  var access: ConformanceAccessWord
  var mutation: UInt64

  /// The leaf level, held to 1...3 whatever the host wrote.
  var leafLevel: Int { min(max(access.leafLevel, 1), 3) }

  /// The flags of the entry at `depth` (0 = PML4E ... 3 = PTE).
  func flags(depth: Int) -> UInt64 {
    switch depth {
    case 0: return entries.0
    case 1: return entries.1
    case 2: return entries.2
    default: return entries.3
    }
  }
}

extension ConformanceFrames {
  /// The block's table at `depth` (0 = the root ... 3 = the PT).
  func blockTable(depth: Int) -> UInt64 {
    switch depth {
    case 0: return root
    case 1: return pointerTable
    case 2: return directory
    default: return pageTable
    }
  }
}

/// The kernel address (through -2 GiB) of the leaf entry of a case at `slot`.
private func leafEntryAddress(_ frames: ConformanceFrames, _ record: ConformanceCaseView, slot: Int) -> UInt64 {
  frames.blockTable(depth: 4 - record.leafLevel) + UInt64(slot * 8) + KernelLayout.virtualOffset
}

/// The leaf a tlb case stores between its attempts: the mutation's flags and
/// the target page it names.
private func mutatedLeaf(_ frames: ConformanceFrames, _ record: ConformanceCaseView) -> UInt64 {
  let second = record.mutation & ConformanceABI.remapToSecondTarget != 0
  let target = ConformanceABI.leafFrame(
    leafLevel: record.leafLevel, targetPhysical: second ? frames.secondTarget : frames.target)
  return record.mutation & ~ConformanceABI.remapToSecondTarget | target
}

/// Case `index` of the request in `frames`.
private func conformanceCase(_ frames: ConformanceFrames, _ index: Int) -> ConformanceCaseView {
  let words = conformanceWords(
    frames.request + UInt64(ConformanceABI.requestHeaderSize + index * ConformanceABI.caseSize))
  return ConformanceCaseView(
    entries: (words[0], words[1], words[2], words[3]), controls: words[4],
    access: ConformanceAccessWord(rawValue: words[5]), mutation: words[6])
}

/// Writes case `index`'s entries at `slot` of the block's tables (none for an
/// explicit-address case) and its result record's starting state; returns the
/// linear address the case accesses.
private func layOutConformanceCase(
  _ frames: ConformanceFrames, _ record: ConformanceCaseView, index: Int, slot: Int
) -> UInt64 {
  let result = conformanceWords(frames.results + UInt64(index * ConformanceABI.resultSize))
  let address = conformanceAddress(frames, record, slot: slot)
  result[0] = address
  result[1] = UInt64(ConformanceABI.noFault)
  result[2] = 0
  result[3] = UInt64(ConformanceABI.noFault)
  result[4] = 0
  for n in 5..<(ConformanceABI.resultSize / 8) { result[n] = 0 }
  guard !record.access.explicitAddress, !record.access.controlWrite else { return address }
  let leaf = record.leafLevel
  for depth in 0...(4 - leaf) {
    let next =
      depth == 4 - leaf
      ? ConformanceABI.leafFrame(leafLevel: leaf, targetPhysical: frames.target) : frames.blockTable(depth: depth + 1)
    conformanceWords(frames.blockTable(depth: depth))[slot] = record.flags(depth: depth) | next
  }
  return address
}

/// The linear address case `record` accesses from block slot `slot`.
private func conformanceAddress(_ frames: ConformanceFrames, _ record: ConformanceCaseView, slot: Int) -> UInt64 {
  if record.access.explicitAddress { return record.entries.0 }
  return ConformanceABI.linearAddress(
    slot: slot, leafLevel: record.leafLevel, targetPhysical: frames.target,
    kind: record.access.kind)
}

/// Copies the previous block's entries (with the A and D bits the accesses
/// left) into its results, and clears them for the next block.
private func readBackConformanceBlock(_ block: ConformanceBlock) {
  let frames = block.frames
  var slots = ConformanceSlots()
  for n in 0..<block.previousCount {
    let index = block.previousFirst + n
    let record = conformanceCase(frames, index)
    guard let slot = slots.take(upper: record.access.upperHalf) else { continue }
    let result = conformanceWords(frames.results + UInt64(index * ConformanceABI.resultSize))
    result[ConformanceResultRecord.valueRead / 8] =
      conformanceWords(frames.accessList)[accessEntryWords * n + ConformanceAccessEntry.argument0 / 8]
    guard !record.access.controlWrite else { continue }
    for depth in 0..<4 {
      let entries = conformanceWords(frames.blockTable(depth: depth))
      result[5 + depth] = entries[slot]
      entries[slot] = 0
    }
  }
}
