import Foundation
import Testing

@Suite(
  "mmlab image: build, ls, cat",
  .enabled(
    if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.fat")
      || ProcessInfo.processInfo.environment["MMLAB_REQUIRE_KVM"] == "1",
    "dosfstools and mtools are not installed (Scripts/setup.sh installs them)"))
struct ImageCLITests {
  func folder() throws -> String {
    let folder = temporaryPath("content")
    try FileManager.default.createDirectory(atPath: folder + "/Sub Folder", withIntermediateDirectories: true)
    try Data("hello\n".utf8).write(to: URL(fileURLWithPath: folder + "/Sub Folder/Hello World.txt"))
    try Data((0..<5000).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: folder + "/data.bin"))
    return folder
  }

  @Test("build makes a volume ls and cat read back, in text and JSON; a page file goes in first")
  func buildListCat() throws {
    let source = try folder()
    let image = temporaryPath("volume.img")
    defer { unlink(image) }
    let built = try MMLabProcess.run(["image", "build", "--from", source, "--out", image, "--pagefile", "2"])
    #expect(built.status == 0, "\(built.standardError)")
    #expect(built.standardError.contains("FAT32"))
    let listed = try MMLabProcess.run(["image", "ls", image])
    #expect(listed.status == 0)
    for name in ["pagefile.sys", "data.bin", "Sub Folder"] { #expect(listed.standardOutput.contains(name)) }
    let json = try MMLabProcess.run(["image", "ls", image, "/sub folder", "--format", "json"]).json()
    let entries = try #require(json["entries"] as? [[String: Any]])
    #expect(entries.map { $0["name"] as? String } == ["Hello World.txt"])
    #expect(entries.first?["size"] as? Int == 6)
    let cat = try MMLabProcess.run(["image", "cat", image, "\\Sub Folder\\hello world.txt"])
    #expect(cat.status == 0 && cat.standardOutput == "hello\n")
  }

  @Test("bad input: a missing folder, a size below FAT32's, a missing path, not an image; nothing left behind")
  func badInput() throws {
    let image = temporaryPath("never.img")
    let missing = try MMLabProcess.run(["image", "build", "--from", "/nonexistent-folder", "--out", image])
    #expect(missing.status == 1 && missing.standardError.contains("is not a directory"))
    #expect(!FileManager.default.fileExists(atPath: image))
    let small = try MMLabProcess.run(["image", "build", "--out", image, "--size", "8"])
    #expect(small.status == 64 && small.standardError.contains("--size"))
    let built = try MMLabProcess.run(["image", "build", "--out", image])
    defer { unlink(image) }
    #expect(built.status == 0)
    let absent = try MMLabProcess.run(["image", "cat", image, "/nope.txt"])
    #expect(absent.status == 1 && absent.standardError.contains("no such file or directory"))
    let foreign = try MMLabProcess.run(["image", "ls", "/etc/hostname"])
    #expect(foreign.status == 1 && foreign.standardError.contains("not a FAT32 volume"))
    let fifo = try MMLabProcess.run(["image", "ls", "/dev/null"])
    #expect(fifo.status == 1 && fifo.standardError.contains("character device"))
  }

  @Test("--disk refuses a missing image and --disk-persist without a disk, before booting")
  func diskOptions() throws {
    let missing = try MMLabProcess.run(["run", "--disk", "/nonexistent.img"])
    #expect(missing.status == 64 && missing.standardError.contains("--disk"))
    let persist = try MMLabProcess.run(["run", "--disk-persist"])
    #expect(persist.status == 64 && persist.standardError.contains("--disk-persist needs"))
    let defaultPersist = try MMLabProcess.run(["run", "--disk", "default", "--disk-persist"])
    #expect(defaultPersist.status == 64 && defaultPersist.standardError.contains("default image"))
  }
}
