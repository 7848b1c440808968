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
}

extension MmState {
  /// The VADs of `process`, read from its VAD table (GuestABI `VadTable`); nil
  /// when the table is missing or malformed (a count above its capacity, or
  /// records that run past guest RAM). Never reads more than the capacity says.
  public func vads(of process: MmProcess) -> [DecodedVad]? {
    guard process.vadRoot != 0,
      let count = memory.load(UInt32.self, at: process.vadRoot + UInt64(VadTable.count)),
      let capacity = memory.load(UInt32.self, at: process.vadRoot + UInt64(VadTable.capacity)),
      count <= capacity, capacity <= 1 << 16,
      let records = memory.bytes(
        at: process.vadRoot + UInt64(VadTable.headerSize), count: Int(count) * VadRecord.size)
    else { return nil }
    return (0..<Int(count)).map { index in
      let base = index * VadRecord.size
      let first = records.loadUnaligned(fromByteOffset: base + VadRecord.startPage, as: UInt64.self)
      let last = records.loadUnaligned(fromByteOffset: base + VadRecord.endPage, as: UInt64.self)
      return DecodedVad(
        start: first << 12, end: (last &+ 1) << 12, protection: records[base + VadRecord.protection],
        type: records[base + VadRecord.type],
        flags: records.loadUnaligned(fromByteOffset: base + VadRecord.flags, as: UInt16.self),
        committedPages: records.loadUnaligned(fromByteOffset: base + VadRecord.committedPages, as: UInt32.self))
    }
  }
}

extension PfnReport {
  /// Each process with its root and VADs, for the summary.
  public func processLines() -> [String] {
    state.processes.flatMap { process -> [String] in
      var lines = ["process \(process.id): PML4 at \(hex(process.root))"]
      guard let vads = state.vads(of: process) else { return lines + ["  (VAD table unreadable)"] }
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
      if let vads = state.vads(of: process) {
        object["vads"] = vads.map { vad -> [String: Any] in
          [
            "start": hex(vad.start), "end": hex(vad.end), "protection": Int(vad.protection),
            "type": vad.type == VadType.private.rawValue ? "private" : "mapped",
            "committedPages": Int(vad.committedPages),
          ]
        }
      }
      return object
    }
  }
}
