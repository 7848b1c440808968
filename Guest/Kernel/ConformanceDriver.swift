import GuestArch

/// Serves the host's conformance requests until an empty one: announces the
/// buffers and the CPU's features, then per request builds and runs its blocks
/// and stops at `conformanceReady` with the results written. Runs on the boot
/// tables (see `conformance_run`), and leaves the kernel's CR3 as it found it.
func serveConformance(_ frames: ConformanceFrames) {
  Hypercall.call(
    .region, GuestRegionKind.conformanceRequest.rawValue, frames.request,
    UInt64(ConformanceABI.requestBufferSize))
  Hypercall.call(
    .region, GuestRegionKind.conformanceResults.rawValue, frames.results,
    UInt64(ConformanceABI.resultsBufferSize))
  Hypercall.call(.region, GuestRegionKind.conformanceTarget.rawValue, frames.target, 4096)
  let kernelRoot = arch_read_cr3()
  arch_write_cr3(arch_boot_pml4())  // maps the runner's frames at -2 GiB + physical
  let header = conformanceWords(frames.request)
  header[ConformanceABI.requestFeatures / 8] = conformanceFeatures().rawValue
  header[ConformanceABI.requestTarget / 8] = frames.target
  header[ConformanceABI.requestMaxPhysicalBits / 8] = maxPhysicalAddressBits()
  while true {
    header[ConformanceABI.requestCaseCount / 8] = 0
    Hypercall.checkpoint(.conformanceReady)
    let count = min(Int(truncatingIfNeeded: header[ConformanceABI.requestCaseCount / 8]), ConformanceABI.capacity)
    if count <= 0 { break }
    serveConformanceRequest(frames, count: count, header: header)
  }
  arch_write_cr3(kernelRoot)
}

/// Runs the request's `count` cases block by block and records the ticks spent.
private func serveConformanceRequest(_ frames: ConformanceFrames, count: Int, header: UnsafeMutablePointer<UInt64>) {
  var block = ConformanceBlock(frames: frames, caseCount: count)
  let template = conformanceRunTemplate(frames)
  var accessTicks: UInt64 = 0
  var buildTicks: UInt64 = 0
  var blocks: UInt64 = 0
  while true {
    let start = arch_rdtsc()
    withUnsafeMutablePointer(to: &block) { pointer in
      runDeprivileged({ buildConformanceBlock($0!.assumingMemoryBound(to: ConformanceBlock.self)) }, pointer)
    }
    let built = arch_rdtsc()
    buildTicks &+= built &- start
    if block.count == 0 { break }
    var run = conformanceRun(template, frames, block)
    withUnsafePointer(to: &run) { conformance_run($0) }
    accessTicks &+= arch_rdtsc() &- built
    blocks += 1
    block.previousFirst = block.first
    block.previousCount = block.count
    block.first += block.count
  }
  header[ConformanceABI.requestAccessTicks / 8] = accessTicks
  header[ConformanceABI.requestBuildTicks / 8] = buildTicks
  header[ConformanceABI.requestBlocks / 8] = blocks
}

/// CR0, CR4 and EFER bits a block sets from its controls.
private let controlledCR0: UInt64 = 1 << 16  // WP
private let controlledCR4: UInt64 = (1 << 7) | (1 << 17) | (1 << 20) | (1 << 21) | (1 << 22)  // PGE PCIDE SMEP SMAP PKE
private let controlledEFER: UInt64 = 1 << 11  // NXE

/// The parts of every block's run that do not change, the controlled bits clear.
private func conformanceRunTemplate(_ frames: ConformanceFrames) -> ConformanceRun {
  var run = ConformanceRun()
  run.root = frames.root
  run.cr0 = arch_read_cr0() & ~controlledCR0
  run.cr4 = arch_read_cr4() & ~controlledCR4
  run.efer = arch_rdmsr(0xC000_0080) & ~controlledEFER
  run.userStack = UserLayout.stackTop
  run.userLoop = userAddress(ofUserCode: arch_conformance_user_loop())
  run.userFixup = userAddress(ofUserCode: arch_conformance_user_fixup())
  run.userDone = userAddress(ofUserCode: arch_conformance_user_done())
  run.userMutate = userAddress(ofUserCode: arch_conformance_user_mutate())
  return run
}

/// The template with the block's controls, access list and results.
private func conformanceRun(_ template: ConformanceRun, _ frames: ConformanceFrames, _ block: ConformanceBlock)
  -> ConformanceRun
{
  let controls = ConformanceControls(rawValue: block.controls)
  var run = template
  if controls.contains(.writeProtect) { run.cr0 |= 1 << 16 }
  if controls.contains(.globalPages) { run.cr4 |= 1 << 7 }
  if controls.contains(.pcid) { run.cr4 |= 1 << 17 }
  if controls.contains(.smep) { run.cr4 |= 1 << 20 }
  if controls.contains(.smap) { run.cr4 |= 1 << 21 }
  if controls.contains(.protectionKeys) { run.cr4 |= 1 << 22 }
  if controls.contains(.noExecuteEnable) { run.efer |= 1 << 11 }
  run.pkru = UInt64(controls.pkru)
  run.rflags = 0x2 | (controls.contains(.alignmentCheck) ? 1 << 18 : 0)
  run.accesses = frames.accessList &+ KernelLayout.virtualOffset
  run.userAccesses = UserLayout.stackTop
  run.count = UInt64(block.count)
  run.results = frames.results &+ UInt64(block.first * ConformanceABI.resultSize) &+ KernelLayout.virtualOffset
  run.userMode = controls.contains(.userMode) ? 1 : 0
  return run
}

/// The paging features CPUID reports.
private func conformanceFeatures() -> ConformanceFeatures {
  var a: UInt32 = 0
  var b: UInt32 = 0
  var c: UInt32 = 0
  var d: UInt32 = 0
  var features: ConformanceFeatures = []
  arch_cpuid(1, 0, &a, &b, &c, &d)
  if c & (1 << 17) != 0 { features.insert(.pcid) }
  if d & (1 << 13) != 0 { features.insert(.globalPages) }
  arch_cpuid(7, 0, &a, &b, &c, &d)
  if b & (1 << 7) != 0 { features.insert(.smep) }
  if b & (1 << 20) != 0 { features.insert(.smap) }
  if b & (1 << 10) != 0 { features.insert(.invpcid) }
  if c & (1 << 3) != 0 { features.insert(.protectionKeys) }
  if c & (1 << 16) != 0 { features.insert(.fiveLevelPaging) }
  arch_cpuid(0x8000_0001, 0, &a, &b, &c, &d)
  if d & (1 << 20) != 0 { features.insert(.noExecute) }
  if d & (1 << 26) != 0 { features.insert(.pages1GiB) }
  return features
}

/// MAXPHYADDR from CPUID.80000008H:EAX[7:0].
private func maxPhysicalAddressBits() -> UInt64 {
  var a: UInt32 = 0
  var b: UInt32 = 0
  var c: UInt32 = 0
  var d: UInt32 = 0
  arch_cpuid(0x8000_0008, 0, &a, &b, &c, &d)
  return UInt64(a & 0xFF)
}
