import GuestABI
import Machine
import X86Paging

/// Why the guest's Mm state could not be decoded at all. Every case names what
/// was found and what was expected, for a person to read.
public enum MmDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The debug block's first `MmState.firstBlockSize` bytes (or as many as its size field says) are not all in guest RAM.
  case debugBlockOutsideMemory(address: UInt64)
  case badMagic(address: UInt64, found: UInt32)
  /// A version this host does not read (older than the first, or 0).
  case unsupportedVersion(address: UInt64, found: UInt32)
  /// The block is shorter than the fields this host reads.
  case blockTooSmall(address: UInt64, size: UInt32, needed: Int)
  /// PFN records are not `PageFrameRecord.size` bytes.
  case recordSize(found: UInt32, expected: Int)
  /// The database has no records.
  case emptyDatabase
  /// More records than guest RAM has pages (or than a 32-bit PFN link can name).
  case pfnCountTooLarge(count: UInt64, limit: UInt64)
  /// The database does not lie in one range of guest RAM.
  case databaseOutsideMemory(address: UInt64, bytes: UInt64)
  case listHeadsOutsideMemory(address: UInt64)
  /// The self-map slot is not a PML4 slot.
  case badSelfMapSlot(UInt32)
  case tooManyWindows(count: UInt32, limit: Int)
  case windowsOutsideMemory(address: UInt64, count: UInt32)
  case tooManyProcesses(count: UInt32, limit: Int)
  /// Process records smaller than `ProcessRecord.size` or implausibly large.
  case processRecordSize(found: UInt32, expected: Int)
  case processTableOutsideMemory(address: UInt64, count: UInt32)
  case tooManyControlAreas(count: UInt32, limit: Int)
  /// Control-area records smaller than `ControlAreaRecord.size` or implausibly large.
  case controlAreaRecordSize(found: UInt32, expected: Int)
  case controlAreaTableOutsideMemory(address: UInt64, count: UInt32)
  /// Cc's view records: more than the system cache window holds, or records of a wrong size.
  case cacheViewRecords(count: UInt32, recordSize: UInt32)
  case cacheViewsOutsideMemory(address: UInt64, count: UInt32)
  /// System-space view records: more than `SystemViewLayout.views`, or records of a wrong size.
  case systemViewRecords(count: UInt32, recordSize: UInt32)
  case systemViewsOutsideMemory(address: UInt64, count: UInt32)

  public var description: String {
    switch self {
    case .debugBlockOutsideMemory(let address):
      return
        "debug block at \(hex(address)) is not in guest RAM (\(MmState.firstBlockSize) bytes needed, more if it says so)"
    case .badMagic(let address, let found):
      return
        "debug block at \(hex(address)) has magic \(hex(UInt64(found)))\(fourCC(found)); expected "
        + "\(hex(UInt64(DebugBlock.magicValue))) (\"MMDB\")"
    case .unsupportedVersion(let address, let found):
      return
        "debug block at \(hex(address)) has version \(found); this host reads version \(DebugBlock.currentVersion)"
    case .blockTooSmall(let address, let size, let needed):
      return "debug block at \(hex(address)) says it is \(size) bytes; version 1 has \(needed)"
    case .recordSize(let found, let expected):
      return "PFN records are \(found) bytes; this host decodes \(expected)-byte records"
    case .emptyDatabase:
      return "the PFN database has no records (PFN count 0)"
    case .pfnCountTooLarge(let count, let limit):
      return "PFN count \(count) is more than guest RAM has pages (at most \(limit))"
    case .databaseOutsideMemory(let address, let bytes):
      return "PFN database at \(hex(address)) (\(bytes) bytes) does not lie in one range of guest RAM"
    case .listHeadsOutsideMemory(let address):
      return "page-list heads at \(hex(address)) are not in guest RAM"
    case .badSelfMapSlot(let slot):
      return "self-map slot \(slot) is not a PML4 slot (0-511)"
    case .tooManyWindows(let count, let limit):
      return "debug block lists \(count) windows; this host reads at most \(limit)"
    case .windowsOutsideMemory(let address, let count):
      return "\(count) debug windows at \(hex(address)) are not in guest RAM"
    case .tooManyProcesses(let count, let limit):
      return "process table has \(count) slots; this host reads at most \(limit)"
    case .processRecordSize(let found, let expected):
      return "process records are \(found) bytes; expected at least \(expected) (and at most 4096)"
    case .processTableOutsideMemory(let address, let count):
      return "process table at \(hex(address)) (\(count) slots) is not in guest RAM"
    case .tooManyControlAreas(let count, let limit):
      return "control-area table has \(count) slots; this host reads at most \(limit)"
    case .controlAreaRecordSize(let found, let expected):
      return "control-area records are \(found) bytes; expected at least \(expected) (and at most 4096)"
    case .controlAreaTableOutsideMemory(let address, let count):
      return "control-area table at \(hex(address)) (\(count) slots) is not in guest RAM"
    case .cacheViewRecords(let count, let recordSize):
      return
        "Cc lists \(count) views of \(recordSize) bytes; the system cache has \(SystemCacheLayout.views) views "
        + "and this host decodes records of at least \(CacheViewRecord.size) bytes (and at most 4096)"
    case .cacheViewsOutsideMemory(let address, let count):
      return "Cc's \(count) view records at \(hex(address)) are not in guest RAM"
    case .systemViewRecords(let count, let recordSize):
      return
        "the debug block lists \(count) system-space views of \(recordSize) bytes; system space holds "
        + "\(SystemViewLayout.views) and this host decodes records of at least \(SystemViewRecord.size) bytes "
        + "(and at most 4096)"
    case .systemViewsOutsideMemory(let address, let count):
      return "\(count) system-space view records at \(hex(address)) are not in guest RAM"
    }
  }
}

