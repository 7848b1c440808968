import Foundation
import GuestABI
import Testing

@testable import Inspect

/// mkfs.fat and mtools make the volumes; CI (MMLAB_REQUIRE_KVM=1) must have them.
enum FatTools {
  static let available = ["/usr/sbin/mkfs.fat", "/usr/bin/mcopy", "/usr/sbin/fsck.fat"].allSatisfy {
    FileManager.default.isExecutableFile(atPath: $0)
  }
  static let enabled = available || ProcessInfo.processInfo.environment["MMLAB_REQUIRE_KVM"] == "1"
  static let reason: Comment = "dosfstools and mtools are not installed (Scripts/setup.sh installs them)"

  /// A folder with a nested tree, a long name, an empty file and a 300 KB file of counters.
  static func contentFolder() throws -> String {
    let folder = NSTemporaryDirectory() + "mmlab-fat-\(UUID().uuidString)"
    let deep = folder + "/Top Level/second/third"
    try FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
    try Data("short\n".utf8).write(to: URL(fileURLWithPath: folder + "/SHORT.TXT"))
    try Data().write(to: URL(fileURLWithPath: folder + "/empty.dat"))
    try Data("deep inside\n".utf8).write(to: URL(fileURLWithPath: deep + "/A rather long file name.text"))
    try Data(counters(300_001)).write(to: URL(fileURLWithPath: folder + "/counters.bin"))
    return folder
  }

  static func counters(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) } }

  static func build(pageFileMiB: Int = 0) throws -> (FatImage, String) {
    let folder = try contentFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = NSTemporaryDirectory() + "mmlab-fat-\(UUID().uuidString).img"
    let image = try FatImageBuilder(source: folder, output: path, sizeMiB: 40, pageFileMiB: pageFileMiB).build()
    return (image, path)
  }

  /// mtools' own view of a file, for comparison.
  static func mcopy(_ image: String, _ path: String) throws -> [UInt8] {
    let outcome = try #require(
      ToolProcess.run("/usr/bin/mcopy", ["-n", "-i", image, "::" + path, "-"], discardErrors: true))
    return [UInt8](outcome.output)
  }

  /// Overwrites bytes of the image file.
  static func patch(_ path: String, at offset: UInt64, _ bytes: [UInt8]) throws {
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    try handle.seek(toOffset: offset)
    try handle.write(contentsOf: Data(bytes))
    try handle.close()
  }

  static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
}

@Suite("The host's FAT32 reader", .enabled(if: FatTools.enabled, FatTools.reason))
struct FatImageTests {
  @Test("reads what mtools wrote: long and short names, nested folders, sizes, bytes equal to mcopy's")
  func readsMtoolsVolume() throws {
    let (image, path) = try FatTools.build()
    defer { unlink(path) }
    let root = try image.list("/")
    #expect(Set(root.map(\.name)) == ["SHORT.TXT", "empty.dat", "counters.bin", "Top Level"])
    #expect(root.first { $0.name == "Top Level" }?.isDirectory == true)
    #expect(try image.read("/short.txt") == Array("short\n".utf8))
    #expect(try image.read("empty.DAT").isEmpty)
    let counters = try image.read("/counters.bin")
    #expect(counters == FatTools.counters(300_001))
    #expect(counters == (try FatTools.mcopy(path, "/counters.bin")))
    #expect(try image.read("top level\\SECOND/third/a rather long file name.TEXT") == Array("deep inside\n".utf8))
    let third = try image.list("/Top Level/second/third")
    #expect(third.map(\.name) == ["A rather long file name.text"])
    #expect(third[0].shortName.hasSuffix(".TEX") && third[0].shortName.contains("~"))
  }

  @Test("missing paths, files used as folders and folders read as files are told apart")
  func pathErrors() throws {
    let (image, path) = try FatTools.build()
    defer { unlink(path) }
    #expect(throws: FatImageError.notFound("/nope")) { try image.read("/nope") }
    #expect(throws: FatImageError.notFound("/Top Level/nope")) { try image.list("/Top Level/nope") }
    #expect(throws: FatImageError.notADirectory("/SHORT.TXT")) { try image.list("/SHORT.TXT/x") }
    #expect(throws: FatImageError.isADirectory("/Top Level")) { try image.read("/Top Level") }
    #expect(throws: FatImageError.notADirectory("/SHORT.TXT")) { try image.list("/SHORT.TXT") }
  }

