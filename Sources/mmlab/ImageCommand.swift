import ArgumentParser

/// `mmlab image`: FAT32 disk images for `--disk`, made and read with standard tools and the host's own reader.
struct ImageCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "image",
    abstract: "Make and inspect FAT32 disk images for --disk.",
    discussion: """
      Images are ordinary FAT32 volumes (no partition table): mkfs.fat and mcopy make them, \
      fsck.fat and mtools read them, and so does mmlab's own reader (ls, cat), which checks every \
      cluster chain against the volume.
      """,
    subcommands: [ImageBuildCommand.self, ImageListCommand.self, ImageCatCommand.self]
  )
}
