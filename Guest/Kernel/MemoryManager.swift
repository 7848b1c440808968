import GuestArch

/// The guest Mm's state once boot is over: the PFN database, the kernel's
/// address space, the process table and the process whose address space
/// CR3 holds. One instance, allocated at boot; `MemoryManager` is the handle on it.
struct MemoryManagerState {
  let database: KernelFrameDatabase
  let space: KernelAddressSpace
  let debugBlockPhysical: UInt64
  var processes: [Process] = []
  var currentProcess: Int? = nil
}

/// The one owner of the guest Mm's state, reached through `booted(_:)`; what
/// needs it is handed it. A handle: copying it copies a pointer. (A class
/// would cost a retain and a release per use, and on kvm-pvm each is a
/// locked increment at CPL 0 that KVM emulates; the script gate reaches
/// this for every call.)
struct MemoryManager {
  let state: UnsafeMutablePointer<MemoryManagerState>

  var database: KernelFrameDatabase { state.pointee.database }
  var space: KernelAddressSpace { state.pointee.space }
  var debugBlockPhysical: UInt64 { state.pointee.debugBlockPhysical }
  /// The process table, read and edited in place.
  var processes: [Process] {
    _read { yield state.pointee.processes }
    nonmutating _modify { yield &state.pointee.processes }
  }
  /// The process whose address space CR3 holds (an index into `processes`), nil for the kernel's.
  var currentProcess: Int? { state.pointee.currentProcess }

  private static var instance: UnsafeMutablePointer<MemoryManagerState>? = nil

  /// Makes the state boot built the one `booted` returns (`kernelMain`, once).
  static func install(database: KernelFrameDatabase, space: KernelAddressSpace, debugBlockPhysical: UInt64) {
    if instance != nil { kernelPanic("MemoryManager.install", "booted twice") }
    let state = UnsafeMutablePointer<MemoryManagerState>.allocate(capacity: 1)
    state.initialize(to: MemoryManagerState(database: database, space: space, debugBlockPhysical: debugBlockPhysical))
    instance = state
  }

  /// Whether boot has built the memory manager (the trap path asks before it needs it).
  static var isBooted: Bool { instance != nil }

  /// The memory manager; traps "function: not booted" before boot built it.
  static func booted(_ function: StaticString) -> MemoryManager {
    guard let instance else { kernelPanic(function, "not booted") }
    return MemoryManager(state: instance)
  }
}

extension MemoryManager {
  /// A new process with an empty user half and the kernel half shared; nil
  /// when pages run out or the process table is full (nothing is left behind).
  func createProcess() -> Process? {
    guard processes.count < MetadataPage.processSlots else { return nil }
    guard let root = database.allocatePage(zeroed: true) else { return nil }
    guard let vads = database.allocatePage(zeroed: true) else {
      database.insertTail(root, into: .free)
      return nil
    }
    let id = UInt16(processes.count + 1)
    shareKernelHalf(into: root << 12)
    labelRoot(root, owner: id)
    let table = UnsafeMutableRawPointer(bitPattern: UInt(PhysicalWindow.virtualAddress(vads << 12)))!
    database.record(vads).owner = id
    let process = Process(
      id: id, rootPhysical: root << 12, vadTablePhysical: vads << 12,
      memory: VirtualMemory(
        backend: ProcessAddressSpace(database: database, owner: id),
        vads: VadTableView.format(table, byteCount: Process.vadTableBytes)))
    processes.append(process)
    publish(process)
    return process
  }

  /// Copies the kernel's PML4 entries for the upper half and points the self-map slot at `root`.
  private func shareKernelHalf(into root: UInt64) {
    let source = PhysicalWindow.words(space.rootPhysical)
    let target = PhysicalWindow.words(root)
    for slot in 256..<512 { target[slot] = source[slot] }
    target[Int(KernelLayout.selfMapSlot)] =
      root | HardwarePTE.present | HardwarePTE.writable | HardwarePTE.noExecute
  }

  /// Accounts a process's PML4: a page table whose live entries are its
  /// nonzero slots, named by its own self-map entry.
  private func labelRoot(_ pfn: UInt64, owner: UInt16) {
    let selfEntry = KernelLayout.selfMapEntryAddress(of: KernelLayout.selfMapBase, level: 4)
    database.labelPageTable(pfn, pteAddress: selfEntry, parent: pfn, owner: owner)
  }

  /// Writes the process's slot in the process table the host reads.
  private func publish(_ process: Process) {
    let slot =
      debugBlockPhysical - MetadataPage.debugBlock + MetadataPage.processTable
      + UInt64(Int(process.id) - 1) * UInt64(ProcessRecord.size)
    let record = UnsafeMutableRawPointer(bitPattern: UInt(PhysicalWindow.virtualAddress(slot)))!
    record.storeBytes(of: UInt32(process.id), toByteOffset: ProcessRecord.id, as: UInt32.self)
    record.storeBytes(of: process.rootPhysical, toByteOffset: ProcessRecord.root, as: UInt64.self)
    record.storeBytes(of: process.vadTablePhysical, toByteOffset: ProcessRecord.vadRoot, as: UInt64.self)
  }
}

extension MemoryManager {
  /// Loads process `index`'s address space (CR3): from here its user half is the
  /// one the self-map edits, user code runs in, and user faults resolve against.
  func switchTo(_ index: Int) {
    guard index < processes.count else { kernelPanic("MemoryManager.switchTo", "no such process") }
    arch_write_cr3(processes[index].rootPhysical)
    state.pointee.currentProcess = index
  }

  /// A new process made ready to run user code: its code pages mapped (and
  /// the script window, when a script runs) and a committed stack, CR3
  /// switched to it. Returns its index; traps when out of memory (callers
  /// count the pages first).
  func startProcess() -> Int {
    guard createProcess() != nil else { kernelPanic("MemoryManager.startProcess", "cannot create a process") }
    let index = processes.count - 1
    switchTo(index)
    guard mapUserCode(&processes[index].space) else {
      kernelPanic("MemoryManager.startProcess", "no pages for user code")
    }
    if let frames = scriptSession, !mapScriptWindow(frames, into: &processes[index].space) {
      kernelPanic("MemoryManager.startProcess", "no pages for the script window")
    }
    let stackSize = UserLayout.stackPages * UserAddressSpace.pageSize
    let stack = processes[index].memory.reserve(
      base: UserLayout.stackTop - stackSize, size: stackSize, protection: PageProtection.readWrite, commit: true)
    if stack.status != .success { kernelPanic("MemoryManager.startProcess", "cannot commit the user stack") }
    return index
  }
}
