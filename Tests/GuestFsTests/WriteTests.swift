import GuestABI
import GuestFs
import GuestMm
import Testing

/// Changes made through GuestFs, judged by mtools (the bytes), fsck.fat (the
/// structures, FSInfo's free count included) and the image itself (both FATs).
@Suite(.enabled(if: FatTools.shouldRun, FatTools.skipReason))
struct WriteTests {
  /// Unmounts, then checks fsck, both FAT copies and FSInfo against the FAT.
  static func expectConsistent(_ image: FatImage, _ volume: FatVolume<ImageDisk>) throws {
    try volume.fsFlush()
    let check = try image.fsck()
    #expect(check.clean, "fsck.fat: \(check.report)")
    let summary = try fatSummary(image, volume.geometry)
    #expect(summary.copiesEqual, "FAT copies differ")
    let info = try fsInfo(image, volume.geometry)
    #expect(info.free == summary.free, "FSInfo free count \(info.free), FAT has \(summary.free) free")
    #expect(volume.freeClusters == summary.free)
  }

  @Test func createsAndWritesWhatMtoolsReads() throws {
    let image = try FatImage()
    let volume = try image.mount()
    _ = try volume.fsCreate("\\New Folder", directory: true)
    _ = try volume.fsCreate("\\New Folder\\inner", directory: true)
    var file = try volume.fsCreate("\\New Folder\\Hello World.txt")
    var expected: [UInt8] = []
    // Unaligned pieces that cross sectors and (512-byte) clusters, out of order.
    let pieces: [(Int, Int, UInt32)] = [(0, 700, 1), (700, 1, 2), (701, 1500, 3), (100, 50, 4), (2201, 511, 5)]
    for (offset, count, seed) in pieces {
      let bytes = pattern(count, seed: seed)
      try volume.fsWrite(&file, at: UInt64(offset), bytes)
      if expected.count < offset + count { expected += [UInt8](repeating: 0, count: offset + count - expected.count) }
      expected.replaceSubrange(offset..<offset + count, with: bytes)
    }
    #expect(file.size == UInt64(expected.count))
    #expect(try volume.fsReadAll(&file) == expected)
    var short = try volume.fsCreate("SHORT.TXT")
    try volume.fsWrite(&short, at: 0, Array("short".utf8))
    var lower = try volume.fsCreate("\\New Folder\\inner\\lower.c")
    try volume.fsWrite(&lower, at: 0, Array("int x;".utf8))
    try Self.expectConsistent(image, volume)
    #expect(try image.get("::/New Folder/Hello World.txt") == expected)
    #expect(try image.get("::/SHORT.TXT") == Array("short".utf8))
    #expect(try image.get("::/New Folder/inner/lower.c") == Array("int x;".utf8))
    #expect(try image.listing("::/New Folder/inner").contains("::/New Folder/inner/lower.c"))
    // A new volume reads it back the same way.
    let again = try image.mount()
    var reopened = try again.fsOpen("new folder\\HELLO WORLD.TXT")
    #expect(try again.fsReadAll(&reopened) == expected)
  }

