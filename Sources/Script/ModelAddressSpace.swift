import GuestABI
import GuestMm

/// One process's address space as the host models it, for predicting what
/// the guest's Mm returns: GuestMm's own `VirtualMemory` over PTEs kept in a
/// dictionary, with frames that never run out (a generated script stays far
/// from the guest's memory limits).
struct ModelBackend: AddressSpaceBackend {
  var workingSet = NoWorkingSet()
  var ptes: [UInt64: UInt64] = [:]
  var nextFrame: UInt64 = 0x1000

  func readPTE(_ virtualAddress: UInt64) -> UInt64 { ptes[virtualAddress >> 12] ?? 0 }

  mutating func writePTE(_ virtualAddress: UInt64, _ value: UInt64, fate: PageFate) -> Bool {
    ptes[virtualAddress >> 12] = value == 0 ? nil : value
    return true
  }

  mutating func allocateZeroedPage(for virtualAddress: UInt64) -> UInt64? {
    nextFrame += 1
    return nextFrame
  }
}

/// A process of the model: its VAD table (a buffer it owns) and its memory,
/// set up as the guest sets a new process up (a committed stack).
final class ModelProcess {
  let table: UnsafeMutableRawPointer
  var memory: VirtualMemory<ModelBackend>
  /// The guest's VAD table is one page.
  static let tableBytes = 4096

  init() {
    table = UnsafeMutableRawPointer.allocate(byteCount: Self.tableBytes, alignment: 4096)
    memory = VirtualMemory(backend: ModelBackend(), vads: VadTableView.format(table, byteCount: Self.tableBytes))
    let stack = UserLayout.stackPages * UserAddressSpace.pageSize
    _ = memory.reserve(
      base: UserLayout.stackTop - stack, size: stack, protection: PageProtection.readWrite, commit: true)
  }

  deinit { table.deallocate() }

  /// What a user-mode Touch of `pages` pages from `address` returns: each page
  /// is accessed, a fault resolved as the guest's handler resolves it.
  func touch(_ address: UInt64, pages: UInt64, write: Bool) -> Status {
    touch(address, pages: pages, access: write ? .write : .read)
  }

  /// The same for any access, an instruction fetch included.
  func touch(_ address: UInt64, pages: UInt64, access: MemoryAccess) -> Status {
    for n in 0..<pages {
      let (va, wrapped) = address.addingReportingOverflow(n << 12)
      if wrapped { return .accessViolation }
      let pte = memory.backend.readPTE(va & ~0xFFF)
      if pte & 1 != 0 && ProtectionRules.hardwareAllows(pte, access, userMode: true) { continue }
      let resolution = memory.resolveFault(va, access: access, userMode: true)
      guard case .resolved = resolution else { return resolution.status }
    }
    return .success
  }
}
