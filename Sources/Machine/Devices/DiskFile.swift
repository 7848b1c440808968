#if canImport(Glibc)
  import Glibc
#endif

/// A disk image on the host: a regular file the block device reads and writes
/// in place, with data moved by preadv/pwritev straight between the file and
/// guest RAM. Its size is fixed when it opens (whole 512-byte sectors).
public final class DiskFile {
  public let path: String
  /// Bytes of the image; a ragged tail past the last whole sector is not part of the disk.
  public let size: UInt64
  public let readOnly: Bool
  private let descriptor: Int32

  /// Opens the regular file at `path` for reading and (unless `readOnly`) writing.
  public init(path: String, readOnly: Bool = false) throws(MachineError) {
    let flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK
    let descriptor = Glibc.open(path, flags)
    guard descriptor >= 0 else {
      throw .invalidConfiguration("disk image \(path): \(errnoDescription(errno))")
    }
    var status = stat()
    guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
      close(descriptor)
      throw .invalidConfiguration("disk image \(path) is not a regular file")
    }
    let sectors = UInt64(status.st_size) / UInt64(Self.sectorSize)
    guard sectors > 0 else {
      close(descriptor)
      throw .invalidConfiguration("disk image \(path) holds no whole 512-byte sector (\(status.st_size) bytes)")
    }
    _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
    self.path = path
    self.descriptor = descriptor
    self.size = sectors * UInt64(Self.sectorSize)
    self.readOnly = readOnly
  }

  deinit { close(descriptor) }

  public static let sectorSize = 512
  /// IOV_MAX on Linux (<limits.h> UIO_MAXIOV): the most iovecs one preadv/pwritev takes.
  static let vectorLimit = 1024
  public var sectorCount: UInt64 { size / UInt64(Self.sectorSize) }

  /// Reads the file at `offset` into the buffers in order; false on an error or a short read.
  func read(at offset: UInt64, into buffers: [UnsafeMutableRawBufferPointer]) -> Bool {
    transfer(at: offset, buffers) { descriptor, vectors, count, position in
      // SAFETY: every iovec names guest RAM the device checked; preadv writes only there.
      preadv(descriptor, vectors, count, position)
    }
  }

  /// Writes the buffers in order at `offset`; false on an error or a short write.
  func write(at offset: UInt64, from buffers: [UnsafeMutableRawBufferPointer]) -> Bool {
    guard !readOnly else { return false }
    return transfer(at: offset, buffers) { descriptor, vectors, count, position in
      // SAFETY: every iovec names guest RAM the device checked; pwritev only reads it.
      pwritev(descriptor, vectors, count, position)
    }
  }

  /// Makes what was written durable (VIRTIO_BLK_T_FLUSH).
  func flush() -> Bool { readOnly || fdatasync(descriptor) == 0 }

  /// Runs a vectored transfer to completion, resuming after a short one (a signal, a pipe-sized chunk).
  private func transfer(
    at offset: UInt64, _ buffers: [UnsafeMutableRawBufferPointer],
    _ call: (Int32, UnsafePointer<iovec>, Int32, off_t) -> Int
  ) -> Bool {
    var vectors = buffers.filter { $0.count > 0 }.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
    var position = offset
    var first = 0
    while first < vectors.count {
      let batch = min(vectors.count - first, Self.vectorLimit)
      let done = vectors.withUnsafeBufferPointer {
        call(descriptor, $0.baseAddress! + first, Int32(batch), off_t(position))
      }
      if done < 0, errno == EINTR { continue }
      guard done > 0 else { return false }
      position += UInt64(done)
      var left = done
      while left > 0, first < vectors.count {
        let length = vectors[first].iov_len
        if left >= length {
          left -= length
          first += 1
        } else {
          vectors[first].iov_base = vectors[first].iov_base! + left
          vectors[first].iov_len = length - left
          left = 0
        }
      }
    }
    return true
  }
}
