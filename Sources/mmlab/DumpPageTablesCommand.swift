import ArgumentParser
import Inspect

/// `mmlab dump-pagetables`: the guest's mappings from CR3.
struct DumpPageTablesCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dump-pagetables",
    abstract: "Walk the guest's page tables from CR3 and print its mappings.",
    discussion: """
      Boots the guest to a checkpoint (or reads a core file) and walks every mapping reachable \
      from CR3. By default consecutive pages with the same rights merge into ranges, like QEMU's \
      `info mem` (end is exclusive); --leaves prints one line per leaf entry, like `info tlb`. \
      Entries with reserved bits set are flagged; tables outside guest RAM and self-references \
      are reported and the walk goes on.

      --software adds the not-present entries (P = 0) of every level, decoded in the memory \
      manager's software formats: transition (the page's PFN), prototype (the prototype PTE's \
      address, or "via VAD"), page file (file number and page offset), demand zero (protection \
      only). Each line gives the VA the entry covers, the level, the entry's physical address, \
      the raw entry and its decoding; bits the format does not hold are shown as "other bits". \
      All-zero entries ("not committed here: ask the VAD") are counted per level, not listed. \
      Entries that point back at a table on their own path (the self-map slot) are not \
      followed. 4- and 5-level paging only.

      Hostile tables cost bounded time and memory: a table reached a second time (a \
      self-map, or a table several entries share) is reported once ("~ recursive", "~ shared"), \
      its leaves are listed again under each path's addresses, and the listing stops at \
      --max-leaves leaves (also the cap on not-present entries). Output is written as the walk \
      goes; a part cut short says so, with the exact number of leaves it did not list.

      JSON, written in this order: {"source", "cr3", "mode", "platform", "leaves" (with \
      --leaves): [{"va", "pa", "pageSize", "flags", "entry", "reservedBits"?}], "ranges": \
      [{"start", "end", "size", "pageSize", "pages", "user", "writable", "executable", \
      "reservedBits"}], "problems": [...], "summary": {"leaves", "tables", \
      "leavesWithReservedBits", "truncated", "totalLeaves"?, "problemCount", "sharedTables", \
      "repeatedTableReferences"}, "truncated"?: [{"part" (leaves|ranges|softwareEntries), \
      "reason", "listedLeaves" | "listedEntries", "unlistedLeaves"?}]}; each leaf, range and \
      entry is one line. With --software also: "softwareEntries": [{"va", "level", \
      "entryAddress", "entry", "kind" (prototype|transition|pageFile|demandZero), "pfn"?, \
      "prototypeAddress"?, "viaVAD"?, "pageFile"?, "offset"?, "protection" (a name such as \
      "readWrite+guard"), "protectionCode", "otherBits"?}], "zeroEntries": {"PML4": n, "PDPT": n, \
      "PD": n, "PT": n}, "softwareSummary": {"supported", "entries", "tables", "kinds", \
      "entriesWithOtherBits", "ancestorReferences", "sharedTableReferences", "truncated", \
      "problemCount", "problems"}. Addresses are "0x…" strings; pageSize is in bytes; pfn, \
      pageFile and offset (in pages) are numbers; level is "PT", "PD", "PDPT", "PML4" or "PML5".
      """
  )

  @OptionGroup var target: SnapshotArguments

  @Flag(name: .long, help: "One line per leaf mapping instead of merged ranges.")
  var leaves = false

  @Flag(
    name: .long,
    help: "Also list the not-present entries, decoded in the memory manager's software PTE formats.")
  var software = false

  @Option(name: .long, help: "Output format: text or json.")
  var format: ReportFormat = .text

  @Option(
    name: .long,
    help: "List at most this many leaves (and not-present entries); the rest are counted, not listed.",
    transform: StrictArgument.count)
  var maxLeaves = PageTableDumpReport.defaultMaxLeaves

  func validate() throws {
    guard (1...(1 << 24)).contains(maxLeaves) else {
      throw ValidationError("--max-leaves must be from 1 to \(1 << 24) (got \(maxLeaves))")
    }
  }

  func run() throws {
    let snapshot = try target.snapshot()
    let options = PageTableDumpReport.Options(leaves: leaves, softwareEntries: software, maxLeaves: maxLeaves)
    let report = PageTableDumpReport(context: snapshot.pagingContext, memory: snapshot.memory, options: options)
    let sink = ReportSink.standardOutput
    switch format {
    case .text: report.writeText(source: snapshot.source, platform: snapshot.platform?.description, to: sink)
    case .json: report.writeJSON(source: snapshot.source, platform: snapshot.platform?.jsonObject, to: sink)
    }
    try sink.finish()
  }
}
