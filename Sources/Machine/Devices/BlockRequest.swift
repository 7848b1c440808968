import GuestABI

/// One virtio-blk request (virtio 1.1 5.2.6) framed from its checked chain,
/// whatever the descriptor boundaries: the first 16 readable bytes are the
/// header, the last writable byte the status, and what lies between the data
/// (readable for OUT, writable for IN and GET_ID).
struct BlockRequest {
  let head: UInt16
  let header: [UInt8]
  let readableData: [UnsafeMutableRawBufferPointer]
  let writableData: [UnsafeMutableRawBufferPointer]
  let statusByte: UnsafeMutableRawPointer

  /// Frames the chain; a chain without a whole header or a status byte cannot be answered.
  init(head: UInt16, segments: [ChainSegment]) throws(VirtqueueFault) {
    self.head = head
    let readable = segments.filter { !$0.deviceWritable }.map(\.bytes)
    let writable = segments.filter(\.deviceWritable).map(\.bytes)
    let (headerBuffers, data) = Self.split(readable, at: Virtio.BlockRequest.headerSize)
    header = headerBuffers.flatMap { Array($0) }
    guard header.count == Virtio.BlockRequest.headerSize else {
      throw .malformedRequest(head: head, reason: "fewer than 16 device-readable bytes for the header")
    }
    let writableCount = writable.reduce(0) { $0 + $1.count }
    guard writableCount >= 1 else {
      throw .malformedRequest(head: head, reason: "no device-writable byte for the status")
    }
    let (incoming, status) = Self.split(writable, at: writableCount - 1)
    readableData = data
    writableData = incoming
    statusByte = status.first { $0.count > 0 }!.baseAddress!
  }

  var type: UInt32 { (0..<4).reduce(0) { $0 | UInt32(header[$1]) << (8 * $1) } }
  var sector: UInt64 { (0..<8).reduce(0) { $0 | UInt64(header[8 + $1]) << (8 * $1) } }

  /// Carries the request out; the status it wrote and the bytes written into the chain (the used length).
  func run(disk: DiskFile, serial: [UInt8]) -> (status: UInt8, written: UInt32) {
    let (status, dataWritten) = execute(disk: disk, serial: serial)
    statusByte.storeBytes(of: status, as: UInt8.self)
    return (status, UInt32(truncatingIfNeeded: dataWritten + 1))
  }

  private func execute(disk: DiskFile, serial: [UInt8]) -> (UInt8, Int) {
    typealias R = Virtio.BlockRequest
    switch type {
    case R.typeIn:
      guard let offset = range(writableData, disk: disk), disk.read(at: offset, into: writableData) else {
        return (R.statusIOError, 0)
      }
      return (R.statusOK, writableData.reduce(0) { $0 + $1.count })
    case R.typeOut:
      guard let offset = range(readableData, disk: disk), disk.write(at: offset, from: readableData) else {
        return (R.statusIOError, 0)
      }
      return (R.statusOK, 0)
    case R.typeFlush:
      return (disk.flush() ? R.statusOK : R.statusIOError, 0)
    case R.typeGetID:
      var id = serial + [UInt8](repeating: 0, count: 20 - serial.count)
      var written = 0
      for buffer in writableData where written < id.count {
        let count = min(buffer.count, id.count - written)
        buffer.copyBytes(from: id[written..<(written + count)])
        written += count
      }
      id.removeAll()
      return (R.statusOK, written)
    default:
      return (R.statusUnsupported, 0)
    }
  }

  /// The file offset of a transfer of these buffers at the request's sector; nil if it is
  /// not whole sectors or runs past the disk.
  private func range(_ buffers: [UnsafeMutableRawBufferPointer], disk: DiskFile) -> UInt64? {
    let length = UInt64(buffers.reduce(0) { $0 + $1.count })
    let sectorSize = UInt64(Virtio.BlockRequest.sectorSize)
    guard length % sectorSize == 0, sector <= disk.sectorCount, length / sectorSize <= disk.sectorCount - sector
    else { return nil }
    return sector * sectorSize
  }

  /// The buffers split after `count` bytes: those before, those after.
  static func split(_ buffers: [UnsafeMutableRawBufferPointer], at count: Int)
    -> ([UnsafeMutableRawBufferPointer], [UnsafeMutableRawBufferPointer])
  {
    var before: [UnsafeMutableRawBufferPointer] = []
    var after: [UnsafeMutableRawBufferPointer] = []
    var left = count
    for buffer in buffers {
      if left >= buffer.count {
        before.append(buffer)
        left -= buffer.count
      } else {
        if left > 0 { before.append(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<left])) }
        after.append(UnsafeMutableRawBufferPointer(rebasing: buffer[left...]))
        left = 0
      }
    }
    return (before, after)
  }
}
