import Machine
import X86Paging

/// `mmlab dump-pagetables` as it is produced: the walk writes each range, leaf and
/// not-present entry into a `ReportSink` as it finds it, so memory is the sink's buffer
/// whatever the tables say, and the output is bounded by `maxLeaves`.
///
/// Each part is its own walk (they are cheap beside formatting): with leaves the JSON
/// document lists the leaves, then the ranges from a second walk; the not-present
/// entries come from the software walk. A part cut short by the limit says so (text: a
/// `!` line; JSON: the `truncated` array), with the exact number it did not list when the
/// walker could count it.
public struct PageTableDumpReport {
  public struct Options: Sendable {
    public var leaves = false
    public var softwareEntries = false
    /// At most this many leaves (and not-present entries) are listed.
    public var maxLeaves = PageTableDumpReport.defaultMaxLeaves
    public init(
      leaves: Bool = false, softwareEntries: Bool = false, maxLeaves: Int = PageTableDumpReport.defaultMaxLeaves
    ) {
      self.leaves = leaves
      self.softwareEntries = softwareEntries
      self.maxLeaves = maxLeaves
    }
  }

  /// About a million: every mapping of a 4 GiB guest in 4 KiB pages.
  public static let defaultMaxLeaves = 1 << 20

  public let context: PagingContext
  public let options: Options
  private let leafWalk: (Int, (Leaf) -> Void) -> EnumerationSummary
  private let softwareWalk: (Int, (SoftwareEntry) -> Void) -> SoftwareEntrySummary

  public init(context: PagingContext, memory: some PhysicalMemory, options: Options) {
    self.context = context
    self.options = options
    leafWalk = { limit, body in forEachLeaf(context: context, memory: memory, limit: limit, body: body) }
    softwareWalk = { limit, body in forEachSoftwareEntry(context: context, memory: memory, limit: limit, body: body) }
  }

  /// The same over guest memory, through its enumerator specialized in Machine.
  public init(context: PagingContext, memory: GuestPhysicalMemory, options: Options) {
    self.context = context
    self.options = options
    leafWalk = { limit, body in memory.forEachLeaf(context: context, limit: limit, body: body) }
    softwareWalk = { limit, body in forEachSoftwareEntry(context: context, memory: memory, limit: limit, body: body) }
  }

  /// Ranges as the walk closes them; the summary of the walk.
  private func walkRanges(_ body: (MappingRange) -> Void) -> EnumerationSummary {
    var merger = MappingRangeMerger()
    let summary = leafWalk(options.maxLeaves) { leaf in
      if let closed = merger.push(leaf) { body(closed) }
    }
    if let last = merger.close() { body(last) }
    return summary
  }

  /// Why a part stopped early, in words.
  static func reason(_ truncation: EnumerationSummary.Truncation, limit: Int) -> String {
    switch truncation {
    case .leafLimit: "the leaf limit (--max-leaves \(limit))"
    case .tableLimit: "the table limit (\(1 << 18) tables scanned)"
    }
  }

  static func reason(_ truncation: SoftwareEntrySummary.Truncation, limit: Int) -> String {
    switch truncation {
    case .entryLimit: "the entry limit (--max-leaves \(limit))"
    case .tableLimit: "the table limit (\(1 << 18) tables scanned)"
    }
  }
}

// MARK: - Text

extension PageTableDumpReport {
  /// The dump for a person: one line per range (or per leaf), problems after.
  @discardableResult
  public func writeText(source: String, platform: String?, to sink: ReportSink) -> EnumerationSummary {
    sink.write("# \(source): CR3 \(hex(context.cr3)), \(context.mode) paging" + (platform.map { ", on \($0)" } ?? ""))
    sink.write(byte: 0x0A)
    let summary: EnumerationSummary
    if options.leaves {
      sink.write("# virtual address    physical address   size  flags (XD G PAT D A PCD PWT U W)\n")
      summary = leafWalk(options.maxLeaves) { sink.writeLeafLine($0) }
    } else {
      sink.write("# start              end                  size             page  rights\n")
      summary = walkRanges { sink.writeRangeLine($0) }
    }
    for problem in summary.problems {
      // A table reachable from itself is how a self-map slot looks: worth showing, not alarming.
      switch problem {
      case .ancestorReference: sink.write("~ recursive: \(problem)\n")
      case .sharedTable: sink.write("~ shared: \(problem)\n")
      default: sink.write("! \(problem)\n")
      }
    }
    if summary.problemCount > summary.problems.count {
      sink.write("! ... and \(summary.problemCount - summary.problems.count) more problems\n")
    }
    if let truncation = summary.truncation {
      let unlisted = summary.unlistedLeaves.map { "\($0) more leaves were not listed" } ?? "more leaves were not listed"
      sink.write(
        "! stopped at \(Self.reason(truncation, limit: options.maxLeaves)) after \(summary.leafCount) leaves: \(unlisted)\n"
      )
    }
    sink.write("# " + Self.summaryLine(summary) + "\n")
    if options.softwareEntries { writeSoftwareText(shown: Set(summary.problems), to: sink) }
    return summary
  }