  @Test("the free-cluster count of the FAT equals FSInfo's after mkfs.fat and mcopy")
  func freeCount() throws {
    let (image, path) = try FatTools.build()
    defer { unlink(path) }
    let free = try image.freeClusterCount()
    #expect(free > 0 && free < image.geometry.clusterCount)
    #expect(try image.fsInfo().freeCount == free)
  }

  @Test("a page file goes in first, in one run of clusters")
  func pageFile() throws {
    let (image, path) = try FatTools.build(pageFileMiB: 4)
    defer { unlink(path) }
    let entry = try image.resolve("/pagefile.sys")
    #expect(entry.size == 4 << 20)
    let clusters = try image.chain(from: entry.firstCluster, what: "pagefile")
    #expect(FatImage.runs(clusters).count == 1)
    #expect(clusters.count == (4 << 20) / Int(image.geometry.clusterBytes))
  }

  // MARK: Hostile volumes

  /// The FAT entry of `cluster` in every FAT copy set to `value`.
  func setFatEntry(_ path: String, _ image: FatImage, cluster: UInt32, to value: UInt32) throws {
    for copy in 0..<image.geometry.fatCount {
      try FatTools.patch(path, at: image.geometry.fatOffset(copy: copy) + UInt64(cluster) * 4, FatTools.le32(value))
    }
  }

  @Test("a cluster chain that loops is refused, not followed")
  func loopingChain() throws {
    let (image, path) = try FatTools.build()
    defer { unlink(path) }
    let file = try image.resolve("/counters.bin")
    let clusters = try image.chain(from: file.firstCluster, what: "counters")
    try setFatEntry(path, image, cluster: clusters.last!, to: clusters[clusters.count / 2])
    let damaged = try FatImage(path: path)
    #expect(throws: FatImageError.corrupt("/counters.bin: its cluster chain loops")) {
      try damaged.read("/counters.bin")
    }
  }

  @Test("a truncated directory (its chain ends in a free cluster, or starts outside the volume) is refused")
  func truncatedDirectory() throws {
    let (image, path) = try FatTools.build()
    defer { unlink(path) }
    let top = try image.resolve("/Top Level")
    try setFatEntry(path, image, cluster: top.firstCluster, to: 0)
    // A directory of one cluster whose FAT entry says free: its chain is broken.
    let damaged = try FatImage(path: path)
    #expect(
      throws: FatImageError.corrupt("/Top Level: its chain reaches a free cluster after cluster \(top.firstCluster)")
    ) {
      try damaged.list("/Top Level")
    }
    // The same directory's entry naming a cluster past the end of the volume.
    let rootOffset = image.geometry.clusterOffset(image.geometry.rootCluster)
    let rootBytes = try image.bytes(at: rootOffset, count: Int(image.geometry.clusterBytes))
    let entryOffset = try #require(
      stride(from: 0, to: rootBytes.count, by: 32).first { offset in
        rootBytes[offset + 11] == FatAttribute.directory
          && String(decoding: rootBytes[offset..<(offset + 3)], as: UTF8.self) == "TOP"
      })
    let beyond = image.geometry.clusterCount + 100
    try FatTools.patch(
      path, at: rootOffset + UInt64(entryOffset) + 20, [UInt8(beyond >> 16 & 0xFF), UInt8(beyond >> 24)])
    try FatTools.patch(
      path, at: rootOffset + UInt64(entryOffset) + 26, [UInt8(beyond & 0xFF), UInt8(beyond >> 8 & 0xFF)])
    #expect(
      throws: FatImageError.corrupt("/Top Level: a directory whose first cluster \(beyond) is outside the volume")
    ) {
      try FatImage(path: path).list("/")
    }
  }

  @Test("a file whose chain is shorter than its size, or an image that is not FAT32, is refused")
  func shortChainAndForeignImage() throws {
    let (image, path) = try FatTools.build()
    defer { unlink(path) }
    let shortFile = try image.resolve("/counters.bin")
    try setFatEntry(path, image, cluster: shortFile.firstCluster, to: FatEntry.endOfChain)
    #expect(throws: FatImageError.corrupt("/counters.bin: its chain of 1 clusters is shorter than its 300001 bytes")) {
      try FatImage(path: path).read("/counters.bin")
    }
    try FatTools.patch(path, at: 510, [0, 0])
    #expect(throws: FatImageError.notFAT32("no 0x55AA boot signature")) { try FatImage(path: path) }
  }
}
