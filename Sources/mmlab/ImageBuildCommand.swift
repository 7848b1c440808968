import ArgumentParser
import Inspect

/// `mmlab image build`: a FAT32 volume from a folder.
struct ImageBuildCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "build",
    abstract: "Make a FAT32 disk image from a folder (mkfs.fat, then mcopy; fsck.fat checks it).",
    discussion: """
      The folder's files and directories go to the volume's root with their long names. With \
      --pagefile, a zero-filled pagefile.sys of that size goes in first, in one run of clusters. \
      A failure leaves no file at --out.
      """
  )

  @Option(name: .long, help: "The folder whose content the volume holds (none: an empty volume).")
  var from: String?

  @Option(name: .long, help: "The image to write (replaced if it exists).")
  var out: String

  @Option(
    name: .long, help: "Volume size in MiB (default: the content, the page file and room to spare, at least 64).",
    transform: StrictArgument.count)
  var size: Int?

  @Option(name: .long, help: "Size in MiB of a contiguous pagefile.sys (0: none).", transform: StrictArgument.count)
  var pagefile = 0

  func validate() throws {
    if let size, !(FatImageBuilder.minimumMiB...(1 << 20)).contains(size) {
      throw ValidationError("--size must be between \(FatImageBuilder.minimumMiB) MiB (FAT32's least) and 1 TiB")
    }
    guard pagefile <= 1 << 16 else { throw ValidationError("--pagefile must be at most 65536 MiB") }
  }

  func run() throws {
    let builder = FatImageBuilder(source: from, output: out, sizeMiB: size, pageFileMiB: pagefile)
    do {
      let image = try builder.build()
      let free = try image.freeClusterCount()
      Terminal.note(
        "\(out): FAT32, \(image.geometry.clusterCount) clusters of \(image.geometry.clusterBytes) bytes, \(free) free")
    } catch { throw CommandFailure(error.description) }
  }
}