  /// The walk's totals, with recursive references (the self-map) and shared tables told apart from problems.
  static func summaryLine(_ summary: EnumerationSummary) -> String {
    let recursive = summary.problems.count { if case .ancestorReference = $0 { true } else { false } }
    let expected = recursive + summary.sharedTables
    var text = "\(summary.mode): \(summary.leafCount) leaves in \(summary.tableCount) tables"
    if summary.leavesWithReservedBits > 0 { text += ", \(summary.leavesWithReservedBits) with reserved bits" }
    if summary.problemCount > expected { text += ", \(summary.problemCount - expected) problems" }
    if recursive > 0 { text += ", \(recursive) recursive reference\(recursive == 1 ? "" : "s") (a self-map)" }
    if summary.sharedTables > 0 {
      text += ", \(summary.sharedTables) shared table\(summary.sharedTables == 1 ? "" : "s")"
    }
    if summary.repeatedTableReferences > 0 {
      text += ", \(summary.repeatedTableReferences) references to tables already reached"
    }
    if summary.isTruncated { text += " (truncated)" }
    return text
  }

  /// The not-present section: one line per entry, then the problems the hardware walk did
  /// not already print, then the counts.
  private func writeSoftwareText(shown: Set<EnumerationProblem>, to sink: ReportSink) {
    guard context.mode.isIA32e else {
      sink.write("# not-present entries: \(SoftwareEntrySummary(mode: context.mode))\n")
      return
    }
    sink.write("# not-present entries in the software formats (all-zero entries are counted below)\n")
    sink.write("# linear address level entry address    entry            decoding\n")
    var writer = SoftwareEntryTextWriter(reservingCapacity: 256)
    let summary = softwareWalk(options.maxLeaves) { entry in
      writer.bytes.removeAll(keepingCapacity: true)
      writer.appendLine(entry)
      writer.bytes.withUnsafeBytes { sink.write($0) }
    }
    for problem in summary.problems where !shown.contains(problem) {
      switch problem {
      case .ancestorReference: sink.write("~ not followed: \(problem)\n")
      case .sharedTable: sink.write("~ scanned once: \(problem)\n")
      default: sink.write("! \(problem)\n")
      }
    }
    if let truncation = summary.truncation {
      sink.write(
        "! stopped at \(Self.reason(truncation, limit: options.maxLeaves)) after \(summary.entryCount) entries\n")
    }
    sink.write("# \(summary)\n")
  }
}

// MARK: - JSON

extension PageTableDumpReport {
  /// The text dump, whole (tests, benchmarks).
  public func text(source: String, platform: String? = nil) -> String {
    let sink = ReportSink.memory()
    writeText(source: source, platform: platform, to: sink)
    return sink.string
  }

  /// The JSON dump, whole.
  public func json(source: String, platform: [String: Any]? = nil) -> String {
    let sink = ReportSink.memory()
    writeJSON(source: source, platform: platform, to: sink)
    return sink.string
  }
}

