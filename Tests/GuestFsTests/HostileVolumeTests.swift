import GuestABI
import GuestFs
import GuestMm
import Testing

/// Damage planted in the image bytes: each gives its status, never a trap, an
/// access outside the device or a hang.
@Suite(.enabled(if: FatTools.shouldRun, FatTools.skipReason))
struct HostileVolumeTests {
  static let content = pattern(4000, seed: 5)

  /// A volume with one 8-cluster file (4000 bytes in 512-byte clusters) and a directory.
  static func volume() throws -> (FatImage, FatFile, FatGeometry) {
    let image = try FatImage()
    try image.put(content, at: "::/victim.bin")
    try image.makeDirectory("::/dir")
    let file = try image.mount().fsOpen("\\victim.bin")
    return (image, file, try image.mount().geometry)
  }

  /// Reads the whole victim through a fresh mount: the status it ends with.
  static func readVictim(_ image: FatImage) throws -> Status? {
    let volume = try image.mount()
    return volume.status { () throws(Status) in
      var file = try volume.open(units("\\victim.bin"))
      let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(file.size), alignment: 1)
      defer { raw.deallocate() }
      return try volume.read(&file, at: 0, into: raw)
    }
  }

  /// The n-th cluster of the victim's chain (as mtools laid it out).
  static func link(_ image: FatImage, _ volume: FatVolume<ImageDisk>, _ file: FatFile, _ steps: Int) throws -> UInt32 {
    var cluster = file.firstCluster
    for _ in 0..<steps { cluster = try image.peek32(volume.fatEntryOffset(cluster)) & FatEntry.mask }
    return cluster
  }

  @Test(arguments: [
    ("a loop back to the first cluster", UInt32(0)),
    ("a link past the last cluster", UInt32(1)),
    ("a link to reserved cluster 1", UInt32(2)),
    ("a free cluster inside the chain", UInt32(3)),
    ("a bad cluster inside the chain", UInt32(4)),
    ("an end of chain before the size", UInt32(5)),
  ])
  func brokenChainsAreCorruptFiles(damage: String, kind: UInt32) throws {
    let (image, file, _) = try Self.volume()
    let volume = try image.mount()
    let third = try Self.link(image, volume, file, 3)
    let values: [UInt32] = [
      file.firstCluster, volume.geometry.clusterCount + 2, 1, FatEntry.free, FatEntry.bad, FatEntry.endOfChain,
    ]
    try plantFatEntry(image, volume, cluster: third, values[Int(kind)])
    #expect(try Self.readVictim(image) == .fileCorruptError, "\(damage)")
    // Deleting the file reports the damage and frees nothing; its entry stays.
    let again = try image.mount()
    let free = again.freeClusters
    #expect(again.status { () throws(Status) in try again.delete(units("\\victim.bin")) } == .fileCorruptError)
    #expect(again.freeClusters == free)
    #expect(again.status { () throws(Status) in try again.open(units("\\victim.bin")) } == .fileCorruptError)
    // The rest of the volume is unharmed.
    #expect(try again.fsOpen("\\dir").isDirectory)
  }

  @Test func aLoopingChainEndsAtTheClusterCount() throws {
    let (image, file, _) = try Self.volume()
    let volume = try image.mount()
    // The last cluster points at itself: an endless chain that never ends the file early.
    let last = try Self.link(image, volume, file, 7)
    try plantFatEntry(image, volume, cluster: last, last)
    #expect(try Self.readVictim(image) == .fileCorruptError)
    // Even when the size needs only the first pass: opening measures the whole chain.
    try image.poke32(volume.entryOffset(file) + FatDirectoryEntry.fileSize, 100)
    let mounted = try image.mount()
    #expect(mounted.status { () throws(Status) in try mounted.open(units("victim.bin")) } == .fileCorruptError)
  }

  @Test func aSizeBeyondTheChainIsCorrupt() throws {
    let (image, file, _) = try Self.volume()
    let volume = try image.mount()
    try image.poke32(volume.entryOffset(file) + FatDirectoryEntry.fileSize, 4097)
    #expect(try Self.readVictim(image) == .fileCorruptError)
    try image.poke32(volume.entryOffset(file) + FatDirectoryEntry.fileSize, 0xFFFF_FFFF)
    #expect(try Self.readVictim(image) == .fileCorruptError)
  }

  @Test func aFirstClusterOutsideTheVolumeIsCorrupt() throws {
    let (image, file, _) = try Self.volume()
    let volume = try image.mount()
    let entry = volume.entryOffset(file)
    try image.poke(entry + FatDirectoryEntry.firstClusterHigh, [0xFF, 0x0F])
    #expect(try Self.readVictim(image) == .fileCorruptError)
    // A directory whose first cluster is 0 is damage too (only ".." may say so).
    let directory = try image.mount().fsOpen("\\dir")
    try image.poke(volume.entryOffset(directory) + FatDirectoryEntry.firstClusterLow, [0, 0])
    let again = try image.mount()
    #expect(again.status { () throws(Status) in try again.open(units("\\dir")) } == .fileCorruptError)
    #expect(again.status { () throws(Status) in try again.open(units("\\dir\\x")) } == .fileCorruptError)
  }

  /// A directory of several clusters (40 long names in 512-byte clusters).
  static func bigDirectory() throws -> (FatImage, FatFile) {
    let image = try FatImage()
    let volume = try image.mount()
    _ = try volume.fsCreate("\\big", directory: true)
    for index in 0..<40 { _ = try volume.fsCreate("\\big\\a rather long file name \(index)") }
    try volume.fsFlush()
    return (image, try volume.fsOpen("\\big"))
  }

  @Test func aTruncatedDirectoryIsCorrupt() throws {
    let (image, directory) = try Self.bigDirectory()
    #expect(directory.allocatedClusters > 5)
    let volume = try image.mount()
    // The link after the directory's second cluster reads as free: the chain breaks there.
    let second = try image.peek32(volume.fatEntryOffset(directory.firstCluster)) & FatEntry.mask
    try plantFatEntry(image, volume, cluster: second, FatEntry.free)
    let damaged = try image.mount()
    #expect(damaged.status { () throws(Status) in try damaged.open(units("\\big")) } == .fileCorruptError)
    #expect(
      damaged.status { () throws(Status) in try damaged.open(units("\\big\\a rather long file name 0")) }
        == .fileCorruptError)
    #expect(damaged.status { () throws(Status) in try damaged.open(units("\\big\\missing")) } == .fileCorruptError)
    // A directory opened before the damage: its scans meet the free link.
    #expect(damaged.status { () throws(Status) in try damaged.list(directory) } == .fileCorruptError)
    // An enumeration returns the ten entries of the two clusters before the free link, then the damage.
    var cursor = DirectoryCursor()
    var returned = 0
    while returned < 100,
      damaged.status({ () throws(Status) in try damaged.nextEntry(in: directory, cursor: &cursor) }) == nil
    {
      returned += 1
    }
    #expect(returned == 10)
    #expect(
      damaged.status { () throws(Status) in try damaged.nextEntry(in: directory, cursor: &cursor) } == .fileCorruptError
    )
    #expect(
      damaged.status { () throws(Status) in try damaged.create(units("\\big\\new"), isDirectory: false) }
        == .fileCorruptError)
  }

  @Test func aLoopingDirectoryEnds() throws {
    let (image, directory) = try Self.bigDirectory()
    let volume = try image.mount()
    // The second cluster links back to the first: the scan would go round forever.
    let second = try image.peek32(volume.fatEntryOffset(directory.firstCluster)) & FatEntry.mask
    try plantFatEntry(image, volume, cluster: second, directory.firstCluster)
    let damaged = try image.mount()
    #expect(damaged.status { () throws(Status) in try damaged.open(units("\\big")) } == .fileCorruptError)
    // The root looping onto itself: mount measures the root's chain.
    try plantFatEntry(image, volume, cluster: volume.geometry.rootCluster, volume.geometry.rootCluster)
    #expect(volume.status { () throws(Status) in try FatVolume.mount(try! image.disk()) } == .diskCorruptError)
  }

  @Test func longNamesWithBadChecksumsAreIgnored() throws {
    let image = try FatImage()
    try image.put(Self.content, at: "::/Checked Long Name.bin")
    try image.put(Self.content, at: "::/Orphan Long Name.bin")
    try image.put(Self.content, at: "::/Mismatch Long Name.bin")
    let volume = try image.mount()
    // The short name changes under a consistent long name: the checksum no longer matches.
    let mismatch = try volume.fsOpen("Mismatch Long Name.bin")
    try image.poke(volume.entryOffset(mismatch) + 7, Array("2".utf8))
    let checked = try volume.fsOpen("Checked Long Name.bin")
    // Its long-name slot precedes the short entry: its checksum byte is now wrong.
    try image.poke(volume.entryOffset(checked) - 32 + FatLongNameEntry.checksum, [0x00])
    let orphan = try volume.fsOpen("Orphan Long Name.bin")
    // The orphan's short entry is deleted: its long name belongs to nothing.
    try image.poke(volume.entryOffset(orphan), [FatDirectoryEntry.freeMarker])
    let damaged = try image.mount()
    #expect(
      damaged.status { () throws(Status) in try damaged.open(units("Checked Long Name.bin")) } == .objectNameNotFound)
    #expect(try damaged.fsOpen("CHECKE~1.BIN").size == 4000)
    #expect(
      damaged.status { () throws(Status) in try damaged.open(units("Orphan Long Name.bin")) } == .objectNameNotFound)
    #expect(
      damaged.status { () throws(Status) in try damaged.open(units("Mismatch Long Name.bin")) } == .objectNameNotFound)
    #expect(try damaged.fsOpen("mismat~2.bin").size == 4000)
    let names = try damaged.fsList("\\").map { String(decoding: $0.name, as: UTF16.self) }
    #expect(names == ["CHECKE~1.BIN", "MISMAT~2.BIN"])
  }

  @Test func deviceErrorsPassThrough() throws {
    let (image, file, geometry) = try Self.volume()
    let disk = try image.disk()
    let volume = try FatVolume.mount(disk)
    var opened = file
    let data = UInt64(geometry.dataStart) + UInt64(file.firstCluster - 2) * UInt64(geometry.sectorsPerCluster)
    disk.failReadsFrom = data
    var buffer = [UInt8](repeating: 0, count: 100)
    let status = buffer.withUnsafeMutableBytes { raw in
      volume.status { () throws(Status) in try volume.read(&opened, at: 0, into: raw) }
    }
    #expect(status == .deviceDataError)
    disk.failure = .ioDeviceError
    disk.failReadsFrom = 0
    #expect(volume.status { () throws(Status) in try volume.open(units("victim.bin")) } == .ioDeviceError)
    #expect(volume.status { () throws(Status) in try FatVolume.mount(disk) } == .ioDeviceError)
  }
}
