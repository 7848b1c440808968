import Foundation
import GuestABI
import GuestFs
import GuestMm
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// mkfs.fat, mtools and fsck.fat, which make the volumes and judge what GuestFs
/// left on them. Missing tools skip the suites, unless MMLAB_REQUIRE_KVM=1 (CI)
/// asks for everything: then the tests run and fail on the missing tool.
enum FatTools {
  static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]
  static let names = ["mkfs.fat", "fsck.fat", "mcopy", "mmd", "mdir"]

  static func path(_ name: String) -> String? {
    let folders = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
    return (folders + searchPath).map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
  }

  static let missing: [String] = names.filter { path($0) == nil }
  static let required = ProcessInfo.processInfo.environment["MMLAB_REQUIRE_KVM"] == "1"
  static let shouldRun = missing.isEmpty || required
  static let skipReason: Comment =
    "mkfs.fat/mtools/fsck.fat missing (apt-get install dosfstools mtools; set MMLAB_REQUIRE_KVM=1 to fail instead)"

  /// Fails the test when a tool is missing (the suite runs then only under MMLAB_REQUIRE_KVM=1).
  static func requireAll() throws {
    try #require(
      missing.isEmpty, "missing tools: \(missing.joined(separator: ", ")) (apt-get install dosfstools mtools)")
  }

  struct Output {
    var status: Int32
    var stdout: [UInt8]
    var stderr: String
    var text: String { String(decoding: stdout, as: UTF8.self) }
  }

  /// Runs a tool to completion.
  @discardableResult
  static func run(_ name: String, _ arguments: [String], input: [UInt8]? = nil) throws -> Output {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try #require(path(name), "\(name) not found"))
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["MTOOLS_SKIP_CHECK"] = "1"
    process.environment = environment
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let inputPipe = Pipe()
    if input != nil { process.standardInput = inputPipe } else { process.standardInput = FileHandle.nullDevice }
    try process.run()
    if let input {
      inputPipe.fileHandleForWriting.write(Data(input))
      try inputPipe.fileHandleForWriting.close()
    }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Output(
      status: process.terminationStatus, stdout: [UInt8](stdout), stderr: String(decoding: stderr, as: UTF8.self))
  }
}

/// A FAT32 image file in a scratch directory, and the tools over it.
final class FatImage {
  let directory: URL
  let path: String

  /// `mkfs.fat -F 32 -s sectorsPerCluster -C` of `kibibytes`.
  init(kibibytes: Int = 40960, sectorsPerCluster: Int = 1) throws {
    try FatTools.requireAll()
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("guestfs-" + UUID().uuidString)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    path = directory.appendingPathComponent("volume.img").path
    let made = try FatTools.run(
      "mkfs.fat", ["-F", "32", "-s", String(sectorsPerCluster), "-n", "GUESTFS", "-C", path, String(kibibytes)])
    try #require(made.status == 0, "mkfs.fat failed: \(made.stderr)")
  }

  deinit { try? FileManager.default.removeItem(at: directory) }

  /// mcopy of `bytes` to `target` ("::/dir/name").
  func put(_ bytes: [UInt8], at target: String) throws {
    let source = directory.appendingPathComponent("source-" + UUID().uuidString)
    try Data(bytes).write(to: source)
    let copied = try FatTools.run("mcopy", ["-i", path, source.path, target])
    try #require(copied.status == 0, "mcopy to \(target) failed: \(copied.stderr)")
  }

  func makeDirectory(_ target: String) throws {
    let made = try FatTools.run("mmd", ["-i", path, target])
    try #require(made.status == 0, "mmd \(target) failed: \(made.stderr)")
  }

  /// The bytes mtools reads at `target`, or nil when mtools finds no such file.
  func get(_ target: String) throws -> [UInt8]? {
    let read = try FatTools.run("mcopy", ["-n", "-i", path, target, "-"])
    return read.status == 0 ? read.stdout : nil
  }

  /// `mdir -a -b` (bare names) of a directory, as mtools sees it.
  func listing(_ target: String) throws -> [String] {
    let listed = try FatTools.run("mdir", ["-i", path, "-b", target])
    return listed.text.split(separator: "\n").map(String.init)
  }

