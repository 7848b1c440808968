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
