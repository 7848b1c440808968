import GuestImage

/// Disk image names on the command line: a path, or `default` for the FAT32
/// volume the package builds (Images/disk plus generated pattern files).
enum DiskNames {
  static let defaultName = "default"

  /// The path `name` stands for; nil when it is `default` and the build made no image.
  static func path(_ name: String) -> String? {
    name == defaultName ? GuestImage.defaultDiskPath : name
  }

  /// The path, or a CommandFailure saying the default image is missing.
  static func require(_ name: String) throws -> String {
    guard let path = path(name) else {
      throw CommandFailure(
        "no default disk image: the package build did not make mmlab-disk.img (needs mkfs.fat and mtools)")
    }
    return path
  }
}