  /// fsck.fat -n: whether it exits 0 with nothing but its banner and summary, and what it said.
  func fsck() throws -> (clean: Bool, report: String) {
    let checked = try FatTools.run("fsck.fat", ["-n", path])
    let lines = checked.text.split(separator: "\n")
    let quiet = lines.allSatisfy { $0.hasPrefix("fsck.fat ") || $0.hasPrefix(path + ": ") }
    return (checked.status == 0 && quiet && checked.stderr.isEmpty, checked.text + checked.stderr)
  }

  func bytes() throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

  /// Overwrites image bytes (the planting of damage).
  func poke(_ offset: Int, _ bytes: [UInt8]) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: Data(bytes))
    try handle.close()
  }

  func poke32(_ offset: Int, _ value: UInt32) throws { try poke(offset, littleEndian(value)) }

  /// `count` image bytes from `offset`.
  func bytes(_ offset: Int, _ count: Int) throws -> [UInt8] {
    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    return [UInt8](try handle.read(upToCount: count) ?? Data())
  }

  func peek32(_ offset: Int) throws -> UInt32 {
    let four = try bytes(offset, 4)
    return UInt32(four[0]) | UInt32(four[1]) << 8 | UInt32(four[2]) << 16 | UInt32(four[3]) << 24
  }

  /// A device over the image file.
  func disk() throws -> ImageDisk { try ImageDisk(path: path) }

  /// Mounts the image.
  func mount() throws -> FatVolume<ImageDisk> {
    let device = try disk()
    do { return try FatVolume.mount(device) } catch { throw FsFailure(status: error) }
  }
}

func littleEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

/// A Status as a test-visible error (so `try` in tests reports which status).
struct FsFailure: Error, CustomStringConvertible {
  let status: Status
  var description: String { "NT status 0x" + String(status.rawValue, radix: 16, uppercase: true) }
}

/// A BlockDevice over an image file (pread/pwrite), with an error to inject.
final class ImageDisk: BlockDevice {
  let descriptor: Int32
  let sectorCount: UInt64
  /// Reads of this sector or beyond fail with `failure`.
  var failReadsFrom = UInt64.max
  var failure = Status.deviceDataError
  private(set) var writes = 0

  init(path: String, sectorCount: UInt64? = nil) throws {
    descriptor = open(path, O_RDWR)
    try #require(descriptor >= 0, "cannot open \(path)")
    let size = UInt64(lseek(descriptor, 0, SEEK_END))
    self.sectorCount = sectorCount ?? size / 512
  }

  deinit { close(descriptor) }

  func read(sector: UInt64, count: Int, into: UnsafeMutableRawPointer) -> Status {
    guard sector + UInt64(count) <= sectorCount else { return .invalidParameter }
    if sector + UInt64(count) > failReadsFrom { return failure }
    let done = pread(descriptor, into, count * 512, off_t(sector * 512))
    return done == count * 512 ? .success : .ioDeviceError
  }

  func write(sector: UInt64, count: Int, from: UnsafeRawPointer) -> Status {
    guard sector + UInt64(count) <= sectorCount else { return .invalidParameter }
    writes += 1
    let done = pwrite(descriptor, from, count * 512, off_t(sector * 512))
    return done == count * 512 ? .success : .ioDeviceError
  }

  func flush() -> Status { fsync(descriptor) == 0 ? .success : .ioDeviceError }
}

/// UTF-16 units of a path.
func units(_ text: String) -> [UInt16] { Array(text.utf16) }

/// Deterministic test content.
func pattern(_ count: Int, seed: UInt32 = 1) -> [UInt8] {
  var state = seed &* 2_654_435_761 | 1
  return (0..<count).map { _ in
    state ^= state << 13
    state ^= state >> 17
    state ^= state << 5
    return UInt8(truncatingIfNeeded: state)
  }
}

/// [UInt8]-level calls for the tests, a Status thrown as FsFailure.
extension FatVolume {
  func fsOpen(_ path: String) throws -> FatFile {
    do { return try open(units(path)) } catch { throw FsFailure(status: error) }
  }

  func fsCreate(_ path: String, directory: Bool = false) throws -> FatFile {
    do { return try create(units(path), isDirectory: directory) } catch { throw FsFailure(status: error) }
  }

