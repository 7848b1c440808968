#if canImport(GuestABI)
  import GuestABI
#endif

/// Where a process's working set hears of its pages: GuestMm calls it for
/// every PTE it makes valid and every valid PTE it takes away, with the
/// page's frame. A protection change that keeps the frame is neither. The
/// working-sets issue gives it a list to keep (NT's MMWSL); until then the
/// guest's is `NoWorkingSet`.
public protocol WorkingSetHook {
  mutating func pageBecameValid(_ virtualAddress: UInt64, frame: UInt64)
  mutating func pageStoppedBeingValid(_ virtualAddress: UInt64, frame: UInt64)
}

/// Keeps nothing: what the guest has before working sets.
public struct NoWorkingSet: WorkingSetHook {
  public init() {}
  public mutating func pageBecameValid(_ virtualAddress: UInt64, frame: UInt64) {}
  public mutating func pageStoppedBeingValid(_ virtualAddress: UInt64, frame: UInt64) {}
}

extension VirtualMemory {
  /// Replaces the PTE of `va`, which holds `old`, with `new` through the
  /// backend (see `AddressSpaceBackend.writePTE`; a page that loses its last
  /// valid PTE goes to `fate`), and tells the working set when a page became
  /// valid or stopped being valid. False when the backend ran out of memory,
  /// with nothing changed.
  mutating func replacePTE(_ va: UInt64, _ old: UInt64, with new: UInt64, fate: PageFate = .whenDeleted) -> Bool {
    guard backend.writePTE(va, new, fate: fate) else { return false }
    let oldFrame = old & HardwarePTE.present != 0 ? (old & HardwarePTE.frameMask) >> 12 : nil
    let newFrame = new & HardwarePTE.present != 0 ? (new & HardwarePTE.frameMask) >> 12 : nil
    guard oldFrame != newFrame else { return true }
    if let oldFrame { backend.workingSet.pageStoppedBeingValid(va, frame: oldFrame) }
    if let newFrame { backend.workingSet.pageBecameValid(va, frame: newFrame) }
    return true
  }
}
