import GuestABI
import GuestFs
import GuestMm
import Testing

/// The boot sector and FSInfo as mount judges them.
@Suite(.enabled(if: FatTools.shouldRun, FatTools.skipReason))
struct MountTests {
  @Test func mountsWhatMkfsMade() throws {
    let image = try FatImage()
    let volume = try image.mount()
    let geometry = volume.geometry
    #expect(geometry.sectorsPerCluster == 1 && geometry.fatCount == 2 && geometry.mirrored)
    #expect(geometry.clusterCount >= 65525 && geometry.rootCluster == 2 && geometry.fsInfoSector == 1)
    let summary = try fatSummary(image, geometry)
    #expect(volume.freeClusters == summary.free)
    #expect(try volume.fsList("\\").isEmpty, "the volume label is no entry")
  }

  /// (what is planted, offset, bytes, status mount gives)
  static let damages: [(String, Int, [UInt8], Status)] = [
    ("no boot signature", 510, [0, 0], .unrecognizedVolume),
    ("1024-byte sectors", 11, [0x00, 0x04], .unrecognizedVolume),
    ("3 sectors per cluster", 13, [3], .unrecognizedVolume),
    ("0 sectors per cluster", 13, [0], .unrecognizedVolume),
    ("no FAT", 16, [0], .unrecognizedVolume),
    ("root entries (FAT16's fixed root)", 17, [0x00, 0x02], .unrecognizedVolume),
    ("a 16-bit FAT size", 22, [0x10, 0x00], .unrecognizedVolume),
    ("a FAT size of 0", 36, [0, 0, 0, 0], .unrecognizedVolume),
    ("an unknown version", 42, [0, 1], .unrecognizedVolume),
    ("0 reserved sectors", 14, [0, 0], .unrecognizedVolume),
    ("more sectors than the device", 32, [0xFF, 0xFF, 0xFF, 0x00], .diskCorruptError),
    ("a FAT too small for its clusters", 36, [0x10, 0, 0, 0], .diskCorruptError),
    ("a root cluster outside the volume", 44, [0xFF, 0xFF, 0xFF, 0x0F], .diskCorruptError),
    ("a root cluster of 0", 44, [0, 0, 0, 0], .diskCorruptError),
    ("an active FAT that does not exist", 40, [0x83, 0x00], .diskCorruptError),
  ]

  @Test(arguments: damages)
  func refusesBadBootSectors(damage: String, offset: Int, bytes: [UInt8], expected: Status) throws {
    let image = try FatImage()
    try image.poke(offset, bytes)
    let disk = try image.disk()
    #expect(FatVolume<ImageDisk>.mountStatus(disk) == expected, "\(damage)")
  }

  @Test func refusesFat16AndEmptyDevices() throws {
    try FatTools.requireAll()
    let image = try FatImage()
    let made = try FatTools.run("mkfs.fat", ["-F", "16", "-C", image.path + ".16", "20480"])
    try #require(made.status == 0, "\(made.stderr)")
    #expect(FatVolume<ImageDisk>.mountStatus(try ImageDisk(path: image.path + ".16")) == .unrecognizedVolume)
    #expect(FatVolume<ImageDisk>.mountStatus(try ImageDisk(path: image.path, sectorCount: 0)) == .unrecognizedVolume)
    // The device is smaller than the volume says.
    #expect(FatVolume<ImageDisk>.mountStatus(try ImageDisk(path: image.path, sectorCount: 40000)) == .diskCorruptError)
  }

  @Test func countsFreeClustersWhenFSInfoDoesNotKnow() throws {
    let image = try FatImage()
    try image.put(pattern(10_000), at: "::/file.bin")
    let geometry = try image.mount().geometry
    let base = Int(geometry.fsInfoSector) * 512
    let truth = try fatSummary(image, geometry).free
    // Unknown, then out of range, then a sector without the signatures.
    for (offset, value) in [(FatFSInfo.freeCount, 0xFFFF_FFFF), (FatFSInfo.freeCount, 0x7FFF_FFFF), (0, 0)] {
      try image.poke32(base + offset, UInt32(value))
      let volume = try image.mount()
      #expect(volume.freeClusters == truth)
    }
    // A genuine FSInfo gets the recount at flush (the signature is back first).
    try image.poke32(base, FatFSInfo.leadSignature)
    let volume = try image.mount()
    try volume.fsFlush()
    #expect(try fsInfo(image, geometry).free == truth)
    #expect(try image.fsck().clean)
  }

  @Test func keepsTheNextFreeHint() throws {
    let image = try FatImage()
    let volume = try image.mount()
    var file = try volume.fsCreate("\\a.bin")
    try volume.fsWrite(&file, at: 0, pattern(2048))
    try volume.fsFlush()
    let info = try fsInfo(image, volume.geometry)
    #expect(info.next == file.firstCluster + 4, "the hint follows the last allocation")
    #expect(info.next == volume.nextFreeHint)
  }
}

extension FatVolume {
  /// The status mounting `device` fails with (nil on success).
  static func mountStatus(_ device: Device) -> Status? {
    do throws(Status) {
      _ = try mount(device)
      return nil
    } catch { return error }
  }
}