  @Test func givesUniqueShortNames() throws {
    let image = try FatImage()
    let volume = try image.mount()
    for index in 1...12 { _ = try volume.fsCreate("\\Long File Name \(index).text") }
    _ = try volume.fsCreate("\\ReadMe.txt")
    _ = try volume.fsCreate("\\a+b.c")
    let shorts = try volume.fsList("\\").map { String(decoding: $0.shortName, as: UTF16.self) }
    #expect(Set(shorts).count == shorts.count)
    #expect(shorts.prefix(3) == ["LONGFI~1.TEX", "LONGFI~2.TEX", "LONGFI~3.TEX"])
    #expect(shorts[9] == "LONGF~10.TEX")
    #expect(shorts[12] == "README.TXT" && shorts[13] == "A_B~1.C")
    #expect(
      volume.status { () throws(Status) in try volume.create(units("\\LONG FILE NAME 3.TEXT"), isDirectory: false) }
        == .objectNameCollision)
    #expect(
      volume.status { () throws(Status) in try volume.create(units("\\longfi~2.tex"), isDirectory: true) }
        == .objectNameCollision)
    #expect(
      volume.status { () throws(Status) in try volume.create(units("\\"), isDirectory: true) } == .objectNameCollision)
    #expect(
      volume.status { () throws(Status) in try volume.create(units("\\no\\such"), isDirectory: false) }
        == .objectPathNotFound)
    try Self.expectConsistent(image, volume)
    #expect(try image.get("::/Long File Name 12.text") == [])
    #expect(try image.get("::/LONGF~12.TEX") == [])
    #expect(try image.get("::/a+b.c") == [])
  }

  @Test func growsDirectoriesPastOneCluster() throws {
    let image = try FatImage()
    let volume = try image.mount()
    _ = try volume.fsCreate("\\many", directory: true)
    // 40 names of 30 characters: 4 slots each, 10 clusters of 16 slots.
    for index in 0..<40 {
      var file = try volume.fsCreate("\\many\\" + String(repeating: "n", count: 26) + "\(1000 + index)")
      try volume.fsWrite(&file, at: 0, [UInt8(index)])
    }
    _ = try volume.fsCreate("\\many\\" + String(repeating: "L", count: 255))
    let listed = try volume.fsList("\\many")
    #expect(listed.count == 41)
    #expect(try volume.fsOpen("\\many").allocatedClusters >= 11)
    try Self.expectConsistent(image, volume)
    #expect(try image.get("::/many/" + String(repeating: "n", count: 26) + "1039") == [39])
    #expect(try image.get("::/many/" + String(repeating: "L", count: 255)) == [])
  }

  @Test func truncatesAndExtends() throws {
    let image = try FatImage()
    let volume = try image.mount()
    let content = pattern(10_000, seed: 9)
    var file = try volume.fsCreate("\\data.bin")
    try volume.fsWrite(&file, at: 0, content)
    let freeWithFile = volume.freeClusters
    try volume.fsSetEnd(&file, 1234)
    #expect(file.allocatedClusters == 3)
    #expect(volume.freeClusters == freeWithFile + 20 - 3)
    #expect(try volume.fsReadAll(&file) == Array(content[0..<1234]))
    var other = try volume.fsCreate("\\gone.bin")
    try volume.fsWrite(&other, at: 0, content)
    try volume.fsSetEnd(&other, 0)
    #expect(other.firstCluster == 0 && other.allocatedClusters == 0)
    try Self.expectConsistent(image, volume)
    #expect(try image.get("::/data.bin") == Array(content[0..<1234]))
    #expect(try image.get("::/gone.bin") == [])
    let entry = try image.bytes(volume.entryOffset(other), 32)
    #expect(entry[20] == 0 && entry[21] == 0 && entry[26] == 0 && entry[27] == 0, "first cluster 0 on disk")
    #expect(entry[28..<32].allSatisfy { $0 == 0 }, "size 0 on disk")
    let kept = try image.bytes(volume.entryOffset(file), 32)
    #expect(kept[28] == 0xD2 && kept[29] == 0x04 && kept[30] == 0 && kept[31] == 0, "size 1234 on disk")
    #expect(try volume.fsOpen("gone.bin").firstCluster == 0)
  }

  @Test func validDataLengthHidesStaleBytes() throws {
    let image = try FatImage()
    let volume = try image.mount()
    // Old contents in every free cluster: what a deleted file leaves.
    let stale = [UInt8](repeating: 0xAA, count: 512)
    for cluster in UInt32(3)..<UInt32(200) { try image.poke(volume.clusterOffset(cluster), stale) }
    var file = try volume.fsCreate("\\sparse.bin")
    try volume.fsWrite(&file, at: 0, Array("head".utf8))
    try volume.fsSetEnd(&file, 5000)
    #expect(file.validDataLength == 4 && file.size == 5000)
    let read = try volume.fsReadAll(&file)
    #expect(read == Array("head".utf8) + [UInt8](repeating: 0, count: 4996))
    // The disk still holds the stale bytes past the valid data length...
    let second = try volume.fsRead(&file, at: 600, count: 1)
    #expect(second == [0])
    try volume.fsWrite(&file, at: 3000, [0x42])
    #expect(file.validDataLength == 3001)
    #expect(file.firstCluster >= 3 && file.firstCluster < 190, "the planted clusters were the ones taken")
    #expect(try image.bytes(volume.clusterOffset(file.firstCluster) + 4, 1) == [0], "the gap was zeroed first")
    // ... until close zeroes them: the tail past 3001 is stale now, zero after.
    let tailCluster = try #require(try clusterOfByte(image, volume, file, 4900))
    let tail = volume.clusterOffset(tailCluster) + 4900 % 512
    #expect(try image.bytes(tail, 1) == [0xAA])
    try volume.fsClose(&file)
    #expect(try image.bytes(tail, 1) == [0])
    try Self.expectConsistent(image, volume)
    var expected = Array("head".utf8) + [UInt8](repeating: 0, count: 4996)
    expected[3000] = 0x42
    #expect(try image.get("::/sparse.bin") == expected)
  }

  @Test func truncatingBelowValidDataThenExtendingReadsZeros() throws {
    let image = try FatImage()
    let volume = try image.mount()
    var file = try volume.fsCreate("\\vdl.bin")
    try volume.fsWrite(&file, at: 0, [UInt8](repeating: 0x55, count: 300))
    try volume.fsSetEnd(&file, 10)
    try volume.fsSetEnd(&file, 300)
    #expect(try volume.fsReadAll(&file) == [UInt8](repeating: 0x55, count: 10) + [UInt8](repeating: 0, count: 290))
    try volume.fsClose(&file)
    try Self.expectConsistent(image, volume)
    #expect(try image.get("::/vdl.bin") == [UInt8](repeating: 0x55, count: 10) + [UInt8](repeating: 0, count: 290))
  }

  @Test func deletesFilesAndEmptyDirectories() throws {
    let image = try FatImage()
    try image.makeDirectory("::/keep")
    try image.makeDirectory("::/keep/Nested Dir")
    try image.put(pattern(70_000), at: "::/keep/Nested Dir/a file with a long name.bin")
    try image.put(Array("x".utf8), at: "::/keep/KEEP.TXT")
    let volume = try image.mount()
    let freeBefore = volume.freeClusters
    #expect(
      volume.status { () throws(Status) in try volume.delete(units("\\keep\\Nested Dir")) } == .directoryNotEmpty)
    #expect(volume.status { () throws(Status) in try volume.delete(units("\\")) } == .cannotDelete)
    try volume.fsDelete("\\keep\\nested dir\\A FILE WITH A LONG NAME.BIN")
    #expect(volume.freeClusters == freeBefore + 137)
    try volume.fsDelete("\\keep\\Nested Dir")
    #expect(volume.freeClusters == freeBefore + 138)
    #expect(volume.status { () throws(Status) in try volume.open(units("\\keep\\Nested Dir")) } == .objectNameNotFound)
    #expect(try volume.fsList("\\keep").map { String(decoding: $0.name, as: UTF16.self) } == ["KEEP.TXT"])
    try Self.expectConsistent(image, volume)
    #expect(try image.listing("::/keep") == ["::/keep/KEEP.TXT"])
    #expect(try image.get("::/keep/Nested Dir/a file with a long name.bin") == nil)
    // The freed slots are reused: the name fits where the deleted entries were.
    let again = try image.mount()
    _ = try again.fsCreate("\\keep\\Another Long Name.txt")
    try Self.expectConsistent(image, again)
    #expect(try image.get("::/keep/Another Long Name.txt") == [])
  }

  @Test func diskFullChangesNothing() throws {
    let image = try FatImage()
    let volume = try image.mount()
    var filler = try volume.fsCreate("\\filler.bin")
    let free = Int(volume.freeClusters)
    try volume.fsFlush()
    let before = try image.bytes()
    var huge = [UInt8](repeating: 0x11, count: (free + 1) * 512)
    #expect(
      huge.withUnsafeBytes { bytes in
        volume.status { () throws(Status) in try volume.write(&filler, at: 0, from: bytes) }
      } == .diskFull)
    #expect(
      volume.status { () throws(Status) in try volume.setEndOfFile(&filler, to: UInt64(free + 1) * 512) } == .diskFull)
    #expect(filler.size == 0 && filler.firstCluster == 0)
    try volume.fsFlush()
    #expect(try image.bytes() == before, "a failed allocation wrote nothing")
    // Exactly the free space fits; then nothing more does.
    huge.removeLast(512)
    try volume.fsWrite(&filler, at: 0, huge)
    #expect(volume.freeClusters == 0)
    var more = try volume.fsCreate("\\more.bin")
    #expect(volume.status { () throws(Status) in try volume.setEndOfFile(&more, to: 1) } == .diskFull)
    #expect(volume.status { () throws(Status) in try volume.create(units("\\d"), isDirectory: true) } == .diskFull)
    #expect(volume.status { () throws(Status) in try volume.setEndOfFile(&filler, to: 0x1_0000_0000) } == .diskFull)
    try Self.expectConsistent(image, volume)
    #expect(try image.get("::/filler.bin") == huge)
  }

  @Test func biggerClustersToo() throws {
    let image = try FatImage(kibibytes: 300 * 1024, sectorsPerCluster: 8)
    let volume = try image.mount()
    #expect(volume.geometry.bytesPerCluster == 4096)
    var file = try volume.fsCreate("\\Four K Clusters.bin")
    let content = pattern(50_000, seed: 11)
    try volume.fsWrite(&file, at: 0, Array(content[0..<4097]))
    try volume.fsWrite(&file, at: 4097, Array(content[4097...]))
    try volume.fsSetEnd(&file, 40_000)
    #expect(try volume.fsRead(&file, at: 4000, count: 200) == Array(content[4000..<4200]))
    try Self.expectConsistent(image, volume)
    #expect(try image.get("::/Four K Clusters.bin") == Array(content[0..<40_000]))
  }
}

