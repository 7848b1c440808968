#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Where a report goes as it is produced: a file descriptor, written in blocks of
/// `blockSize`, or memory (for tests and for callers that want the text). A dump of a
/// million leaves is written while the walk runs, so its memory is this buffer, not the
/// report.
///
/// A write error (a closed pipe, a full disk) stops the output; `finish` reports it.
public final class ReportSink {
  public static let blockSize = 1 << 16

  private enum Target {
    case descriptor(Int32)
    case memory
  }

  private let target: Target
  private var storage: UnsafeMutablePointer<UInt8>
  private var capacity: Int
  private var count = 0
  /// Bytes handed to the sink so far (written or buffered).
  public private(set) var byteCount = 0
  /// The first write error (errno), after which nothing more is written.
  public private(set) var writeError: Int32?

  private init(target: Target, capacity: Int) {
    self.target = target
    self.capacity = capacity
    self.storage = .allocate(capacity: capacity)
  }

  deinit { storage.deallocate() }

  /// A sink that writes to `descriptor` (not closed by the sink).
  public static func descriptor(_ descriptor: Int32) -> ReportSink {
    ReportSink(target: .descriptor(descriptor), capacity: blockSize)
  }

  public static var standardOutput: ReportSink { descriptor(STDOUT_FILENO) }

  /// A sink that keeps everything in memory (`string`, `bytes`).
  public static func memory() -> ReportSink { ReportSink(target: .memory, capacity: 4096) }

  /// What a memory sink holds, as text.
  public var string: String {
    String(decoding: UnsafeBufferPointer(start: storage, count: count), as: UTF8.self)
  }

  /// Room for `bytes` bytes at the end of the buffer: `body` writes them and returns how
  /// many it wrote (at most `bytes`). Hot loops format straight into the sink this way.
  @inline(__always)
  public func append(reserving bytes: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
    if count + bytes > capacity { makeRoom(bytes) }
    let written = body(storage + count)
    precondition(written <= bytes, "ReportSink.append: wrote past its reservation")
    count += written
    byteCount += written
  }

  public func write(_ text: String) {
    var text = text
    text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
  }

  public func write(_ text: StaticString) {
    text.withUTF8Buffer { write(UnsafeRawBufferPointer($0)) }
  }

  public func write(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
    if count + bytes.count > capacity { makeRoom(bytes.count) }
    if bytes.count > capacity {  // larger than a block: straight through
      drain(UnsafeRawBufferPointer(start: base, count: bytes.count))
      byteCount += bytes.count
      return
    }
    (storage + count).update(from: base.assumingMemoryBound(to: UInt8.self), count: bytes.count)
    count += bytes.count
    byteCount += bytes.count
  }

  public func write(byte: UInt8) {
    if count == capacity { makeRoom(1) }
    storage[count] = byte
    count += 1
    byteCount += 1
  }

  /// Writes what is buffered; throws the first write error the sink met.
  public func finish() throws(ReportSinkError) {
    if case .descriptor = target { flush() }
    if let writeError { throw ReportSinkError(errno: writeError) }
  }

  /// Empties the buffer into the descriptor, or grows it (memory).
  private func makeRoom(_ bytes: Int) {
    switch target {
    case .descriptor:
      flush()
    case .memory:
      var grown = capacity * 2
      while grown < count + bytes { grown *= 2 }
      let larger = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
      larger.update(from: storage, count: count)
      storage.deallocate()
      storage = larger
      capacity = grown
    }
  }

  private func flush() {
    drain(UnsafeRawBufferPointer(start: storage, count: count))
    count = 0
  }

  private func drain(_ bytes: UnsafeRawBufferPointer) {
    guard case .descriptor(let descriptor) = target, writeError == nil else { return }
    var offset = 0
    while offset < bytes.count {
      // SAFETY: write(2) reads at most the remaining bytes of the buffer.
      let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
      if written < 0 {
        if errno == EINTR { continue }
        writeError = errno
        return
      }
      offset += written
    }
  }
}

/// The report could not be written.
public struct ReportSinkError: Error, CustomStringConvertible {
  public var errno: Int32
  public var description: String { "cannot write the report: \(String(cString: strerror(errno)))" }
}
