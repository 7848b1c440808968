import ArgumentParser
import Inspect

/// `mmlab image ls`: a directory of a FAT32 image, through the host's reader.
struct ImageListCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ls",
    abstract: "List a directory of a FAT32 disk image.",
    discussion: """
      Paths use / or \\ and match long or 8.3 names without regard to case. Text: one line per \
      entry (d for a directory, the size in bytes, the long name, the 8.3 name). JSON: \
      {"path", "entries": [{"name", "shortName", "directory", "size", "firstCluster"}]}.
      """
  )

  @Argument(help: "The disk image (default: the volume the package builds).") var image: String
  @Argument(help: "The directory (default: the root).") var path = "/"
  @Option(name: .long, help: "Output format: text or json.") var format: ReportFormat = .text

  func run() throws {
    let entries: [FatImageEntry]
    let file = try DiskNames.require(image)
    do { entries = try FatImage(path: file).list(path) } catch { throw CommandFailure(error.description) }
    switch format {
    case .text:
      Terminal.writeReport(entries.map(FatImageListing.line).joined())
    case .json:
      Terminal.writeReport(renderJSON(["path": path, "entries": entries.map(FatImageListing.json)]))
    }
  }
}

/// How `ls` shows an entry.
enum FatImageListing {
  static func line(_ entry: FatImageEntry) -> String {
    let size = String(entry.size)
    return "\(entry.isDirectory ? "d" : "-") \(String(repeating: " ", count: max(0, 10 - size.count)))\(size)  "
      + "\(entry.name)\(entry.name == entry.shortName ? "" : "  (\(entry.shortName))")\n"
  }

  static func json(_ entry: FatImageEntry) -> [String: Any] {
    [
      "name": entry.name, "shortName": entry.shortName, "directory": entry.isDirectory, "size": Int(entry.size),
      "firstCluster": Int(entry.firstCluster),
    ]
  }
}
