import GuestABI

extension FatImage {
  /// The entries of the directory at `path` ("/" or "" for the root), without "." and "..".
  public func list(_ path: String) throws(FatImageError) -> [FatImageEntry] {
    let directory = try resolve(path)
    guard directory.isDirectory else { throw .notADirectory(path) }
    return try entries(of: directory.firstCluster, path: path).filter { $0.name != "." && $0.name != ".." }
  }

  /// The whole file at `path` (at most `limit` bytes).
  public func read(_ path: String, limit: UInt64 = 1 << 30) throws(FatImageError) -> [UInt8] {
    let file = try resolve(path)
    guard !file.isDirectory else { throw .isADirectory(path) }
    guard UInt64(file.size) <= limit else { throw .tooLarge(path: path, size: UInt64(file.size), limit: limit) }
    return try contents(of: file, path: path)
  }

  /// The entry at `path`, components matched case-insensitively against long or short names.
  public func resolve(_ path: String) throws(FatImageError) -> FatImageEntry {
    var current = FatImageEntry(
      name: "/", shortName: "/", isDirectory: true, size: 0, firstCluster: geometry.rootCluster,
      attributes: FatAttribute.directory)
    var walked = ""
    for component in path.split(whereSeparator: { $0 == "/" || $0 == "\\" }) {
      guard current.isDirectory else { throw .notADirectory(walked) }
      walked += "/" + component
      let wanted = component.uppercased()
      let found = try entries(of: current.firstCluster, path: walked).first {
        $0.name.uppercased() == wanted || $0.shortName.uppercased() == wanted
      }
      guard let found else { throw .notFound(walked) }
      current = found
    }
    return current
  }

  /// Every live entry of the directory whose chain starts at `cluster` (0 in a ".." entry means the root).
  func entries(of cluster: UInt32, path: String) throws(FatImageError) -> [FatImageEntry] {
    let first = cluster == 0 ? geometry.rootCluster : cluster
    let clusters = try chain(from: first, what: path.isEmpty ? "/" : path)
    var found: [FatImageEntry] = []
    var longName = LongNameCollector()
    for run in Self.runs(clusters) {
      let bytes = try bytes(at: geometry.clusterOffset(run.first), count: run.count * Int(geometry.clusterBytes))
      for offset in stride(from: 0, to: bytes.count, by: FatDirectoryEntry.size) {
        let entry = bytes[offset..<(offset + FatDirectoryEntry.size)]
        if entry.first == FatDirectoryEntry.endMarker { return found }
        if let decoded = try decode(Array(entry), longName: &longName, path: path) { found.append(decoded) }
      }
    }
    return found
  }

  /// One 32-byte entry: a long-name part (collected), a deleted or volume-label entry (nil), or a file.
  private func decode(_ e: [UInt8], longName: inout LongNameCollector, path: String) throws(FatImageError)
    -> FatImageEntry?
  {
    let attributes = e[FatDirectoryEntry.attributes]
    if e[0] == FatDirectoryEntry.freeMarker {
      longName.reset()
      return nil
    }
    if attributes & FatAttribute.longNameMask == FatAttribute.longName {
      longName.add(e)
      return nil
    }
    defer { longName.reset() }
    if attributes & FatAttribute.volumeID != 0 { return nil }
    var raw = Array(e[0..<FatDirectoryEntry.nameLength])
    if raw[0] == FatDirectoryEntry.escapedFreeMarker { raw[0] = FatDirectoryEntry.freeMarker }
    let short = Self.shortName(raw, caseFlags: e[FatDirectoryEntry.caseFlags])
    func u16(_ at: Int) -> UInt32 { UInt32(e[at]) | UInt32(e[at + 1]) << 8 }
    let cluster = u16(FatDirectoryEntry.firstClusterHigh) << 16 | u16(FatDirectoryEntry.firstClusterLow)
    let size = u16(FatDirectoryEntry.fileSize) | u16(FatDirectoryEntry.fileSize + 2) << 16
    let isDirectory = attributes & FatAttribute.directory != 0
    let name = longName.name(checksum: Self.checksum(raw)) ?? short
    if isDirectory, name != "..", !geometry.isDataCluster(cluster) {
      let full = (path.hasSuffix("/") ? path : path + "/") + name
      throw .corrupt("\(full): a directory whose first cluster \(cluster) is outside the volume")
    }
    return FatImageEntry(
      name: name, shortName: short, isDirectory: isDirectory, size: isDirectory ? 0 : size, firstCluster: cluster,
      attributes: attributes)
  }

  /// "NAME.EXT", lowercased where Windows NT's case bits say.
  static func shortName(_ raw: [UInt8], caseFlags: UInt8) -> String {
    func part(_ bytes: ArraySlice<UInt8>, lower: Bool) -> String {
      let text = String(decoding: bytes.reversed().drop { $0 == 0x20 }.reversed(), as: UTF8.self)
      return lower ? text.lowercased() : text
    }
    let base = part(raw[0..<8], lower: caseFlags & FatDirectoryEntry.lowercaseBase != 0)
    let ext = part(raw[8..<11], lower: caseFlags & FatDirectoryEntry.lowercaseExtension != 0)
    return ext.isEmpty ? base : base + "." + ext
  }

  /// The short name's checksum that its long-name parts carry (fatgen103's rotate-and-add).
  static func checksum(_ raw: [UInt8]) -> UInt8 {
    raw.reduce(UInt8(0)) { sum, byte in ((sum & 1) << 7 | sum >> 1) &+ byte }
  }
}

/// Long-name parts gathered before a short entry: valid only as a complete,
/// consecutive run (N|last, N-1, ..., 1) with one checksum, which must be the short name's.
struct LongNameCollector {
  private var units: [Int: [UInt16]] = [:]
  private var expected = 0
  private var checksum: UInt8 = 0
  private var broken = false

  mutating func reset() { self = LongNameCollector() }

  mutating func add(_ e: [UInt8]) {
    let order = Int(e[FatLongNameEntry.order] & ~FatLongNameEntry.lastPart)
    if e[FatLongNameEntry.order] & FatLongNameEntry.lastPart != 0 {
      reset()
      expected = order
      checksum = e[FatLongNameEntry.checksum]
    } else if expected == 0 || order != expected - units.count || e[FatLongNameEntry.checksum] != checksum {
      broken = true
    }
    guard order >= 1, order <= 20 else { return broken = true }
    var part: [UInt16] = []
    for (start, count) in [(FatLongNameEntry.name1, 5), (FatLongNameEntry.name2, 6), (FatLongNameEntry.name3, 2)] {
      for index in 0..<count { part.append(UInt16(e[start + 2 * index]) | UInt16(e[start + 2 * index + 1]) << 8) }
    }
    units[order] = part
  }

  /// The long name, if the parts are whole and belong to a short name with `shortChecksum`.
  func name(checksum shortChecksum: UInt8) -> String? {
    guard !broken, expected > 0, units.count == expected, shortChecksum == checksum else { return nil }
    var all: [UInt16] = []
    for order in 1...expected { all += units[order] ?? [] }
    if let end = all.firstIndex(of: 0) { all.removeSubrange(end...) }
    return String(decoding: all, as: UTF16.self)
  }
}
