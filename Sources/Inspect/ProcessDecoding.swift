import GuestABI
import Machine
import X86Paging

/// One VAD as the host decodes it from a process's VAD table.
public struct DecodedVad: Sendable, Equatable {
  public var start: UInt64
  /// One past the last byte.
  public var end: UInt64
  public var protection: UInt8
  public var type: UInt8
  public var flags: UInt16
  public var committedPages: UInt32
  /// A mapped view's control area (physical) and first page in its section;
  /// 0 for private memory and in the first layout, which has no such fields.
  public var controlArea: UInt64 = 0
  public var sectionOffsetPages: UInt64 = 0
}

extension MmState {
  /// The VADs of `process` (see `vadTable(of:)`); nil when the table cannot be read.
  public func vads(of process: MmProcess) -> [DecodedVad]? {
    try? vadTable(of: process).get()
  }

  /// The VADs of `process`, read from its VAD table (GuestABI `VadTable`) in
  /// the layout its header names: the current one (records of at least
  /// `VadRecord.size` bytes, read in steps of the header's record size) or
  /// the first (version and record size 0, 32-byte records). Any other
  /// layout, a count above the capacity, or records past guest RAM is a
  /// failure that says which. Never reads more than the count says.
  public func vadTable(of process: MmProcess) -> Result<[DecodedVad], VadTableProblem> {
    let root = process.vadRoot
    guard root != 0 else { return .failure(VadTableProblem("process \(process.id) names no VAD table")) }
    guard let count = memory.load(UInt32.self, at: root + UInt64(VadTable.count)),
      let capacity = memory.load(UInt32.self, at: root + UInt64(VadTable.capacity)),
      let version = memory.load(UInt16.self, at: root + UInt64(VadTable.version)),
      let recordSize = memory.load(UInt16.self, at: root + UInt64(VadTable.recordSize))
    else { return .failure(VadTableProblem("process \(process.id)'s VAD table at \(hex(root)) is outside guest RAM")) }
    let stride: Int
    switch (version, Int(recordSize)) {
    case (0, 0): stride = VadTable.firstLayoutRecordSize
    case (VadTable.currentVersion, let size) where size >= VadRecord.size: stride = size
    default:
      return .failure(
        VadTableProblem(
          "process \(process.id)'s VAD table has version \(version) with \(recordSize)-byte records, "
            + "a layout this mmlab does not know (it reads version \(VadTable.currentVersion), and the first)"))
    }
    guard count <= capacity, capacity <= 1 << 16 else {
      return .failure(
        VadTableProblem("process \(process.id)'s VAD table holds \(count) records in room for \(capacity)"))
    }
    guard let records = memory.bytes(at: root + UInt64(VadTable.headerSize), count: Int(count) * stride) else {
      return .failure(VadTableProblem("process \(process.id)'s VAD records run past guest RAM"))
    }
    return .success((0..<Int(count)).map { decodeVad(records, at: $0 * stride, views: version != 0) })
  }

  private func decodeVad(_ records: UnsafeRawBufferPointer, at base: Int, views: Bool) -> DecodedVad {
    let first = records.loadUnaligned(fromByteOffset: base + VadRecord.startPage, as: UInt64.self)
    let last = records.loadUnaligned(fromByteOffset: base + VadRecord.endPage, as: UInt64.self)
    var vad = DecodedVad(
      start: first << 12, end: (last &+ 1) << 12, protection: records[base + VadRecord.protection],
      type: records[base + VadRecord.type],
      flags: records.loadUnaligned(fromByteOffset: base + VadRecord.flags, as: UInt16.self),
      committedPages: records.loadUnaligned(fromByteOffset: base + VadRecord.committedPages, as: UInt32.self))
    if views {
      vad.controlArea = records.loadUnaligned(fromByteOffset: base + VadRecord.controlArea, as: UInt64.self)
      vad.sectionOffsetPages = records.loadUnaligned(
        fromByteOffset: base + VadRecord.sectionOffsetPages, as: UInt64.self)
    }
    return vad
  }
}

/// Why a VAD table could not be read.
public struct VadTableProblem: Error, Sendable, Equatable, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

extension PfnReport {
  /// Each process with its root and VADs, for the summary.
  public func processLines() -> [String] {
    state.processes.flatMap { process -> [String] in
      var lines = ["process \(process.id): PML4 at \(hex(process.root))"]
      let vads: [DecodedVad]
      switch state.vadTable(of: process) {
      case .success(let decoded): vads = decoded
      case .failure(let problem): return lines + ["  (VAD table unreadable: \(problem))"]
      }
      for vad in vads {
        lines.append(
          "  VAD \(hex(vad.start))-\(hex(vad.end)) protection \(hex(UInt64(vad.protection))) "
            + "\(vad.type == VadType.private.rawValue ? "private" : "mapped"), \(vad.committedPages) pages committed")
      }
      return lines
    }
  }

  public func processJSON() -> [[String: Any]] {
    state.processes.map { process in
      var object: [String: Any] = ["id": process.id, "root": hex(process.root)]
      switch state.vadTable(of: process) {
      case .success(let vads):
        object["vads"] = vads.map { vad -> [String: Any] in
          var fields: [String: Any] = [
            "start": hex(vad.start), "end": hex(vad.end), "protection": Int(vad.protection),
            "type": vad.type == VadType.private.rawValue ? "private" : "mapped",
            "committedPages": Int(vad.committedPages),
          ]
          if vad.type != VadType.private.rawValue {
            fields["controlArea"] = hex(vad.controlArea)
            fields["sectionOffsetPages"] = Int(vad.sectionOffsetPages)
          }
          return fields
        }
      case .failure(let problem): object["vadTableProblem"] = problem.description
      }
      return object
    }
  }
}