/// ` ("ABCD")` if the four bytes are printable ASCII, else "".
private func fourCC(_ value: UInt32) -> String {
  let bytes = (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
  guard bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return "" }
  return " (\"" + String(decoding: bytes, as: UTF8.self) + "\")"
}

/// The guest memory manager's state as its debug block describes it, decoded
/// from guest physical memory. Only the fixed-size parts are copied (heads,
/// windows, processes); PFN records are read in place on demand, so the state
/// is a view: valid while the memory it was read from is mapped and unchanged.
/// Every guest value is checked before use: decoding either throws a
/// `MmDecodeError` or yields a state whose every region lies in guest RAM.
public struct MmState: @unchecked Sendable {
  /// Upper bounds on guest-supplied counts (far above anything the guest needs).
  public static let maxWindows = 256
  public static let maxProcesses = 4096
  public static let maxControlAreas = 4096
  /// Bytes of a version-1 debug block: the fields every block has. A shorter block
  /// is refused; a block this short has no control areas (they came with version 2).
  public static let firstBlockSize = DebugBlock.controlAreasPhysical

  /// The memory the state was read from.
  public let memory: GuestPhysicalMemory
  public let debugBlockAddress: UInt64
  public let version: UInt32
  /// Bytes of the debug block as the guest wrote it.
  public let blockSize: UInt32
  /// Physical address of PFN 0's record.
  public let pfnDatabaseAddress: UInt64
  /// Records in the database (highest PFN + 1, holes included).
  public let pfnCount: UInt64
  /// Physical address of the list heads.
  public let listHeadsAddress: UInt64
  /// The six list heads, in `PageLocation` order (zeroed, free, standby, modified, modifiedNoWrite, bad).
  public let listHeads: [PageListHeadState]
  /// Physical address of the kernel's PML4.
  public let kernelRoot: UInt64
  /// The PML4 slot that maps the PML4 itself.
  public let selfMap: SelfMap
  /// The windows, as the guest listed them (validity is the validator's business).
  public let windows: [MmDebugWindow]
  /// The used process slots (id != 0), in slot order.
  public let processes: [MmProcess]
  /// Pages the guest counts as available (zeroed + free + standby).
  public let availablePages: UInt64
  /// The whole PFN database, in place (`pfnCount * PageFrameRecord.size` bytes).
  public let pfnDatabase: UnsafeRawBufferPointer
  /// Physical address of the control-area table; 0 for a version-1 block.
  public let controlAreaTableAddress: UInt64
  /// Slots in the control-area table (0 for a version-1 block, which has none).
  public let controlAreaSlots: Int
  /// The in-use control-area slots (flags != 0), in slot order.
  public let controlAreas: [MmControlArea]
  /// Cc's views of cached files in system space that map a section (free slots left out).
  public let cacheViews: [MmCacheView]
  /// Views in system space outside Cc (MmMapViewInSystemSpace; free slots left out).
  public let systemSpaceViews: [MmSystemSpaceView]

