import Foundation
import GuestABI
import GuestImage
import Inspect
import Machine
import Script
import Testing

/// The shipped file scripts on a copy of the default volume, checked from
/// outside: mtools reads back what the guest wrote byte for byte, the host's
/// FAT reader agrees, fsck.fat is clean, and every backend leaves the same files.
enum FileScripts {
  /// Runs `name` on a private copy of the default volume; the report and the copy's path.
  static func run(_ name: String, backend: Backend) throws -> (ScriptReport, String) {
    let copy = NSTemporaryDirectory() + "mmlab-files-\(UUID().uuidString).img"
    try DiskCopies.copyFile(try #require(GuestImage.defaultDiskPath), to: copy)
    var boot = BootOptions(timeoutSeconds: 120, backend: backend)
    boot.disks = [copy]
    let script = try Script.parse(try #require(ScriptLibrary.text(name)))
    return (try ScriptRunner(script: script, options: ScriptOptions(boot: boot)).run(), copy)
  }

  static func mcopy(_ image: String, _ path: String) throws -> [UInt8] {
    let outcome = try #require(
      ToolProcess.run("/usr/bin/mcopy", ["-n", "-i", image, "::" + path, "-"], discardErrors: true))
    return [UInt8](outcome.output)
  }

  /// Line i of the default volume's pattern/lines-4mib.txt (Images/build-disk-image.sh).
  static func lines(from first: Int, count: Int) -> [UInt8] {
    (first..<(first + count)).flatMap { Array(String(format: "%020d mmlab-line\n", $0).utf8) }
  }

  /// What files-basics leaves in "\Written By The Guest", by name.
  static var expectedFiles: [String: [UInt8]] {
    let pattern = (0..<(256 << 10)).map { ScriptPattern.byte(seed: 12, address: 0x1001_0000 + UInt64($0)) }
    let written = [UInt8](repeating: 0, count: 4096) + pattern
    return [
      "copy of lines.txt": lines(from: 32768, count: 2048),
      "PATTERN.BIN": written + [UInt8](repeating: 0, count: 300_000 - written.count),
    ]
  }

  /// Checks the volume after files-basics from every side.
  static func checkVolume(_ path: String) throws {
    let (status, words) = VolumeCheck.fsck(path)
    #expect(status == 0, "\(words)")
    let image = try FatImage(path: path)
    let listed = try image.list("/Written By The Guest")
    #expect(Set(listed.map(\.name)) == Set(expectedFiles.keys))
    for (name, bytes) in expectedFiles {
      #expect(try mcopy(path, "/Written By The Guest/" + name) == bytes, "mtools: \(name)")
      #expect(try image.read("/written by the guest/" + name) == bytes, "host reader: \(name)")
    }
    #expect(try image.fsInfo().freeCount == (try image.freeClusterCount()))
  }
}

@Suite("NT file calls on the guest's FAT volume", .enabled(if: BootingTests.enabled, BootingTests.reason), .serialized)
struct FileScriptTests {
  @Test("files-basics on KVMMachine: what the guest wrote reads back identically through mtools and the host's reader")
  func basicsOnKVM() throws {
    let (report, path) = try FileScripts.run("files-basics", backend: .kvm)
    defer { unlink(path) }
    #expect(report.succeeded, "\(report.text)")
    #expect(report.steps.first { $0.call == "NtReadFile" }?.outputs.first?.value == 65536)
    let queries = report.steps.filter { $0.call == "NtQueryInformationFile" }
    #expect(queries.first?.outputs.map(\.value) == [4 << 20, 4 << 20, 1, 0, 0])
    #expect(queries.last?.outputs.map(\.value) == [8192, 8192, 1, 1, 0], "DeletePending after FILE_DELETE_ON_CLOSE")
    try FileScripts.checkVolume(path)
  }