extension PageTableDumpReport {
  /// The dump for a program (see `mmlab dump-pagetables --help` for the schema), in the
  /// order it is produced: the header, the leaves, the ranges, the problems and the summary,
  /// then the not-present entries.
  @discardableResult
  public func writeJSON(source: String, platform: [String: Any]?, to sink: ReportSink) -> EnumerationSummary {
    var json = JSONStream(sink)
    json.beginObject()
    json.field("source", source)
    json.field("cr3", hex(context.cr3))
    json.field("mode", context.mode.description)
    if let platform { json.field("platform", platform) }
    var truncations: [[String: Any]] = []
    if options.leaves {
      json.key("leaves")
      json.beginArray()
      let listed = leafWalk(options.maxLeaves) { leaf in
        json.element()
        sink.writeLeafRecord(leaf)
      }
      json.endArray()
      if let cut = truncation(listed, part: "leaves") { truncations.append(cut) }
    }
    json.key("ranges")
    json.beginArray()
    let summary = walkRanges { range in
      json.element()
      sink.writeRangeRecord(range)
    }
    json.endArray()
    if let cut = truncation(summary, part: "ranges") { truncations.append(cut) }
    json.field("problems", summary.problems.map { $0.description })
    json.field("summary", summaryJSON(summary))
    if options.softwareEntries { writeSoftwareJSON(&json, truncations: &truncations) }
    if !truncations.isEmpty { json.field("truncated", truncations) }
    json.endObject()
    sink.write(byte: 0x0A)
    return summary
  }

  private func truncation(_ summary: EnumerationSummary, part: String) -> [String: Any]? {
    guard let truncation = summary.truncation else { return nil }
    var object: [String: Any] = [
      "part": part, "reason": Self.reason(truncation, limit: options.maxLeaves), "listedLeaves": summary.leafCount,
    ]
    if let unlisted = summary.unlistedLeaves { object["unlistedLeaves"] = unlisted }
    return object
  }

  private func summaryJSON(_ summary: EnumerationSummary) -> [String: Any] {
    var object: [String: Any] = [
      "leaves": summary.leafCount, "tables": summary.tableCount,
      "leavesWithReservedBits": summary.leavesWithReservedBits,
      "truncated": summary.isTruncated, "problemCount": summary.problemCount,
      "sharedTables": summary.sharedTables, "repeatedTableReferences": summary.repeatedTableReferences,
    ]
    if let total = summary.totalLeaves { object["totalLeaves"] = total }
    return object
  }

  private func writeSoftwareJSON(_ json: inout JSONStream, truncations: inout [[String: Any]]) {
    json.key("softwareEntries")
    json.beginArray()
    let summary = softwareWalk(options.maxLeaves) { entry in json.inlineElement(softwareEntryJSON(entry)) }
    json.endArray()
    var zeros: [String: Any] = [:]
    for level in summary.levels { zeros[level.description] = summary.zeroEntries[level] }
    json.field("zeroEntries", zeros)
    var kinds: [String: Any] = [:]
    for kind in SoftwareEntryKind.allCases where kind != .zero && kind != .valid {
      kinds[kind.rawValue] = summary.count(of: kind)
    }
    json.field(
      "softwareSummary",
      [
        "supported": summary.isSupported, "entries": summary.entryCount, "tables": summary.tableCount,
        "kinds": kinds, "entriesWithOtherBits": summary.entriesWithOtherBits,
        "ancestorReferences": summary.ancestorReferences, "sharedTableReferences": summary.sharedTableReferences,
        "truncated": summary.isTruncated, "problemCount": summary.problemCount,
        "problems": summary.problems.map { $0.description },
      ] as [String: Any])
    if let truncation = summary.truncation {
      truncations.append([
        "part": "softwareEntries", "reason": Self.reason(truncation, limit: options.maxLeaves),
        "listedEntries": summary.entryCount,
      ])
    }
  }
}

// MARK: - Lines and records, formatted in place

extension ReportSink {
  /// "0x" and lowercase hex digits, at least one, padded to `digits`; returns the bytes written.
  @inline(__always)
  static func putHex(_ value: UInt64, digits: Int, prefixed: Bool, at out: UnsafeMutablePointer<UInt8>) -> Int {
    var at = 0
    if prefixed {
      out[0] = 0x30
      out[1] = 0x78
      at = 2
    }
    let significant = max((64 - value.leadingZeroBitCount + 3) / 4, 1)
    var shift = max(significant, digits) * 4
    while shift > 0 {
      shift -= 4
      let nibble = UInt8(truncatingIfNeeded: value >> UInt64(shift)) & 0xF
      out[at] = nibble < 10 ? 0x30 + nibble : 0x57 + nibble
      at += 1
    }
    return at
  }

