import Machine
import X86Paging

/// A walk of every mapping reachable from CR3, as merged ranges (QEMU's
/// `info mem`) and, if asked, every leaf (QEMU's `info tlb`).
public struct PageTableDump {
  public var cr3: UInt64
  public var mode: PagingMode
  public var ranges: [MappingRange]
  /// Every leaf, when the dump was asked for them; nil otherwise.
  public var leaves: [Leaf]?
  public var summary: EnumerationSummary
  /// The not-present entries in Mm's software formats, when the dump was asked for them.
  public var softwareEntries: SoftwareEntryDump?

  /// Walks the tables `context` points at in `memory`; with `includeSoftwareEntries`, also
  /// collects the not-present entries (see `forEachSoftwareEntry`).
  public init(
    context: PagingContext, memory: some PhysicalMemory, includeLeaves: Bool, leafLimit: Int = 1 << 24,
    includeSoftwareEntries: Bool = false, softwareEntryLimit: Int = 1 << 22
  ) {
    self.init(context: context, includeLeaves: includeLeaves) { body in
      forEachLeaf(context: context, memory: memory, limit: leafLimit, body: body)
    }
    softwareEntries =
      includeSoftwareEntries ? SoftwareEntryDump(context: context, memory: memory, limit: softwareEntryLimit) : nil
  }

  /// The same over guest memory, through its enumerator specialized in Machine (several times faster).
  public init(
    context: PagingContext, memory: GuestPhysicalMemory, includeLeaves: Bool, leafLimit: Int = 1 << 24,
    includeSoftwareEntries: Bool = false, softwareEntryLimit: Int = 1 << 22
  ) {
    self.init(context: context, includeLeaves: includeLeaves) { body in
      memory.forEachLeaf(context: context, limit: leafLimit, body: body)
    }
    softwareEntries =
      includeSoftwareEntries ? SoftwareEntryDump(context: context, memory: memory, limit: softwareEntryLimit) : nil
  }

  /// Merges the leaves `walk` delivers into ranges, keeping them too when asked.
  private init(
    context: PagingContext, includeLeaves: Bool, walk: ((Leaf) -> Void) -> EnumerationSummary
  ) {
    var merger = MappingRangeMerger()
    var leaves: [Leaf] = []
    summary = walk { leaf in
      merger.add(leaf)
      if includeLeaves { leaves.append(leaf) }
    }
    cr3 = context.cr3
    mode = context.mode
    ranges = merger.finish()
    self.leaves = includeLeaves ? leaves : nil
    softwareEntries = nil
  }
}

extension PageTableDump {
  /// The walk's totals, with recursive references (the self-map) told apart from problems.
  var summaryLine: String {
    let recursive = summary.problems.filter {
      if case .ancestorReference = $0 { return true } else { return false }
    }.count
    var text = "\(mode): \(summary.leafCount) leaves in \(summary.tableCount) tables"
    if summary.leavesWithReservedBits > 0 { text += ", \(summary.leavesWithReservedBits) with reserved bits" }
    if summary.problemCount > recursive { text += ", \(summary.problemCount - recursive) problems" }
    if recursive > 0 { text += ", \(recursive) recursive references (a self-map)" }
    if summary.isTruncated { text += " (truncated)" }
    return text
  }
}

/// QEMU's `info tlb` flag letters for a leaf: XD, G, PAT, D, A, PCD, PWT, U, W;
/// a dash where the flag is clear.
public func leafFlags(_ leaf: Leaf) -> String {
  String(unsafeUninitializedCapacity: 9) { writeLeafFlags(leaf, into: $0, at: 0) }
}

/// Writes the nine letters of `leafFlags` at `index` of `buffer` and returns
/// the index after them (the dump's hot loop writes them in place).
@inline(__always)
func writeLeafFlags(_ leaf: Leaf, into buffer: UnsafeMutableBufferPointer<UInt8>, at index: Int) -> Int {
  buffer[index] = leaf.executable ? 0x2D : 0x58  // X
  buffer[index + 1] = leaf.global ? 0x47 : 0x2D  // G
  buffer[index + 2] = leaf.pat ? 0x50 : 0x2D  // P
  buffer[index + 3] = leaf.dirty ? 0x44 : 0x2D  // D
  buffer[index + 4] = leaf.accessed ? 0x41 : 0x2D  // A
  buffer[index + 5] = leaf.cacheDisable ? 0x43 : 0x2D  // C
  buffer[index + 6] = leaf.writeThrough ? 0x54 : 0x2D  // T
  buffer[index + 7] = leaf.user ? 0x55 : 0x2D  // U
  buffer[index + 8] = leaf.writable ? 0x57 : 0x2D  // W
  return index + 9
}