  @Test("files-bad-inputs: every bad call gets Windows' status and changes nothing; the volume is untouched")
  func badInputs() throws {
    let (report, path) = try FileScripts.run("files-bad-inputs", backend: .kvm)
    defer { unlink(path) }
    #expect(report.succeeded, "\(report.text)")
    #expect(report.steps.filter { ($0.status ?? 0) & 0xC000_0000 == 0xC000_0000 }.count == 26)
    let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try #require(GuestImage.defaultDiskPath))))
    #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) == original, "nothing was written")
  }
}

@Suite("A hostile volume", .enabled(if: BootingTests.enabled, BootingTests.reason), .serialized)
struct HostileVolumeGuestTests {
  /// Plants a loop in pattern/lines-4mib.txt's chain and frees the one cluster of \docs; both readers must refuse.
  @Test(
    "a looping cluster chain and a truncated directory: the guest answers STATUS_FILE_CORRUPT_ERROR, the host reader refuses"
  )
  func refusedByBoth() throws {
    let copy = NSTemporaryDirectory() + "mmlab-hostile-\(UUID().uuidString).img"
    defer { unlink(copy) }
    try DiskCopies.copyFile(try #require(GuestImage.defaultDiskPath), to: copy)
    let image = try FatImage(path: copy)
    let lines = try image.resolve("/pattern/lines-4mib.txt")
    let docs = try image.resolve("/docs")
    let chain = try image.chain(from: lines.firstCluster, what: "lines")
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: copy))
    for fat in 0..<image.geometry.fatCount {
      let base = image.geometry.fatOffset(copy: fat)
      try handle.seek(toOffset: base + UInt64(chain[100]) * 4)
      try handle.write(contentsOf: Data(withUnsafeBytes(of: chain[10].littleEndian) { Array($0) }))
      try handle.seek(toOffset: base + UInt64(docs.firstCluster) * 4)
      try handle.write(contentsOf: Data([0, 0, 0, 0]))
    }
    try handle.close()
    let damaged = try FatImage(path: copy)
    #expect(throws: FatImageError.corrupt("/pattern/lines-4mib.txt: its cluster chain loops")) {
      try damaged.read("/pattern/lines-4mib.txt")
    }
    #expect(throws: FatImageError.self) { try damaged.list("/docs") }
    let open = { (name: String) in
      """
      {"call": "NtOpenFile", "ProcessHandle": "A", "DesiredAccess": "FILE_READ_DATA", "ObjectName": "\\\\??\\\\C:\\\\\(name)",
       "ShareAccess": 0, "OpenOptions": 0, "expect": "STATUS_FILE_CORRUPT_ERROR"}
      """
    }
    let text = """
      {"steps": [{"call": "CreateProcess", "as": "A"}, \(open("pattern\\\\lines-4mib.txt")),
        \(open("docs\\\\lower.txt")),
        {"call": "NtOpenFile", "ProcessHandle": "A", "DesiredAccess": "FILE_READ_DATA", "ObjectName": "\\\\??\\\\C:\\\\README.TXT",
         "ShareAccess": 0, "OpenOptions": 0, "as": "readme", "expect": "STATUS_SUCCESS"},
        {"call": "Checkpoint", "name": "after"}]}
      """
    var boot = BootOptions(timeoutSeconds: 60)
    boot.disks = [copy]
    let report = try ScriptRunner(script: try Script.parse(text), options: ScriptOptions(boot: boot)).run()
    #expect(report.succeeded, "\(report.text)")
  }
}

@Suite(
  "NT file calls under libvirt", .enabled(if: LibvirtTests.enabled && BootingTests.enabled, LibvirtTests.reason),
  .serialized)
struct FileScriptLibvirtTests {
  @Test(
    "files-basics under QEMU (KVM and TCG): the statuses and the files equal KVMMachine's",
    arguments: [LibvirtTests.kvm, LibvirtTests.tcg])
  func sameAsKVMMachine(backend: Backend) throws {
    let (report, path) = try FileScripts.run("files-basics", backend: backend)
    defer { unlink(path) }
    #expect(report.succeeded, "\(report.text)")
    let (direct, directPath) = try FileScripts.run("files-basics", backend: .kvm)
    defer { unlink(directPath) }
    #expect(report.steps.map(\.status) == direct.steps.map(\.status))
    try FileScripts.checkVolume(path)
  }
}
