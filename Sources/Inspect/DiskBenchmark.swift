import Foundation
import GuestABI
import Machine

#if canImport(Glibc)
  import Glibc
#endif

/// One backend's raw disk figures in `mmlab bench`: the guest's virtio-blk
/// driver reading and writing a scratch disk sequentially (`DiskBenchLayout`),
/// beside this host reading the same file with the same request sizes, in the
/// same run and with the file in the page cache for both.
public struct DiskFigures: Sendable {
  public var platform: String
  /// MiB/s by request size in bytes; nil where the TSC frequency is unknown.
  public var guestRead: [UInt64: Double]
  public var guestWrite: [UInt64: Double]
  /// Microseconds per guest request, by size.
  public var guestReadMicroseconds: [UInt64: Double]
  public var hostRead: [UInt64: Double]
  /// Guest read over host read at 1 MiB (target: at least 0.5 on KVMMachine).
  public var readRatio: Double? {
    guard let guest = guestRead[DiskBenchLayout.largeRequest], let host = hostRead[DiskBenchLayout.largeRequest] else {
      return nil
    }
    return guest / max(host, 1e-9)
  }
  public static let readRatioTarget = 0.5
}

public enum DiskBenchmark {
  static let sizes = [DiskBenchLayout.smallRequest, DiskBenchLayout.largeRequest]

  /// Boots `backend` with a scratch disk of `DiskBenchLayout.span` bytes and `bench.disk`.
  public static func measure(_ options: BootOptions, backend: Backend) throws(SessionError) -> DiskFigures {
    let path = NSTemporaryDirectory() + "mmlab-bench-disk-\(getpid()).img"
    defer { unlink(path) }
    guard FileManager.default.createFile(atPath: path, contents: Data(count: Int(DiskBenchLayout.span))) else {
      throw .inspection("cannot create the bench's scratch disk \(path)")
    }
    var boot = options
    boot.backend = backend
    boot.timeoutSeconds = max(options.timeoutSeconds, 120)
    boot.commandLine.append(String(describing: GuestCommandLine.benchDisk))
    boot.disks = [path]
    let host = try hostRead(path)  // also brings the file into the page cache
    let session = try Session(options: boot)
    try session.run(toCheckpoint: String(describing: CheckpointCode.measured.name))
    let tscKHz = session.machine.timeStampCounterKHz
    (session.machine as? LibvirtMachine)?.destroy()
    func rate(_ kind: MeasurementKind, _ size: UInt64) -> (Double, Double)? {
      guard let figure = session.machine.measurements[kind.rawValue], let tscKHz, figure.medianTicks > 0 else {
        return nil
      }
      let microseconds = Double(figure.medianTicks) * 1000 / Double(tscKHz)
      return (Double(size) / 1_048_576 / (microseconds / 1e6), microseconds)
    }
    let kinds: [(UInt64, MeasurementKind, MeasurementKind)] = [
      (DiskBenchLayout.smallRequest, .diskRead64K, .diskWrite64K),
      (DiskBenchLayout.largeRequest, .diskRead1M, .diskWrite1M),
    ]
    var figures = DiskFigures(
      platform: session.machine.platform.description, guestRead: [:], guestWrite: [:], guestReadMicroseconds: [:],
      hostRead: host)
    for (size, read, write) in kinds {
      figures.guestRead[size] = rate(read, size)?.0
      figures.guestReadMicroseconds[size] = rate(read, size)?.1
      figures.guestWrite[size] = rate(write, size)?.0
    }
    return figures
  }

  /// MiB/s of this host's pread(2) over the whole file, per request size: the median of five passes.
  static func hostRead(_ path: String) throws(SessionError) -> [UInt64: Double] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw .inspection("cannot open the bench's scratch disk \(path)") }
    defer { close(descriptor) }
    var size = stat()
    fstat(descriptor, &size)
    let total = Int(size.st_size)
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: Int(DiskBenchLayout.largeRequest), alignment: 4096)
    defer { buffer.deallocate() }
    var rates: [UInt64: Double] = [:]
    for request in sizes {
      var samples: [Double] = []
      for _ in 0..<5 {
        let start = ContinuousClock.now
        var offset = 0
        while offset < total {
          let count = pread(descriptor, buffer, Int(request), off_t(offset))
          guard count > 0 else { throw .inspection("reading the bench's scratch disk failed") }
          offset += count
        }
        samples.append(Double(total) / 1_048_576 / (milliseconds(ContinuousClock.now - start) / 1000))
      }
      rates[request] = Spread(samples).median
    }
    return rates
  }

  /// The lines `mmlab bench` prints.
  public static func text(_ figures: [DiskFigures]) -> String {
    var lines = [
      "raw disk, sequential, guest virtio-blk driver (polled, CPL 0) beside this host's pread of the same file (page cache):"
    ]
    for f in figures {
      var parts: [String] = []
      for size in sizes {
        let label = size == DiskBenchLayout.largeRequest ? "1 MiB" : "64 KiB"
        let guest = f.guestRead[size].map { format($0, 0) } ?? "?"
        let write = f.guestWrite[size].map { format($0, 0) } ?? "?"
        let host = f.hostRead[size].map { format($0, 0) } ?? "?"
        let latency = f.guestReadMicroseconds[size].map { format($0, 1) } ?? "?"
        parts.append(
          "\(label): read \(guest) MiB/s (\(latency) µs a request), write \(write) MiB/s, host read \(host) MiB/s")
      }
      var line = "  \(f.platform): " + parts.joined(separator: "; ")
      if let ratio = f.readRatio {
        line += "; 1 MiB read at \(format(ratio, 2)) of the host's"
        if !f.platform.contains("libvirt") {
          line +=
            " (target >= \(format(DiskFigures.readRatioTarget, 2)): \(ratio >= DiskFigures.readRatioTarget ? "met" : "NOT met"))"
        }
      }
      lines.append(line)
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// The same as JSON objects (MiB/s keyed by request bytes).
  public static func json(_ figures: [DiskFigures]) -> [[String: Any]] {
    figures.map { f in
      func keyed(_ rates: [UInt64: Double]) -> [String: Any] {
        Dictionary(uniqueKeysWithValues: rates.map { (String($0.key), $0.value as Any) })
      }
      var object: [String: Any] = [
        "platform": f.platform, "guestReadMiBps": keyed(f.guestRead), "guestWriteMiBps": keyed(f.guestWrite),
        "guestReadMicroseconds": keyed(f.guestReadMicroseconds), "hostReadMiBps": keyed(f.hostRead),
      ]
      if let ratio = f.readRatio { object["readRatio1MiB"] = ratio }
      return object
    }
  }
}