  func fsRead(_ file: inout FatFile, at offset: UInt64, count: Int) throws -> [UInt8] {
    var buffer = [UInt8](repeating: 0xCC, count: count)
    let done = try buffer.withUnsafeMutableBytes { raw -> Int in
      do throws(Status) { return try read(&file, at: offset, into: raw) } catch { throw FsFailure(status: error) }
    }
    return Array(buffer[0..<done])
  }

  func fsReadAll(_ file: inout FatFile) throws -> [UInt8] {
    file.size == 0 ? [] : try fsRead(&file, at: 0, count: Int(file.size))
  }

  func fsWrite(_ file: inout FatFile, at offset: UInt64, _ bytes: [UInt8]) throws {
    let done = try bytes.withUnsafeBytes { raw -> Int in
      do throws(Status) { return try write(&file, at: offset, from: raw) } catch { throw FsFailure(status: error) }
    }
    #expect(done == bytes.count)
  }

  func fsSetEnd(_ file: inout FatFile, _ size: UInt64) throws {
    do { try setEndOfFile(&file, to: size) } catch { throw FsFailure(status: error) }
  }

  func fsClose(_ file: inout FatFile) throws {
    do { try close(&file) } catch { throw FsFailure(status: error) }
  }

  func fsDelete(_ path: String) throws {
    do { try delete(units(path)) } catch { throw FsFailure(status: error) }
  }

  func fsFlush() throws {
    do { try flush() } catch { throw FsFailure(status: error) }
  }

  func fsList(_ path: String) throws -> [DirectoryEntryInfo] {
    do { return try list(try open(units(path))) } catch { throw FsFailure(status: error) }
  }

  /// The status a call fails with, or nil when it succeeds.
  func status<R>(_ body: () throws(Status) -> R) -> Status? {
    do {
      _ = try body()
      return nil
    } catch { return error }
  }

  /// Byte offset in the image of cluster `cluster`'s FAT entry in FAT copy `copy`.
  func fatEntryOffset(_ cluster: UInt32, copy: UInt32 = 0) -> Int {
    Int(geometry.reservedSectors + copy * geometry.fatSectors) * 512 + Int(cluster) * 4
  }

  /// Byte offset in the image of the first byte of a data cluster.
  func clusterOffset(_ cluster: UInt32) -> Int {
    (Int(geometry.dataStart) + Int(cluster - 2) * Int(geometry.sectorsPerCluster)) * 512
  }

  /// Byte offset in the image of a file's short directory entry.
  func entryOffset(_ file: FatFile) -> Int {
    let (sector, offset) = location(of: file.entry!)
    return Int(sector) * 512 + offset
  }
}

/// Sets a FAT entry in every copy of the image.
func plantFatEntry(_ image: FatImage, _ volume: FatVolume<ImageDisk>, cluster: UInt32, _ value: UInt32) throws {
  for copy in 0..<volume.geometry.fatCount {
    try image.poke32(volume.fatEntryOffset(cluster, copy: copy), value)
  }
}

/// Free entries in FAT copy 0 of an image, and whether every copy is equal.
func fatSummary(_ image: FatImage, _ geometry: FatGeometry) throws -> (free: UInt32, copiesEqual: Bool) {
  let start = Int(geometry.reservedSectors) * 512
  let length = Int(geometry.fatSectors) * 512
  let all = try image.bytes(0, start + Int(geometry.fatCount) * length)
  let first = all[start..<start + length]
  var free: UInt32 = 0
  for cluster in 2..<Int(geometry.clusterCount) + 2 {
    let offset = start + cluster * 4
    let entry =
      (UInt32(all[offset]) | UInt32(all[offset + 1]) << 8 | UInt32(all[offset + 2]) << 16
        | UInt32(all[offset + 3]) << 24) & 0x0FFF_FFFF
    if entry == 0 { free += 1 }
  }
  var equal = true
  for copy in 1..<Int(geometry.fatCount) {
    let other = all[start + copy * length..<start + (copy + 1) * length]
    if !first.elementsEqual(other) { equal = false }
  }
  return (free, equal)
}

/// FSInfo's free count and hint in an image.
func fsInfo(_ image: FatImage, _ geometry: FatGeometry) throws -> (free: UInt32, next: UInt32) {
  let base = Int(geometry.fsInfoSector) * 512
  return (try image.peek32(base + FatFSInfo.freeCount), try image.peek32(base + FatFSInfo.nextFree))
}
