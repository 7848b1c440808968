import GuestABI
import GuestMm
import Testing

/// An address space on dictionaries: PTEs by virtual page, page tables (one
/// per 2 MiB, made on the first nonzero entry, freed with the last), users per
/// frame, and one page pool for tables and data pages with a settable limit.
struct FakeBackend: AddressSpaceBackend {
  /// What VirtualMemory told the working set: the frame of every page it made valid and has not taken away.
  var workingSet = RecordingWorkingSet()
  /// The sections views map (shared by every copy of the backend, as the guest's table is).
  var sections = FakeSections()
  /// Nonzero PTEs by virtual page number.
  var ptes: [UInt64: UInt64] = [:]
  /// Live entries per page table (virtual page >> 9).
  var tables: [UInt64: Int] = [:]
  /// Valid PTEs per frame.
  var users: [UInt64: Int] = [:]
  /// Frames handed out by `allocateZeroedPage` and not mapped yet.
  var pending: Set<UInt64> = []
  /// Pages (tables + data) that may be in use at once.
  var limit = Int.max
  var allocated = 0
  var freedPages = 0
  var freedTables = 0
  var writes = 0
  private var nextFrame: UInt64 = 0x100

  var inUse: Int { allocated - freedPages - freedTables }

  func readPTE(_ virtualAddress: UInt64) -> UInt64 {
    ptes[virtualAddress >> 12] ?? 0
  }

  /// Pages that left their last PTE with a fate other than free, by frame.
  var keptPages: [UInt64: PageFate] = [:]

  mutating func writePTE(_ virtualAddress: UInt64, _ value: UInt64, fate: PageFate) -> Bool {
    let page = virtualAddress >> 12
    let table = page >> 9
    let old = ptes[page] ?? 0
    if value == 0 && old == 0 { return true }
    if value != 0 && tables[table] == nil {
      guard inUse < limit else { return false }
      allocated += 1
      tables[table] = 0
    }
    writes += 1
    if value & 1 != 0 { addUser(Self.frame(value)) }
    if old & 1 != 0 { dropUser(Self.frame(old), fate: fate) }
    ptes[page] = value == 0 ? nil : value
    if old == 0 { tables[table, default: 0] += 1 }
    if value == 0 { dropEntry(table) }
    return true
  }

  mutating func allocateZeroedPage(for virtualAddress: UInt64) -> UInt64? {
    guard inUse < limit else { return nil }
    allocated += 1
    nextFrame += 1
    pending.insert(nextFrame)
    return nextFrame
  }

  static func frame(_ pte: UInt64) -> UInt64 { (pte & 0x000F_FFFF_FFFF_F000) >> 12 }

  private mutating func addUser(_ frame: UInt64) {
    pending.remove(frame)
    keptPages[frame] = nil
    users[frame, default: 0] += 1
  }

  private mutating func dropUser(_ frame: UInt64, fate: PageFate) {
    let left = users[frame, default: 0] - 1
    users[frame] = left > 0 ? left : nil
    // A section's page (or a copy it made) is the section's to account, not this address space's.
    guard left == 0, !sections.store.frames.contains(frame) else { return }
    if fate == .free { freedPages += 1 } else { keptPages[frame] = fate }
  }

  private mutating func dropEntry(_ table: UInt64) {
    let left = tables[table, default: 0] - 1
    tables[table] = left > 0 ? left : nil
    if left == 0 { freedTables += 1 }
  }

  /// Problems with the page accounting: leaks, tables whose count is off.
  func accountingProblems() -> [String] {
    var problems: [String] = []
    if !pending.isEmpty { problems.append("pages allocated but never mapped: \(pending.sorted())") }
    let ownUsers = users.keys.filter { !sections.store.frames.contains($0) }.count
    let accounted = ownUsers + tables.count + freedPages + freedTables + pending.count + keptPages.count
    if allocated != accounted {
      problems.append(
        "allocated \(allocated) != mapped \(users.count) + tables \(tables.count) + freed \(freedPages + freedTables)")
    }
    var live: [UInt64: Int] = [:]
    for page in ptes.keys { live[page >> 9, default: 0] += 1 }
    if live != tables { problems.append("table entry counts \(tables) != live entries \(live)") }
    for (frame, count) in users where count != 1 && !sections.store.frames.contains(frame) {
      problems.append("frame \(frame) has \(count) users")
    }
    return problems
  }
}

/// Everything an operation may change: the VAD table's bytes, the PTEs, the
/// tables and the frames in use.
struct Snapshot: Equatable {
  var vadBytes: [UInt8]
  var ptes: [UInt64: UInt64]
  var tables: [UInt64: Int]
  var users: [UInt64: Int]
}

/// A `VirtualMemory` over a `FakeBackend` and an allocated VAD table.
final class Harness {
  let table: UnsafeMutableRawPointer
  let tableBytes: Int
  var vm: VirtualMemory<FakeBackend>

  init(records: Int = 100) {
    tableBytes = VadTable.headerSize + records * VadRecord.size
    table = UnsafeMutableRawPointer.allocate(byteCount: tableBytes, alignment: 4096)
    table.initializeMemory(as: UInt8.self, repeating: 0xA5, count: tableBytes)
    vm = VirtualMemory(backend: FakeBackend(), vads: VadTableView.format(table, byteCount: tableBytes))
  }

  deinit { table.deallocate() }

  var backend: FakeBackend {
    get { vm.backend }
    set { vm.backend = newValue }
  }

  func snapshot() -> Snapshot {
    let bytes = Array(UnsafeRawBufferPointer(start: table, count: tableBytes))
    return Snapshot(vadBytes: bytes, ptes: vm.backend.ptes, tables: vm.backend.tables, users: vm.backend.users)
  }

  /// The VADs as values.
  var vads: [VadEntry] { (0..<vm.vads.count).map { vm.vads[$0] } }

  func pte(_ address: UInt64) -> UInt64 { vm.backend.readPTE(address) }

  /// Runs `body`, which must fail with `expected` and change nothing.
  func expectRefused(
    _ expected: Status, _ body: (Harness) -> Status, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let before = snapshot()
    let status = body(self)
    #expect(status == expected, sourceLocation: sourceLocation)
    #expect(snapshot() == before, "state changed by a refused call", sourceLocation: sourceLocation)
    #expect(backend.accountingProblems() == [], sourceLocation: sourceLocation)
  }
}

/// Shorthands.
let page: UInt64 = 0x1000
let readWrite = PageProtection.readWrite
let readOnly = PageProtection.readOnly
let noAccess = PageProtection.inaccessible

/// A working set that records what it is told, and notes any call that
/// contradicts itself (a page made valid twice, or taken away unknown or
/// with another frame).
struct RecordingWorkingSet: WorkingSetHook {
  var valid: [UInt64: UInt64] = [:]
  var contradictions: [String] = []
  var calls = 0

  mutating func pageBecameValid(_ virtualAddress: UInt64, frame: UInt64) {
    calls += 1
    if let known = valid[virtualAddress >> 12] {
      contradictions.append("page \(virtualAddress >> 12) made valid again (frame \(frame), it had \(known))")
    }
    valid[virtualAddress >> 12] = frame
  }

  mutating func pageStoppedBeingValid(_ virtualAddress: UInt64, frame: UInt64) {
    calls += 1
    if valid[virtualAddress >> 12] != frame {
      contradictions.append(
        "page \(virtualAddress >> 12) taken away with frame \(frame), it had \(String(describing: valid[virtualAddress >> 12]))"
      )
    }
    valid[virtualAddress >> 12] = nil
  }
}
