import Foundation

/// Makes a FAT32 disk image from a folder with the standard tools: dosfstools'
/// mkfs.fat lays the volume out, mtools' mcopy fills it (long names and all),
/// fsck.fat checks it. A page file, when asked for, is copied first into the
/// empty volume so its clusters are one run, and the host reader confirms it.
public struct FatImageBuilder {
  public var source: String?
  public var output: String
  /// Volume size; nil: the content, the page file and room to spare, at least `minimumMiB`.
  public var sizeMiB: Int?
  public var pageFileMiB: Int = 0
  public var label = "MMLAB"

  /// The smallest FAT32 volume mkfs.fat makes with 512-byte clusters (65,525 clusters and two FATs).
  public static let minimumMiB = 34
  public static let defaultMiB = 64
  public static let pageFileName = "pagefile.sys"

  public init(source: String?, output: String, sizeMiB: Int? = nil, pageFileMiB: Int = 0) {
    self.source = source
    self.output = output
    self.sizeMiB = sizeMiB
    self.pageFileMiB = pageFileMiB
  }

  /// Builds the image at `output` (through a temporary file: a failure leaves nothing there).
  public func build() throws(FatImageError) -> FatImage {
    let content = try source.map { (folder) throws(FatImageError) in try Self.contentBytes(folder) } ?? 0
    let needed = Int((content + content / 8) >> 20) + pageFileMiB + 8
    let size = sizeMiB ?? max(Self.defaultMiB, needed)
    guard size >= Self.minimumMiB else {
      throw .build("--size \(size) MiB is below FAT32's smallest volume (\(Self.minimumMiB) MiB)")
    }
    guard size >= needed else {
      throw .build("\(size) MiB cannot hold \(content >> 20) MiB of files and a \(pageFileMiB) MiB page file")
    }
    let temporary = output + ".partial-\(getpid())"
    defer { unlink(temporary) }
    unlink(temporary)
    try Self.run("/usr/sbin/mkfs.fat", ["-F", "32", "--invariant", "-n", label, "-C", temporary, String(size * 1024)])
    if pageFileMiB > 0 { try addPageFile(to: temporary) }
    if let source { try copyContent(of: source, into: temporary) }
    try Self.run("/usr/sbin/fsck.fat", ["-n", temporary])
    if pageFileMiB > 0 { try Self.requireContiguous(Self.pageFileName, in: try FatImage(path: temporary)) }
    guard rename(temporary, output) == 0 else {
      throw .build("cannot move the image to \(output): \(String(cString: strerror(errno)))")
    }
    return try FatImage(path: output)
  }

  /// A zero-filled pagefile.sys of `pageFileMiB`, first into the empty volume.
  private func addPageFile(to image: String) throws(FatImageError) {
    let zeros = NSTemporaryDirectory() + "mmlab-pagefile-\(getpid())"
    defer { unlink(zeros) }
    guard FileManager.default.createFile(atPath: zeros, contents: nil), truncate(zeros, off_t(pageFileMiB) << 20) == 0
    else { throw .build("cannot make the page file's zeros in \(zeros)") }
    try Self.run("/usr/bin/mcopy", ["-i", image, zeros, "::/" + Self.pageFileName])
  }

  /// Everything in `folder` into the volume's root, recursively, names kept.
  private func copyContent(of folder: String, into image: String) throws(FatImageError) {
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    guard !names.isEmpty else { return }
    try Self.run("/usr/bin/mcopy", ["-s", "-p", "-i", image] + names.map { folder + "/" + $0 } + ["::/"])
  }

  /// Bytes of regular files under `folder` (which must be a directory).
  static func contentBytes(_ folder: String) throws(FatImageError) -> UInt64 {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw .build("--from \(folder) is not a directory")
    }
    var total: UInt64 = 0
    for case let name as String in FileManager.default.enumerator(atPath: folder) ?? .init() {
      let attributes = try? FileManager.default.attributesOfItem(atPath: folder + "/" + name)
      if attributes?[.type] as? FileAttributeType == .typeRegular { total += (attributes?[.size] as? UInt64) ?? 0 }
    }
    return total
  }

  /// The page file must be one run of clusters: the paging issue writes it by sector.
  static func requireContiguous(_ name: String, in image: FatImage) throws(FatImageError) {
    let entry = try image.resolve(name)
    let clusters = try image.chain(from: entry.firstCluster, what: name)
    guard FatImage.runs(clusters).count == 1 else {
      throw .corrupt("\(name) is in \(FatImage.runs(clusters).count) pieces, not one run of clusters")
    }
  }

  /// Runs a tool; its own words on failure.
  static func run(_ tool: String, _ arguments: [String]) throws(FatImageError) {
    guard FileManager.default.isExecutableFile(atPath: tool) else {
      throw .build("\(tool) is missing: install dosfstools and mtools (Scripts/setup.sh does)")
    }
    guard let outcome = ToolProcess.run(tool, arguments) else { throw .build("cannot run \(tool)") }
    guard outcome.status == 0 else {
      throw .build("\(URL(fileURLWithPath: tool).lastPathComponent) failed: \(outcome.words)")
    }
  }
}