/// "urw", "-r-" ...: user, read (always), write, execute, as QEMU's `info mem` prints them.
public func rangeRights(_ range: MappingRange) -> String {
  (range.user ? "u" : "-") + "r" + (range.writable ? "w" : "-") + (range.executable ? "x" : "-")
}

extension PageTableDump {
  /// The dump for a person: one line per range (or per leaf), problems after.
  public func text(source: String, platform: String?) -> String {
    var lines = ["# \(source): CR3 \(hex(cr3)), \(mode) paging" + (platform.map { ", on \($0)" } ?? "")]
    if let leaves {
      lines.append("# virtual address    physical address   size  flags (XD G PAT D A PCD PWT U W)")
      lines.append(Self.leafLines(leaves))
    } else {
      lines.append("# start              end                  size             page  rights")
      for range in ranges {
        var line =
          "\(hex16(range.start))-\(hex16(range.end)) \(hex16(range.size)) \(pad(range.pageSize.description, 5)) \(rangeRights(range))"
        if range.hasReservedBits { line += " RESERVED" }
        lines.append(line)
      }
    }
    for problem in summary.problems {
      // A table reachable from itself is how a self-map slot looks: worth showing, not alarming.
      if case .ancestorReference = problem {
        lines.append("~ recursive: \(problem)")
      } else {
        lines.append("! \(problem)")
      }
    }
    if summary.problemCount > summary.problems.count {
      lines.append("! ... and \(summary.problemCount - summary.problems.count) more problems")
    }
    lines.append("# " + summaryLine)
    if let softwareEntries { appendSoftwareEntries(softwareEntries, to: &lines) }
    return lines.joined(separator: "\n") + "\n"
  }

  /// One line per leaf, as `text` prints them, built as bytes: a dump of a
  /// large guest is hundreds of thousands of lines, and string interpolation
  /// per field costs ten times what the walk does.
  static func leafLines(_ leaves: [Leaf]) -> String {
    let sizes = PageSize.allCases.map { ($0, Array(pad($0.description, 5).utf8)) }
    let lineBytes = 16 + 2 + 16 + 1 + 5 + 1 + 9 + 1
    let reservedExtra = leaves.reduce(0) { $0 + ($1.reservedBits != 0 ? 40 : 0) }
    let capacity = leaves.count * lineBytes + reservedExtra
    return String(unsafeUninitializedCapacity: capacity) { buffer in
      var at = 0
      func put(_ byte: UInt8) {
        buffer[at] = byte
        at += 1
      }
      func putHex16(_ value: UInt64) {
        for shift in stride(from: 60, through: 0, by: -4) {
          let digit = UInt8(truncatingIfNeeded: value >> UInt64(shift)) & 0xF
          put(digit < 10 ? 0x30 + digit : 0x57 + digit)
        }
      }
      for (index, leaf) in leaves.enumerated() {
        if index > 0 { put(0x0A) }
        putHex16(leaf.virtualAddress)
        put(0x3A)  // ':'
        put(0x20)
        putHex16(leaf.physicalAddress)
        put(0x20)
        for (size, text) in sizes where size == leaf.pageSize { for byte in text { put(byte) } }
        put(0x20)
        at = writeLeafFlags(leaf, into: buffer, at: at)
        if leaf.reservedBits != 0 { for byte in " RESERVED \(hex(leaf.reservedBits))".utf8 { put(byte) } }
      }
      return at
    }
  }

