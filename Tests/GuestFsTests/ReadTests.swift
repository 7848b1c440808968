import GuestABI
import GuestFs
import GuestMm
import Testing

/// Volumes mtools wrote, read through GuestFs.
@Suite(.enabled(if: FatTools.shouldRun, FatTools.skipReason))
struct ReadTests {
  static let big = pattern(3 * 1024 * 1024 + 777, seed: 7)
  static let small = Array("hello, FAT\n".utf8)
  static let long = pattern(5000, seed: 3)

  /// A volume with 8.3 and long names, nesting, a big file and an empty one.
  static func populated() throws -> FatImage {
    let image = try FatImage()
    try image.put(small, at: "::/README.TXT")
    try image.put(long, at: "::/A Long File Name With Spaces.data")
    try image.makeDirectory("::/dir1")
    try image.makeDirectory("::/dir1/Sub Directory")
    try image.put(big, at: "::/dir1/Sub Directory/big file.bin")
    try image.put([], at: "::/dir1/empty.txt")
    try image.put(small, at: "::/dir1/lower.txt")
    return image
  }

  @Test func readsFilesMtoolsWrote() throws {
    let image = try Self.populated()
    let volume = try image.mount()
    var readme = try volume.fsOpen("\\README.TXT")
    #expect(try volume.fsReadAll(&readme) == Self.small)
    var longName = try volume.fsOpen("A Long File Name With Spaces.data")
    #expect(longName.size == UInt64(Self.long.count))
    #expect(try volume.fsReadAll(&longName) == Self.long)
    var big = try volume.fsOpen("\\dir1\\Sub Directory\\big file.bin")
    #expect(!big.isDirectory && big.size == UInt64(Self.big.count))
    #expect(try volume.fsReadAll(&big) == Self.big)
    var empty = try volume.fsOpen("/dir1/empty.txt")
    #expect(empty.size == 0 && empty.firstCluster == 0)
    #expect(try volume.fsReadAll(&empty) == [])
    let directory = try volume.fsOpen("\\dir1\\Sub Directory\\")
    #expect(directory.isDirectory)
  }

  @Test func lookupIgnoresCaseAndTakesShortNames() throws {
    let image = try Self.populated()
    let volume = try image.mount()
    var byLower = try volume.fsOpen("readme.txt")
    #expect(try volume.fsReadAll(&byLower) == Self.small)
    var byUpperLong = try volume.fsOpen("\\DIR1\\SUB DIRECTORY\\BIG FILE.BIN")
    #expect(byUpperLong.size == UInt64(Self.big.count))
    #expect(try volume.fsRead(&byUpperLong, at: 1000, count: 10) == Array(Self.big[1000..<1010]))
    // mtools gave the long names 8.3 aliases with "~1" tails.
    var byShort = try volume.fsOpen("\\dir1\\SUBDIR~1\\BIGFIL~1.BIN")
    #expect(byShort.firstCluster == byUpperLong.firstCluster)
    #expect(try volume.fsRead(&byShort, at: 0, count: 4) == Array(Self.big[0..<4]))
  }

  @Test func readsAtAnyOffsetAndStopsAtTheEnd() throws {
    let image = try Self.populated()
    let volume = try image.mount()
    var file = try volume.fsOpen("\\dir1\\Sub Directory\\big file.bin")
    let size = Self.big.count
    for (offset, count) in [(1, 1), (511, 2), (513, 4096), (100_000, 70_001), (size - 5, 5), (size - 3, 1000)] {
      let bytes = try volume.fsRead(&file, at: UInt64(offset), count: count)
      #expect(bytes == Array(Self.big[offset..<min(size, offset + count)]), "offset \(offset) count \(count)")
    }
    // Backwards after forwards: the chain cursor restarts from the first cluster.
    #expect(try volume.fsRead(&file, at: 2, count: 3) == Array(Self.big[2..<5]))
    #expect(
      volume.status { () throws(Status) in try volume.read(&file, at: UInt64(size), into: .init(start: nil, count: 0)) }
        == nil)
    var one = [UInt8](repeating: 0, count: 1)
    let atEnd = one.withUnsafeMutableBytes { buffer in
      volume.status { () throws(Status) in try volume.read(&file, at: UInt64(size), into: buffer) }
    }
    #expect(atEnd == .endOfFile)
    let past = one.withUnsafeMutableBytes { buffer in
      volume.status { () throws(Status) in try volume.read(&file, at: UInt64(size) + 4096, into: buffer) }
    }
    #expect(past == .endOfFile)
    var empty = try volume.fsOpen("\\dir1\\empty.txt")
    let emptyRead = one.withUnsafeMutableBytes { buffer in
      volume.status { () throws(Status) in try volume.read(&empty, at: 0, into: buffer) }
    }
    #expect(emptyRead == .endOfFile)
  }

  @Test func listsDirectories() throws {
    let image = try Self.populated()
    let volume = try image.mount()
    let root = try volume.fsList("\\")
    let names = root.map { String(decoding: $0.name, as: UTF16.self) }
    // The volume label mkfs.fat wrote is not an entry.
    #expect(names == ["README.TXT", "A Long File Name With Spaces.data", "dir1"])
    #expect(root[0].size == UInt32(Self.small.count) && !root[0].isDirectory)
    #expect(root[1].size == UInt32(Self.long.count))
    #expect(root[2].isDirectory && root[2].size == 0)
    let dir1 = try volume.fsList("dir1")
    #expect(dir1.map { String(decoding: $0.name, as: UTF16.self) } == ["Sub Directory", "empty.txt", "lower.txt"])
    #expect(dir1.map(\.size) == [0, 0, UInt32(Self.small.count)])
    #expect(String(decoding: dir1[0].shortName, as: UTF16.self) == "SUBDIR~1")
    let file = try volume.fsOpen("README.TXT")
    var cursor = DirectoryCursor()
    #expect(volume.status { () throws(Status) in try volume.nextEntry(in: file, cursor: &cursor) } == .notADirectory)
  }

  @Test func pathErrorsHaveNtStatuses() throws {
    let image = try Self.populated()
    let volume = try image.mount()
    let cases: [(String, Status)] = [
      ("\\missing.txt", .objectNameNotFound),
      ("\\dir1\\missing", .objectNameNotFound),
      ("\\nodir\\file.txt", .objectPathNotFound),
      ("\\README.TXT\\file.txt", .objectPathNotFound),
      ("\\dir1\\nodir\\deeper\\x", .objectPathNotFound),
      ("\\bad*name", .objectNameInvalid),
      ("\\dir1\\a?b", .objectNameInvalid),
      ("\\dir1\\\\empty.txt", .objectNameInvalid),
      ("\\README.TXT\\", .objectNameInvalid),
      ("\\dir1\\.", .objectNameInvalid),
      ("\\x" + String(repeating: "y", count: 255), .objectNameInvalid),
    ]
    for (path, expected) in cases {
      #expect(volume.status { () throws(Status) in try volume.open(units(path)) } == expected, "\(path)")
    }
    #expect(try volume.fsOpen("").isRoot)
    #expect(try volume.fsOpen("\\").isRoot)
    var directory = try volume.fsOpen("dir1")
    #expect(
      volume.status { () throws(Status) in try volume.read(&directory, at: 0, into: .init(start: nil, count: 0)) }
        == .fileIsADirectory)
  }
}
