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

      JSON: {"cr3", "mode", "source", "platform", "ranges": [{"start", "end", "size", "pageSize", \
      "pages", "user", "writable", "executable", "reservedBits"}], "leaves" (with --leaves): \
      [{"va", "pa", "pageSize", "flags", "entry", "reservedBits"?}], "problems": [...], \
      "summary": {...}}. Addresses are "0x…" strings; pageSize is in bytes.
      """
  )

  @OptionGroup var target: SnapshotArguments

  @Flag(name: .long, help: "One line per leaf mapping instead of merged ranges.")
  var leaves = false

  @Option(name: .long, help: "Output format: text or json.")
  var format: ReportFormat = .text

  func run() throws {
    let snapshot = try target.snapshot()
    let dump = PageTableDump(context: snapshot.pagingContext, memory: snapshot.memory, includeLeaves: leaves)
    switch format {
    case .text: Terminal.writeReport(dump.text(source: snapshot.source, platform: snapshot.platform?.description))
    case .json:
      Terminal.writeReport(renderJSON(dump.json(source: snapshot.source, platform: snapshot.platform?.jsonObject)))
    }
  }
}
