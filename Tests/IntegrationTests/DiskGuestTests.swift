import Foundation
import GuestABI
import Inspect
import Machine
import Testing

/// The guest's virtio-blk driver against the device of each backend: the raw
/// disk bench reads and writes a disk of known bytes, and what it leaves on
/// the disk proves every read delivered the right bytes and every write landed.
enum DiskGuest {
  /// 36 MiB of 8-byte little-endian counters (each 8-byte word holds its own index).
  static func patternDisk() throws -> String {
    let path = NSTemporaryDirectory() + "mmlab-disk-\(UUID().uuidString).img"
    var bytes = [UInt8](repeating: 0, count: 36 << 20)
    bytes.withUnsafeMutableBytes { raw in
      for word in 0..<(raw.count / 8) {
        raw.storeBytes(of: UInt64(word).littleEndian, toByteOffset: word * 8, as: UInt64.self)
      }
    }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
  }

  /// What `DiskBenchLayout`'s passes leave: the 64 KiB passes copy the span's last
  /// 64 KiB over every 64 KiB of the span, the 1 MiB passes copy the span's last MiB
  /// (by then 16 copies of the same) over every MiB; the rest is untouched.
  static func expectedAfterBench(_ original: [UInt8]) -> [UInt8] {
    let span = Int(DiskBenchLayout.span)
    let small = Int(DiskBenchLayout.smallRequest)
    let last = original[(span - small)..<span]
    var expected = original
    for block in stride(from: 0, to: span, by: small) { expected.replaceSubrange(block..<(block + small), with: last) }
    return expected
  }

  static func run(_ backend: Backend) throws -> (Session, String) {
    let path = try patternDisk()
    var options = BootOptions(timeoutSeconds: 120, commandLine: ["bench.disk"], backend: backend)
    options.disks = [path]
    var console = ""
    let session = try Session(options: options) { console += $0 }
    try session.run(toCheckpoint: "booted")
    #expect(console.contains("virtio-blk: 1 disk(s), first of 73728 sectors"), "\(console)")
    try session.run(toCheckpoint: "measured")
    let outcome = try session.runToExit()
    #expect(outcome.status == 0 && outcome.exception == nil)
    return (session, path)
  }
}

@Suite("The guest's virtio-blk driver", .enabled(if: BootingTests.enabled, BootingTests.reason))
struct DiskGuestTests {
  @Test("on KVMMachine: all 1,088 requests complete without a fault, and each figure is reported")
  func kvmMachine() throws {
    let (session, path) = try DiskGuest.run(.kvm)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let measurements = session.machine.measurements
    let counts: [(MeasurementKind, UInt64)] = [
      (.diskRead64K, 512), (.diskWrite64K, 512), (.diskRead1M, 32), (.diskWrite1M, 32),
    ]
    for (kind, count) in counts {
      let figure = try #require(measurements[kind.rawValue], "\(kind)")
      #expect(figure.iterations == count && figure.medianTicks > 0, "\(kind)")
    }
    let machine = try #require(session.machine as? KVMMachine)
    #expect(machine.disks.count == 1)
    #expect(machine.disks[0].fault == nil)
    #expect(machine.disks[0].completed == 1088 && machine.disks[0].failed == 0)
  }

  @Test("the disk's bytes after the bench are what its passes imply, on KVMMachine")
  func bytesAfterBench() throws {
    let path = try DiskGuest.patternDisk()
    defer { try? FileManager.default.removeItem(atPath: path) }
    let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    var options = BootOptions(commandLine: ["bench.disk"])
    options.disks = [path]
    let session = try Session(options: options)
    _ = try session.runToExit()
    let after = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(after == DiskGuest.expectedAfterBench(original))
  }

  @Test("the device window's mappings and the driver's pages keep the Mm's invariants")
  func validatesClean() throws {
    let path = try DiskGuest.patternDisk()
    defer { try? FileManager.default.removeItem(atPath: path) }
    var options = BootOptions()
    options.disks = [path]
    let session = try Session(options: options)
    let reached = try session.run(toCheckpoint: "booted")
    let report = try ScenarioValidation.validate(GuestSnapshot(session: session, checkpoint: reached))
    #expect(report.isClean, "\(report)")
  }
}

@Suite("fsck.fat after runs that wrote a FAT volume", .enabled(if: BootingTests.enabled, BootingTests.reason))
struct VolumeCheckTests {
  func volume() throws -> String {
    let path = NSTemporaryDirectory() + "mmlab-volume-\(UUID().uuidString).img"
    _ = try FatImageBuilder(source: nil, output: path, sizeMiB: 40).build()
    return path
  }

  @Test("a guest that overwrites a FAT volume's sectors fails the run with fsck's words")
  func damagedVolumeFailsTheRun() throws {
    let path = try volume()
    defer { unlink(path) }
    var options = BootOptions(commandLine: ["bench.disk"])
    options.disks = [path]
    let session = try Session(options: options)
    #expect(session.volumes.written.isEmpty)
    do {
      _ = try session.runToExit()
      Issue.record("a volume the bench overwrote passed fsck")
    } catch .volumeDamaged(let damaged, let words) {
      #expect(damaged == path)
      #expect(!words.isEmpty)
    }
  }

  @Test("a run that leaves the volume alone is not checked, and passes")
  func untouchedVolume() throws {
    let path = try volume()
    defer { unlink(path) }
    var options = BootOptions()
    options.disks = [path]
    let session = try Session(options: options)
    #expect(try session.runToExit().status == 0)
    #expect(session.volumes.written.isEmpty)
  }
}

@Suite(
  "The guest's virtio-blk driver under libvirt", .enabled(if: LibvirtTests.enabled, LibvirtTests.reason), .serialized)
struct DiskLibvirtTests {
  @Test(
    "QEMU's virtio-blk-pci (KVM and TCG): the bench's bytes on the disk equal KVMMachine's",
    arguments: [LibvirtTests.kvm, LibvirtTests.tcg])
  func sameBytes(backend: Backend) throws {
    let path = try DiskGuest.patternDisk()
    defer { try? FileManager.default.removeItem(atPath: path) }
    let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    var options = BootOptions(timeoutSeconds: 120, commandLine: ["bench.disk"], backend: backend)
    options.disks = [path]
    var console = ""
    let session = try Session(options: options) { console += $0 }
    let outcome = try session.runToExit()
    #expect(outcome.status == 0, "\(console)")
    #expect(console.contains("virtio-blk: 1 disk(s), first of 73728 sectors"))
    let after = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(after == DiskGuest.expectedAfterBench(original))
    #expect(session.machine.measurements[MeasurementKind.diskRead1M.rawValue] != nil)
  }
}
