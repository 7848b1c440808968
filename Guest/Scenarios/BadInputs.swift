import GuestArch

/// Every bad input of the virtual-memory API returns its status and leaves
/// the VADs, the PTEs and the page lists as they were. Checkpoint "bad-inputs".
func badInputScenario() {
  let index = startProcess()
  let region = kernel!.processes[index].memory.reserve(
    base: 0x1000_0000, size: 1 << 20, protection: PageProtection.readWrite)
  expect(region.status == .success, "bad-inputs", "setup reserve")
  _ = kernel!.processes[index].memory.commit(base: region.base, size: 4 << 12, protection: PageProtection.readWrite)
  expect(userTouch(region.base, pages: 4, write: true) == .success, "bad-inputs", "setup touch")
  let base = region.base
  badCall(.invalidPageProtection) { $0.reserve(base: 0, size: 1 << 16, protection: 0).status }
  badCall(.invalidParameter) { $0.reserve(base: 0xFFFF_8000_0000_0000, size: 1 << 16, protection: 4).status }
  badCall(.invalidParameter) { $0.reserve(base: 0x2000_0000, size: 0, protection: 4).status }
  badCall(.invalidParameter) { $0.reserve(base: UserAddressSpace.end - 0x1_0000, size: 1 << 20, protection: 4).status }
  badCall(.conflictingAddresses) { $0.reserve(base: base + 0x1_0000, size: 1 << 16, protection: 4).status }
  badCall(.memoryNotAllocated) { $0.release(base: 0x3000_0000, size: 0).status }
  badCall(.freeVmNotAtBase) { $0.release(base: base + 0x1000, size: 0).status }
  badCall(.notCommitted) { $0.protect(base: base + (16 << 12), size: 4096, protection: 2).status }
  badCall(.invalidPageProtection) { $0.commit(base: base, size: 4096, protection: 0x1F).status }
  Hypercall.checkpoint(.named, "bad-inputs")
}

/// Calls `operation` on the current process's memory, requires `expected`, and
/// requires the VAD table, the first megabyte of PTEs from the setup region and
/// the list totals to be what they were.
private func badCall(
  _ expected: Status, _ operation: (inout VirtualMemory<ProcessAddressSpace>) -> Status
) {
  guard let index = currentProcess, let database = kernel?.database else { kernelPanic("badCall", "no process") }
  let before = StateFingerprint(kernel!.processes[index], database)
  let status = operation(&kernel!.processes[index].memory)
  if status != expected { kernelPanic("bad-inputs", "a bad input returned the wrong status") }
  if StateFingerprint(kernel!.processes[index], database) != before {
    kernelPanic("bad-inputs", "a bad input changed the state")
  }
}

/// A cheap digest of what a failed call must not touch.
private struct StateFingerprint: Equatable {
  var vads: UInt64 = 0
  var ptes: UInt64 = 0
  var available: UInt64 = 0

  init(_ process: Process, _ database: PageFrameDatabase) {
    let table = process.vadTable
    for offset in stride(from: 0, to: Process.vadTableBytes, by: 8) {
      vads = vads &* 31 &+ table.load(fromByteOffset: offset, as: UInt64.self)
    }
    for page in 0..<UInt64(256) {
      ptes = ptes &* 31 &+ process.space.readPTE(0x1000_0000 + page * 4096)
    }
    available = database.availablePages
  }
}
