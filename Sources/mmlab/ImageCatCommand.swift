import ArgumentParser
import Foundation
import Inspect

/// `mmlab image cat`: a file of a FAT32 image on standard output.
struct ImageCatCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cat",
    abstract: "Write a file of a FAT32 disk image to standard output.",
    discussion: "The host's reader refuses a file whose cluster chain loops, leaves the volume or is too short."
  )

  @Argument(help: "The disk image (default: the volume the package builds).") var image: String
  @Argument(help: "The file, e.g. /docs/readme.txt.") var path: String

  func run() throws {
    let bytes: [UInt8]
    let file = try DiskNames.require(image)
    do { bytes = try FatImage(path: file).read(path) } catch { throw CommandFailure(error.description) }
    FileHandle.standardOutput.write(Data(bytes))
  }
}
