import GuestArch

/// A user process: its own PML4 sharing the kernel half, its VAD table, and
/// its slot in the process table the host reads (GuestABI `ProcessRecord`).
struct Process {
  let id: UInt16
  let rootPhysical: UInt64
  /// A page holding the VAD table (GuestABI `VadTable`).
  let vadTablePhysical: UInt64
  /// The NT virtual-memory API over this process's VADs and page tables
  /// (only with this process's CR3 loaded: the backend edits through the self-map).
  var memory: VirtualMemory<ProcessAddressSpace>

  var space: ProcessAddressSpace {
    get { memory.backend }
    set { memory.backend = newValue }
  }

  /// The VAD table in kernel memory (through the direct map).
  var vadTable: UnsafeMutableRawPointer {
    UnsafeMutableRawPointer(bitPattern: UInt(PhysicalWindow.virtualAddress(vadTablePhysical)))!
  }
  /// Bytes the VAD table may use.
  static let vadTableBytes = 4096
}

/// The kernel's state once boot is over.
struct Kernel {
  let database: PageFrameDatabase
  let space: KernelAddressSpace
  let debugBlockPhysical: UInt64
  var processes: [Process] = []
}

/// Set by `kernelMain` after boot.
var kernel: Kernel? = nil

extension Kernel {
  /// A new process with an empty user half and the kernel half shared; nil
  /// when pages run out or the process table is full (nothing is left behind).
  mutating func createProcess() -> Process? {
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
    database.record(vads).storeBytes(of: id, toByteOffset: PageFrameRecord.owner, as: UInt16.self)
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

/// The process whose address space CR3 holds (an index into `kernel.processes`), nil for the kernel's.
var currentProcess: Int? = nil

/// Loads process `index`'s address space (CR3): from here its user half is the
/// one the self-map edits, user code runs in, and user faults resolve against.
func switchToProcess(_ index: Int) {
  guard let process = kernel?.processes[index] else { kernelPanic("switchToProcess", "no such process") }
  arch_write_cr3(process.rootPhysical)
  currentProcess = index
}

/// A new process made ready to run user code: its code pages mapped and a
/// committed stack, CR3 switched to it. Returns its index; traps when out of memory (scenarios only).
func startProcess() -> Int {
  guard kernel?.createProcess() != nil, let index = kernel.map({ $0.processes.count - 1 }) else {
    kernelPanic("startProcess", "cannot create a process")
  }
  switchToProcess(index)
  guard mapUserCode(&kernel!.processes[index].space) else { kernelPanic("startProcess", "no pages for user code") }
  if let frames = scriptSession, !mapScriptWindow(frames, into: &kernel!.processes[index].space) {
    kernelPanic("startProcess", "no pages for the script window")
  }
  let stackSize = UserLayout.stackPages * UserAddressSpace.pageSize
  let stack = kernel!.processes[index].memory.reserve(
    base: UserLayout.stackTop - stackSize, size: stackSize, protection: PageProtection.readWrite, commit: true)
  if stack.status != .success { kernelPanic("startProcess", "cannot commit the user stack") }
  return index
}
