import GuestABI
import Inspect
import Testing

/// The host reads a VAD table in the layout its header names: the current
/// one (view fields, records possibly larger than it knows), the first (a
/// header of zeros, 32-byte records), and nothing else.
@Suite("Decoding VAD tables, old layout and new")
struct VadTableDecodingTests {
  /// Writes a table at process 0's VAD root: the header, then `records` as words, `stride` bytes apart.
  func plantTable(
    _ guest: SyntheticGuest, count: UInt32, capacity: UInt32, version: UInt16, recordSize: UInt16,
    records: [[UInt64]], stride: Int
  ) throws -> MmProcess {
    let process = try #require(try guest.withState { $0.processes.first })
    let root = process.vadRoot
    guest.setEntry(root, UInt64(count) | UInt64(capacity) << 32)
    guest.setEntry(root + 8, UInt64(version) | UInt64(recordSize) << 16)
    for (n, words) in records.enumerated() {
      for (k, word) in words.enumerated() {
        guest.setEntry(root + UInt64(VadTable.headerSize + n * stride + 8 * k), word)
      }
    }
    return process
  }

  /// Record words: start page, end page, (protection, type, flags, committed) packed, then any more.
  static func words(_ start: UInt64, _ end: UInt64, protection: UInt8, type: UInt8, committed: UInt32, more: [UInt64])
    -> [UInt64]
  {
    [start, end, UInt64(protection) | UInt64(type) << 8 | UInt64(committed) << 32] + more
  }

  @Test("the current layout: view fields read, records as large as the header says")
  func currentLayout() throws {
    let guest = SyntheticGuest()
    let stride = VadRecord.size + 16  // a later version's larger records
    let process = try plantTable(
      guest, count: 2, capacity: 10, version: VadTable.currentVersion, recordSize: UInt16(stride),
      records: [
        Self.words(0x10, 0x1F, protection: 4, type: 0, committed: 3, more: [0, 0]),
        Self.words(0x40, 0x4F, protection: 2, type: 1, committed: 16, more: [0x12_3000, 7]),
      ], stride: stride)
    let vads = try guest.withState { try $0.vadTable(of: process).get() }
    #expect(vads.count == 2)
    #expect(vads[0].start == 0x10_000 && vads[0].end == 0x20_000 && vads[0].committedPages == 3)
    #expect(vads[1].type == VadType.mapped.rawValue && vads[1].controlArea == 0x12_3000)
    #expect(vads[1].sectionOffsetPages == 7 && vads[1].protection == 2)
  }

  @Test("the first layout: a header of zeros and 32-byte records, no view fields")
  func firstLayout() throws {
    let guest = SyntheticGuest()
    let process = try plantTable(
      guest, count: 2, capacity: 127, version: 0, recordSize: 0,
      records: [
        Self.words(0x10, 0x1F, protection: 4, type: 0, committed: 1, more: [0x5555]),
        Self.words(0x30, 0x30, protection: 1, type: 0, committed: 0, more: [0]),
      ], stride: VadTable.firstLayoutRecordSize)
    let vads = try guest.withState { try $0.vadTable(of: process).get() }
    #expect(vads.map(\.start) == [0x10_000, 0x30_000])
    #expect(vads.allSatisfy { $0.controlArea == 0 }, "the first layout's reserved word is no control area")
  }

  @Test("an unknown layout, and a count above the capacity, are refused with why")
  func refused() throws {
    let guest = SyntheticGuest()
    var process = try plantTable(guest, count: 1, capacity: 4, version: 7, recordSize: 40, records: [], stride: 40)
    let unknown = try guest.withState { $0.vadTable(of: process) }
    #expect(throws: VadTableProblem.self) { try unknown.get() }
    if case .failure(let problem) = unknown {
      #expect(problem.description.contains("version 7 with 40-byte records"), "\(problem)")
    }
    process = try plantTable(
      guest, count: 1, capacity: 4, version: VadTable.currentVersion, recordSize: UInt16(VadRecord.size - 8),
      records: [], stride: 0)
    #expect(throws: VadTableProblem.self) { try guest.withState { $0.vadTable(of: process) }.get() }
    process = try plantTable(
      guest, count: 9, capacity: 4, version: VadTable.currentVersion, recordSize: UInt16(VadRecord.size),
      records: [], stride: 0)
    let over = try guest.withState { $0.vadTable(of: process) }
    if case .failure(let problem) = over {
      #expect(problem.description.contains("9 records in room for 4"))
    } else {
      Issue.record("a count above the capacity was read")
    }
  }
}