  /// The dump for a program (see `mmlab dump-pagetables --help` for the schema).
  public func json(source: String, platform: [String: Any]?) -> [String: Any] {
    var object: [String: Any] = [
      "source": source,
      "cr3": hex(cr3),
      "mode": mode.description,
      "ranges": ranges.map { range -> [String: Any] in
        [
          "start": hex(range.start), "end": hex(range.end), "size": hex(range.size),
          "pageSize": Int(range.pageSize.bytes), "pages": range.pageCount,
          "user": range.user, "writable": range.writable, "executable": range.executable,
          "reservedBits": range.hasReservedBits,
        ]
      },
      "summary": [
        "leaves": summary.leafCount, "tables": summary.tableCount,
        "leavesWithReservedBits": summary.leavesWithReservedBits,
        "truncated": summary.isTruncated, "problemCount": summary.problemCount,
      ],
      "problems": summary.problems.map { $0.description },
    ]
    if let leaves {
      object["leaves"] = leaves.map { leaf -> [String: Any] in
        var entry: [String: Any] = [
          "va": hex(leaf.virtualAddress), "pa": hex(leaf.physicalAddress), "pageSize": Int(leaf.pageSize.bytes),
          "flags": leafFlags(leaf), "entry": hex(leaf.entry.rawValue),
        ]
        if leaf.reservedBits != 0 { entry["reservedBits"] = hex(leaf.reservedBits) }
        return entry
      }
    }
    if let softwareEntries { addSoftwareEntries(softwareEntries, to: &object) }
    if let platform { object["platform"] = platform }
    return object
  }

  /// The not-present section of the text dump: one line per entry, then the problems the
  /// hardware walk did not already print, then the counts.
  private func appendSoftwareEntries(_ software: SoftwareEntryDump, to lines: inout [String]) {
    let summary = software.summary
    guard summary.isSupported else {
      lines.append("# not-present entries: \(summary)")
      return
    }
    lines.append("# not-present entries in the software formats (all-zero entries are counted below)")
    lines.append("# linear address level entry address    entry            decoding")
    if !software.entries.isEmpty {
      var writer = SoftwareEntryTextWriter(reservingCapacity: software.entries.count * 96)
      for entry in software.entries { writer.appendLine(entry) }
      writer.bytes.removeLast()  // the lines are joined with newlines
      lines.append(writer.string)
    }
    let shown = Set(self.summary.problems)
    for problem in summary.problems where !shown.contains(problem) {
      if case .ancestorReference = problem {
        lines.append("~ not followed: \(problem)")
      } else {
        lines.append("! \(problem)")
      }
    }
    lines.append("# \(summary)")
  }

  private func addSoftwareEntries(_ software: SoftwareEntryDump, to object: inout [String: Any]) {
    let summary = software.summary
    object["softwareEntries"] = software.entries.map(softwareEntryJSON)
    var zeros: [String: Any] = [:]
    for level in summary.levels { zeros[level.description] = summary.zeroEntries[level] }
    object["zeroEntries"] = zeros
    var kinds: [String: Any] = [:]
    for kind in SoftwareEntryKind.allCases where kind != .zero && kind != .valid {
      kinds[kind.rawValue] = summary.count(of: kind)
    }
    object["softwareSummary"] = [
      "supported": summary.isSupported, "entries": summary.entryCount, "tables": summary.tableCount,
      "kinds": kinds, "entriesWithOtherBits": summary.entriesWithOtherBits,
      "ancestorReferences": summary.ancestorReferences, "truncated": summary.isTruncated,
      "problemCount": summary.problemCount, "problems": summary.problems.map { $0.description },
    ]
  }
}

/// One not-present entry for a program (see `mmlab dump-pagetables --help` for the schema).
public func softwareEntryJSON(_ entry: SoftwareEntry) -> [String: Any] {
  let pte = entry.pte
  var object: [String: Any] = [
    "va": hex(entry.virtualAddress), "level": entry.level.description, "entryAddress": hex(entry.entryAddress),
    "entry": hex(entry.raw), "kind": entry.kind.rawValue,
    "protection": pageProtectionName(entry.protection), "protectionCode": Int(entry.protection),
  ]
  switch pte {
  case .prototype(let address, _, let viaVAD):
    object["viaVAD"] = viaVAD
    if !viaVAD { object["prototypeAddress"] = hex(address) }
  case .transition(let pfn, _):
    object["pfn"] = Int(pfn)
  case .pageFile(let file, let offset, _):
    object["pageFile"] = Int(file)
    object["offset"] = Int(offset)
  case .demandZero, .valid, .zero:
    break
  }
  let other = entry.otherBits
  if other != 0 { object["otherBits"] = hex(other) }
  return object
}

/// 16 hex digits, zero-padded: addresses line up in columns.
func hex16(_ value: UInt64) -> String {
  let digits = String(value, radix: 16)
  return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}

func pad(_ text: String, _ width: Int) -> String {
  text + String(repeating: " ", count: max(0, width - text.count))
}