  /// Reads the state whose debug block is at physical address `debugBlockAddress`.
  public init(memory: GuestPhysicalMemory, debugBlockAddress: UInt64) throws(MmDecodeError) {
    let address = debugBlockAddress
    guard var block = memory.bytes(at: address, count: Self.firstBlockSize) else {
      throw .debugBlockOutsideMemory(address: address)
    }
    func u32(_ offset: Int) -> UInt32 {
      UInt32(littleEndian: block.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    func u64(_ offset: Int) -> UInt64 {
      UInt64(littleEndian: block.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    let magic = u32(DebugBlock.magic)
    guard magic == DebugBlock.magicValue else { throw .badMagic(address: address, found: magic) }
    // Fields are only ever appended, so a newer block still holds version 1's fields.
    let version = u32(DebugBlock.version)
    guard version >= 1 else { throw .unsupportedVersion(address: address, found: version) }
    let blockSize = u32(DebugBlock.size)
    guard blockSize >= Self.firstBlockSize else {
      throw .blockTooSmall(address: address, size: blockSize, needed: Self.firstBlockSize)
    }
    // Version 2's fields (control areas, Cc) and version 3's (system-space views), where the block's size covers them.
    let hasControlAreas = blockSize >= DebugBlock.cacheViewRecordSize + 4
    let hasSystemViews = blockSize >= DebugBlock.systemViewRecordSize + 4
    if hasControlAreas {
      guard
        let longer = memory.bytes(
          at: address, count: hasSystemViews ? DebugBlock.currentSize : Int(DebugBlock.systemViewsPhysical))
      else {
        throw .debugBlockOutsideMemory(address: address)
      }
      block = longer
    }
    let recordSize = u32(DebugBlock.pfnRecordSize)
    guard recordSize == PageFrameRecord.size else {
      throw .recordSize(found: recordSize, expected: PageFrameRecord.size)
    }

    // PFN count: no more records than RAM has pages, and every PFN nameable by a 32-bit link.
    let pfnCount = u64(DebugBlock.pfnCount)
    guard pfnCount > 0 else { throw .emptyDatabase }
    let ramEnd = memory.regions.map(\.end).max() ?? 0
    let limit = min((ramEnd >> 12) + (ramEnd & 0xFFF == 0 ? 0 : 1), UInt64(PageFrameRecord.noPage))
    guard pfnCount <= limit else { throw .pfnCountTooLarge(count: pfnCount, limit: limit) }
    let databaseAddress = u64(DebugBlock.pfnDatabasePhysical)
    let databaseBytes = pfnCount * UInt64(PageFrameRecord.size)  // < 2^38: no overflow
    guard let database = memory.bytes(at: databaseAddress, count: Int(databaseBytes)) else {
      throw .databaseOutsideMemory(address: databaseAddress, bytes: databaseBytes)
    }

    let headsAddress = u64(DebugBlock.listHeadsPhysical)
    guard let heads = memory.bytes(at: headsAddress, count: PageLocation.listCount * PageListHead.size) else {
      throw .listHeadsOutsideMemory(address: headsAddress)
    }
    var listHeads: [PageListHeadState] = []
    for index in 0..<PageLocation.listCount {
      let base = index * PageListHead.size
      listHeads.append(
        PageListHeadState(
          location: PageLocation(rawValue: UInt8(index))!,
          first: UInt32(littleEndian: heads.loadUnaligned(fromByteOffset: base + PageListHead.first, as: UInt32.self)),
          last: UInt32(littleEndian: heads.loadUnaligned(fromByteOffset: base + PageListHead.last, as: UInt32.self)),
          total: UInt64(littleEndian: heads.loadUnaligned(fromByteOffset: base + PageListHead.total, as: UInt64.self))))
    }

    let slot = u32(DebugBlock.selfMapSlot)
    guard let selfMap = SelfMap(slot: UInt64(slot)) else { throw .badSelfMapSlot(slot) }

    let windowCount = u32(DebugBlock.windowCount)
    let windowsAddress = u64(DebugBlock.windowsPhysical)
    guard windowCount <= Self.maxWindows else { throw .tooManyWindows(count: windowCount, limit: Self.maxWindows) }
    var windows: [MmDebugWindow] = []
    if windowCount > 0 {
      guard let table = memory.bytes(at: windowsAddress, count: Int(windowCount) * DebugWindow.size) else {
        throw .windowsOutsideMemory(address: windowsAddress, count: windowCount)
      }
      for index in 0..<Int(windowCount) {
        let base = index * DebugWindow.size
        windows.append(
          MmDebugWindow(
            start: UInt64(littleEndian: table.loadUnaligned(fromByteOffset: base + DebugWindow.start, as: UInt64.self)),
            length: UInt64(
              littleEndian: table.loadUnaligned(fromByteOffset: base + DebugWindow.length, as: UInt64.self)),
            rawKind: UInt32(littleEndian: table.loadUnaligned(fromByteOffset: base + DebugWindow.kind, as: UInt32.self))
          ))
      }
    }

    let processCount = u32(DebugBlock.processCount)
    let processRecordSize = u32(DebugBlock.processRecordSize)
    let processAddress = u64(DebugBlock.processTablePhysical)
    guard processCount <= Self.maxProcesses else {
      throw .tooManyProcesses(count: processCount, limit: Self.maxProcesses)
    }
    var processes: [MmProcess] = []
    if processCount > 0 {
      guard processRecordSize >= ProcessRecord.size, processRecordSize <= 4096 else {
        throw .processRecordSize(found: processRecordSize, expected: ProcessRecord.size)
      }
      let stride = Int(processRecordSize)
      guard let table = memory.bytes(at: processAddress, count: Int(processCount) * stride) else {
        throw .processTableOutsideMemory(address: processAddress, count: processCount)
      }
      for index in 0..<Int(processCount) {
        let base = index * stride
        func p32(_ offset: Int) -> UInt32 {
          UInt32(littleEndian: table.loadUnaligned(fromByteOffset: base + offset, as: UInt32.self))
        }
        func p64(_ offset: Int) -> UInt64 {
          UInt64(littleEndian: table.loadUnaligned(fromByteOffset: base + offset, as: UInt64.self))
        }
        let id = p32(ProcessRecord.id)
        guard id != 0 else { continue }
        processes.append(
          MmProcess(
            slot: index, id: id, flags: p32(ProcessRecord.flags), root: p64(ProcessRecord.root),
            vadRoot: p64(ProcessRecord.vadRoot), workingSet: p64(ProcessRecord.workingSet)))
      }
    }

    var controlAreaTable: UInt64 = 0
    var controlAreaSlots = 0
    var controlAreas: [MmControlArea] = []
    var cacheViews: [MmCacheView] = []
    var systemSpaceViews: [MmSystemSpaceView] = []
    if hasSystemViews {
      systemSpaceViews = try Self.decodeSystemSpaceViews(
        memory: memory, at: u64(DebugBlock.systemViewsPhysical), count: u32(DebugBlock.systemViewCount),
        recordSize: u32(DebugBlock.systemViewRecordSize))
    }
    if hasControlAreas {
      controlAreaTable = u64(DebugBlock.controlAreasPhysical)
      controlAreaSlots = Int(u32(DebugBlock.controlAreaSlots))
      controlAreas = try Self.decodeControlAreas(
        memory: memory, at: controlAreaTable, slots: u32(DebugBlock.controlAreaSlots),
        recordSize: u32(DebugBlock.controlAreaRecordSize))
      cacheViews = try Self.decodeCacheViews(
        memory: memory, at: u64(DebugBlock.cacheViewsPhysical), count: u32(DebugBlock.cacheViewCount),
        recordSize: u32(DebugBlock.cacheViewRecordSize))
    }

    self.memory = memory
    self.debugBlockAddress = address
    self.version = version
    self.blockSize = blockSize
    self.pfnDatabaseAddress = databaseAddress
    self.pfnCount = pfnCount
    self.listHeadsAddress = headsAddress
    self.listHeads = listHeads
    self.kernelRoot = u64(DebugBlock.kernelRoot)
    self.selfMap = selfMap
    self.windows = windows
    self.processes = processes
    self.availablePages = u64(DebugBlock.availablePages)
    self.pfnDatabase = database
    self.controlAreaTableAddress = controlAreaTable
    self.controlAreaSlots = controlAreaSlots
    self.controlAreas = controlAreas
    self.cacheViews = cacheViews
    self.systemSpaceViews = systemSpaceViews
  }

  /// The in-use slots of the control-area table: bounded count and record size, the
  /// whole table in RAM (nothing is read when there are no slots).
  static func decodeControlAreas(memory: GuestPhysicalMemory, at address: UInt64, slots: UInt32, recordSize: UInt32)
    throws(MmDecodeError) -> [MmControlArea]
  {
    guard slots > 0 else { return [] }
    guard slots <= Self.maxControlAreas else { throw .tooManyControlAreas(count: slots, limit: Self.maxControlAreas) }
    guard recordSize >= ControlAreaRecord.size, recordSize <= 4096 else {
      throw .controlAreaRecordSize(found: recordSize, expected: ControlAreaRecord.size)
    }
    let stride = Int(recordSize)
    guard let table = memory.bytes(at: address, count: Int(slots) * stride) else {
      throw .controlAreaTableOutsideMemory(address: address, count: slots)
    }
    var areas: [MmControlArea] = []
    for index in 0..<Int(slots) {
      let record = UnsafeRawBufferPointer(rebasing: table[(index * stride)..<(index * stride + ControlAreaRecord.size)])
      let area = MmControlArea(slot: index, address: address + UInt64(index * stride), record: record)
      if area.rawFlags != 0 { areas.append(area) }
    }
    return areas
  }

  /// The self-map slot as the debug block gives it.
  public var selfMapSlot: UInt64 { selfMap.slot }

  /// The record of `pfn`, or nil if `pfn` is not below `pfnCount`.
  public func frame(_ pfn: UInt64) -> PageFrame? {
    guard pfn < pfnCount else { return nil }
    let offset = Int(pfn) * PageFrameRecord.size
    return PageFrame(
      pfn: pfn, record: UnsafeRawBufferPointer(rebasing: pfnDatabase[offset..<(offset + PageFrameRecord.size)]))
  }

  /// Physical address of `pfn`'s record, or nil if `pfn` is not below `pfnCount`.
  public func recordAddress(_ pfn: UInt64) -> UInt64? {
    pfn < pfnCount ? pfnDatabaseAddress + pfn * UInt64(PageFrameRecord.size) : nil
  }

  /// The head of the list `location`; nil for the non-list locations.
  public func listHead(_ location: PageLocation) -> PageListHeadState? {
    location.isList ? listHeads[Int(location.rawValue)] : nil
  }

  /// The process whose id is `id`, if it has a slot.
  public func process(id: UInt32) -> MmProcess? { processes.first { $0.id == id } }
}