  @inline(__always)
  static func put(_ text: StaticString, at out: UnsafeMutablePointer<UInt8>) -> Int {
    let count = text.utf8CodeUnitCount
    out.update(from: text.utf8Start, count: count)
    return count
  }

  static func sizeColumn(_ size: PageSize) -> StaticString {
    switch size {
    case .size4KiB: "4K   "
    case .size2MiB: "2M   "
    case .size4MiB: "4M   "
    case .size1GiB: "1G   "
    }
  }

  /// `info tlb`'s columns: "va: pa size flags[ RESERVED 0x…]".
  func writeLeafLine(_ leaf: Leaf) {
    append(reserving: 96) { out in
      var at = Self.putHex(leaf.virtualAddress, digits: 16, prefixed: false, at: out)
      at += Self.put(": ", at: out + at)
      at += Self.putHex(leaf.physicalAddress, digits: 16, prefixed: false, at: out + at)
      out[at] = 0x20
      at += 1
      at += Self.put(Self.sizeColumn(leaf.pageSize), at: out + at)
      out[at] = 0x20
      at = writeLeafFlags(leaf, into: UnsafeMutableBufferPointer(start: out, count: 96), at: at + 1)
      if leaf.reservedBits != 0 {
        at += Self.put(" RESERVED ", at: out + at)
        at += Self.putHex(leaf.reservedBits, digits: 1, prefixed: true, at: out + at)
      }
      out[at] = 0x0A
      return at + 1
    }
  }

  /// `{"va" : "0x…", "pa" : "0x…", "pageSize" : n, "flags" : "…", "entry" : "0x…"[, "reservedBits" : "0x…"]}`
  func writeLeafRecord(_ leaf: Leaf) {
    append(reserving: 192) { out in
      var at = Self.put("{\"va\" : \"", at: out)
      at += Self.putHex(leaf.virtualAddress, digits: 1, prefixed: true, at: out + at)
      at += Self.put("\", \"pa\" : \"", at: out + at)
      at += Self.putHex(leaf.physicalAddress, digits: 1, prefixed: true, at: out + at)
      at += Self.put("\", \"pageSize\" : ", at: out + at)
      at += Self.putDecimal(leaf.pageSize.bytes, at: out + at)
      at += Self.put(", \"flags\" : \"", at: out + at)
      at = writeLeafFlags(leaf, into: UnsafeMutableBufferPointer(start: out, count: 192), at: at)
      at += Self.put("\", \"entry\" : \"", at: out + at)
      at += Self.putHex(leaf.entry.rawValue, digits: 1, prefixed: true, at: out + at)
      out[at] = 0x22
      at += 1
      if leaf.reservedBits != 0 {
        at += Self.put(", \"reservedBits\" : \"", at: out + at)
        at += Self.putHex(leaf.reservedBits, digits: 1, prefixed: true, at: out + at)
        out[at] = 0x22
        at += 1
      }
      out[at] = 0x7D  // '}'
      return at + 1
    }
  }

  /// `info mem`'s columns: "start-end size page rights[ RESERVED]".
  func writeRangeLine(_ range: MappingRange) {
    write(
      "\(hex16(range.start))-\(hex16(range.end)) \(hex16(range.size)) \(pad(range.pageSize.description, 5)) "
        + rangeRights(range) + (range.hasReservedBits ? " RESERVED\n" : "\n"))
  }

  func writeRangeRecord(_ range: MappingRange) {
    write(
      "{\"start\" : \"\(hex(range.start))\", \"end\" : \"\(hex(range.end))\", \"size\" : \"\(hex(range.size))\", "
        + "\"pageSize\" : \(range.pageSize.bytes), \"pages\" : \(range.pageCount), \"user\" : \(range.user), "
        + "\"writable\" : \(range.writable), \"executable\" : \(range.executable), "
        + "\"reservedBits\" : \(range.hasReservedBits)}")
  }

  @inline(__always)
  static func putDecimal(_ value: UInt64, at out: UnsafeMutablePointer<UInt8>) -> Int {
    var digits = 1
    var rest = value / 10
    while rest > 0 {
      digits += 1
      rest /= 10
    }
    var value = value
    for index in stride(from: digits - 1, through: 0, by: -1) {
      out[index] = 0x30 + UInt8(value % 10)
      value /= 10
    }
    return digits
  }
}
