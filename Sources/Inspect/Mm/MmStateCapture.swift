import GuestABI
import Machine
import X86Paging

/// A copy of what a call that fails must leave as it was: the PFN database
/// (every record) and its list heads, and per process its VAD table and every
/// nonzero entry of its user half's page tables (valid or software); the
/// control areas and the views in system space outside Cc. Two captures
/// compare entry by entry, so a violation names what changed.
public struct MmStateCapture: Sendable, Equatable {
  public var pfnRecords: [UInt8]
  public var listHeads: [PageListHeadState]
  public var processes: [ProcessCapture]
  public var controlAreas: [MmControlArea]
  public var systemSpaceViews: [MmSystemSpaceView]

  /// One process's part.
  public struct ProcessCapture: Sendable, Equatable {
    public var id: UInt32
    public var vadTable: [UInt8]
    /// Virtual address covered (the first byte the entry maps) and level
    /// (4 = PML4E ... 1 = PTE) -> the entry's raw value.
    public var entries: [EntryKey: UInt64]
  }

  public struct EntryKey: Sendable, Hashable, Comparable {
    public var address: UInt64
    public var level: Int
    public static func < (a: EntryKey, b: EntryKey) -> Bool { (a.address, -a.level) < (b.address, -b.level) }
  }

  /// Entries walked per process at most: a hostile table cannot make the walk endless.
  public static let entryBudget = 1 << 20

  /// Captures `state`.
  public init(_ state: MmState) {
    pfnRecords = Array(state.pfnDatabase)
    listHeads = state.listHeads
    controlAreas = state.controlAreas
    systemSpaceViews = state.systemSpaceViews
    processes = state.processes.map { process in
      let vads =
        state.memory.bytes(at: process.vadRoot, count: 4096).map { Array($0) } ?? []
      return ProcessCapture(
        id: process.id, vadTable: vads, entries: Self.userEntries(state.memory, root: process.root))
    }
  }

  /// Every nonzero entry of the user half (PML4 slots 0-255) under `root`.
  static func userEntries(_ memory: GuestPhysicalMemory, root: UInt64) -> [EntryKey: UInt64] {
    var entries: [EntryKey: UInt64] = [:]
    var budget = entryBudget
    func walk(_ table: UInt64, level: Int, base: UInt64, slots: Range<Int>) {
      guard let words = memory.bytes(at: table & ~0xFFF, count: 4096) else { return }
      for slot in slots {
        guard budget > 0 else { return }
        let entry = words.loadUnaligned(fromByteOffset: slot * 8, as: UInt64.self)
        guard entry != 0 else { continue }
        budget -= 1
        let address = base | UInt64(slot) << UInt64(12 + 9 * (level - 1))
        entries[EntryKey(address: address, level: level)] = entry
        let leaf = level == 1 || (level < 4 && entry & 0x80 != 0)
        if entry & 1 != 0 && !leaf {
          walk(entry & 0x000F_FFFF_FFFF_F000, level: level - 1, base: address, slots: 0..<512)
        }
      }
    }
    walk(root, level: 4, base: 0, slots: 0..<256)
    return entries
  }

  /// What differs from `before` to this capture, in words, the first `limit`.
  public func changes(since before: MmStateCapture, limit: Int = 8) -> [String] {
    var found: [String] = []
    func note(_ line: String) { if found.count < limit { found.append(line) } }
    for (old, new) in zip(before.listHeads, listHeads) where old != new {
      note("the \(new.location.reportName) list head changed (total \(old.total) -> \(new.total))")
    }
    let size = PageFrameRecord.size
    let records = before.pfnRecords == pfnRecords ? 0 : min(before.pfnRecords.count, pfnRecords.count) / size
    for pfn in 0..<records
    where before.pfnRecords[pfn * size..<(pfn + 1) * size] != pfnRecords[pfn * size..<(pfn + 1) * size] {
      note("PFN \(hex(UInt64(pfn)))'s record changed")
    }
    let areas = Dictionary(before.controlAreas.map { ($0.slot, $0) }, uniquingKeysWith: { a, _ in a })
    for area in controlAreas where areas[area.slot] != area {
      note(
        areas[area.slot] == nil ? "control area \(area.slot) appeared" : "control area \(area.slot)'s record changed")
    }
    let now = Set(controlAreas.map(\.slot))
    for area in before.controlAreas where !now.contains(area.slot) { note("control area \(area.slot) went away") }
    if before.systemSpaceViews != systemSpaceViews {
      note(
        "the views in system space changed (\(before.systemSpaceViews.count) -> \(systemSpaceViews.count) mapped)")
    }
    let old = Dictionary(uniqueKeysWithValues: before.processes.map { ($0.id, $0) })
    for process in processes {
      guard let earlier = old[process.id] else {
        note("process \(process.id) appeared")
        continue
      }
      if earlier.vadTable != process.vadTable { note("process \(process.id)'s VAD table changed") }
      if earlier.entries == process.entries { continue }
      let keys = Set(earlier.entries.keys).union(process.entries.keys).sorted()
      for key in keys where earlier.entries[key] != process.entries[key] {
        let name = ["", "PTE", "PDE", "PDPTE", "PML4E"][key.level]
        note(
          "process \(process.id)'s \(name) for \(hex(key.address)) changed from \(hex(earlier.entries[key] ?? 0)) "
            + "to \(hex(process.entries[key] ?? 0))")
      }
    }
    return found
  }
}
