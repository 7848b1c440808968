#if canImport(Glibc)
  import Glibc
#endif

/// The one way mmlab opens a file the user names for reading (a core, a guest image, an
/// errata file, a script): regular files only. The open is non-blocking, so a FIFO with no
/// writer or a device cannot hang it, and the kind is checked on the descriptor (no race
/// between a check and the open); anything but a regular file gets its own message.
public enum InputFile {
  /// A descriptor open for reading on the regular file at `path` (blocking again), and its size.
  public static func open(_ path: String) throws(InputFileError) -> (descriptor: Int32, size: Int) {
    let descriptor = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
    guard descriptor >= 0 else {
      let code = errno
      throw InputFileError(path: path, kind: code == ENOENT ? .missing : .cannotOpen(errno: code))
    }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else {
      let code = errno
      close(descriptor)
      throw InputFileError(path: path, kind: .cannotOpen(errno: code))
    }
    guard let kind = InputFileError.Kind(mode: status.st_mode) else {
      _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
      return (descriptor, Int(status.st_size))
    }
    close(descriptor)
    throw InputFileError(path: path, kind: kind)
  }

  /// The whole regular file at `path`, refused if larger than `limit` bytes.
  public static func read(_ path: String, limit: Int = 1 << 30) throws(InputFileError) -> [UInt8] {
    let (descriptor, size) = try open(path)
    defer { close(descriptor) }
    guard size <= limit else { throw InputFileError(path: path, kind: .tooLarge(size: size, limit: limit)) }
    var bytes = [UInt8](repeating: 0, count: size)
    var offset = 0
    while offset < size {
      // SAFETY: read(2) writes at most the bytes left in the array.
      let count = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + offset, size - offset) }
      if count < 0, errno == EINTR { continue }
      guard count >= 0 else { throw InputFileError(path: path, kind: .readFailed(errno: errno)) }
      if count == 0 { break }  // shrank while read
      offset += count
    }
    return Array(bytes[0..<offset])
  }
}

/// A named file that cannot be read as one; `description` says why in the user's terms.
public struct InputFileError: Error, Equatable, Sendable, CustomStringConvertible {
  public enum Kind: Equatable, Sendable {
    case missing
    case directory
    case fifo
    case characterDevice
    case blockDevice
    case socket
    case cannotOpen(errno: Int32)
    case readFailed(errno: Int32)
    case tooLarge(size: Int, limit: Int)

    /// The kind of a file that is not regular; nil for a regular file.
    init?(mode: mode_t) {
      switch mode & S_IFMT {
      case S_IFREG: return nil
      case S_IFDIR: self = .directory
      case S_IFIFO: self = .fifo
      case S_IFCHR: self = .characterDevice
      case S_IFBLK: self = .blockDevice
      case S_IFSOCK: self = .socket
      default: self = .cannotOpen(errno: EINVAL)
      }
    }
  }

  public var path: String
  public var kind: Kind

  public init(path: String, kind: Kind) {
    self.path = path
    self.kind = kind
  }

  public var description: String { "\(path): \(reason)" }

  /// Why, without the path: "is a directory, not a file".
  public var reason: String {
    let why: String
    switch kind {
    case .missing: why = "no such file"
    case .directory: why = "is a directory, not a file"
    case .fifo: why = "is a FIFO (named pipe), not a file: mmlab reads only regular files"
    case .characterDevice: why = "is a character device, not a file: mmlab reads only regular files"
    case .blockDevice: why = "is a block device, not a file: mmlab reads only regular files"
    case .socket: why = "is a socket, not a file: mmlab reads only regular files"
    case .cannotOpen(let code): why = "cannot be opened: \(String(cString: strerror(code)))"
    case .readFailed(let code): why = "cannot be read: \(String(cString: strerror(code)))"
    case .tooLarge(let size, let limit): why = "is \(size) bytes, more than the \(limit) bytes mmlab reads"
    }
    return why
  }
}
