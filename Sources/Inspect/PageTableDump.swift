import Machine
import X86Paging

/// A walk of every mapping reachable from CR3, as merged ranges (QEMU's
/// `info mem`) and, if asked, every leaf (QEMU's `info tlb`), collected for a program
/// to look at; `PageTableDumpReport` writes the same as it walks.
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
    context: PagingContext, memory: some PhysicalMemory, includeLeaves: Bool,
    leafLimit: Int = PageTableDumpReport.defaultMaxLeaves,
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
    context: PagingContext, memory: GuestPhysicalMemory, includeLeaves: Bool,
    leafLimit: Int = PageTableDumpReport.defaultMaxLeaves,
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