/// The cluster holding byte `offset` of a file, walked in the image's FAT.
func clusterOfByte(_ image: FatImage, _ volume: FatVolume<ImageDisk>, _ file: FatFile, _ offset: Int) throws -> UInt32?
{
  var cluster = file.firstCluster
  for _ in 0..<(offset / volume.geometry.bytesPerCluster) {
    cluster = try image.peek32(volume.fatEntryOffset(cluster)) & 0x0FFF_FFFF
    if cluster < 2 || cluster >= 0x0FFF_FFF8 { return nil }
  }
  return cluster
}

@Suite("GuestFs short names of names with spaces")
struct SpacedNameTests {
  @Test("a directory and a file whose long names hold spaces get ~N short names fsck accepts")
  func spacedNames() throws {
    let image = try FatImage()
    let volume = try image.mount()
    _ = try volume.create(units("\\Written By The Guest"), isDirectory: true)
    _ = try volume.create(units("\\Written By The Guest\\copy of lines.txt"), isDirectory: false)
    try volume.flush()
    let shorts = try volume.fsList("\\").map { String(decoding: $0.shortName, as: UTF16.self) }
    #expect(shorts.contains("WRITTE~1"))
    let check = try image.fsck()
    #expect(check.clean, "\(check.report)")
  }
}
