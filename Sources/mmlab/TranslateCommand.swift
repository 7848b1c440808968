import ArgumentParser
import Inspect
import X86Paging

/// `mmlab translate VA`: one walk, every level shown, and the outcome.
struct TranslateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "translate",
    abstract: "Translate one linear address through the guest's page tables.",
    discussion: """
      Shows every level's entry and the outcome: the physical address and page size, or the \
      fault (#PF with its exact error code, #GP for a non-canonical address) and why. \
      Register options override what the guest or the core file holds, so any page table can \
      be asked any question (e.g. --cr4 with SMEP set, --efer without NXE).

      JSON: {"fault", "vector"?, "errorCode"?, "physicalAddress"?, "pageSize"?, "outcome", \
      "reason"?, "levels": [{"level", "entryAddress", "entry"}], "accessedSet", "dirtySet", ...}.
      """
  )

  @Argument(help: "The linear address (0x… or decimal).")
  var address: NumberArgument

  @Option(name: .long, help: "The access: read, write or fetch.")
  var access: AccessKindArgument = .read

  @Flag(name: .long, help: "A user-mode (CPL 3) access; default supervisor.")
  var user = false

  @Flag(name: .long, help: "An implicit supervisor-mode access (descriptor tables): SMAP ignores RFLAGS.AC.")
  var implicit = false

  @OptionGroup var target: SnapshotArguments

  @Option(name: .long, help: "Override CR0.") var cr0: NumberArgument?
  @Option(name: .long, help: "Override CR3.") var cr3: NumberArgument?
  @Option(name: .long, help: "Override CR4.") var cr4: NumberArgument?
  @Option(name: .long, help: "Override IA32_EFER.") var efer: NumberArgument?
  @Option(name: .long, help: "Override RFLAGS (AC matters for SMAP).") var rflags: NumberArgument?
  @Option(name: .long, help: "PKRU (protection-key rights for user pages).") var pkru: NumberArgument?
  @Option(
    name: .long, help: "MAXPHYADDR in bits (default: the platform's, 48 for a core file).",
    transform: StrictArgument.count)
  var maxphyaddr: Int?

  @Option(name: .long, help: "Output format: text or json.")
  var format: ReportFormat = .text

  func validate() throws {
    if let maxphyaddr, !(32...52).contains(maxphyaddr) {
      throw ValidationError("--maxphyaddr must be between 32 and 52 (got \(maxphyaddr))")
    }
    if let pkru, pkru.value > UInt64(UInt32.max) { throw ValidationError("--pkru is a 32-bit register") }
    if implicit, user {
      throw ValidationError("--implicit and --user exclude each other: implicit accesses are supervisor-mode")
    }
  }

  func run() throws {
    let snapshot = try target.snapshot(maxPhysicalAddressBits: maxphyaddr)
    let report = TranslationReport(
      address.value, access: Access(access.kind, user ? .user : .supervisor, implicitSupervisor: implicit),
      context: context(from: snapshot), memory: snapshot.memory)
    switch format {
    case .text: Terminal.writeReport(report.text(source: snapshot.source, platform: snapshot.platform?.description))
    case .json:
      Terminal.writeReport(renderJSON(report.json(source: snapshot.source, platform: snapshot.platform?.jsonObject)))
    }
  }

  /// The snapshot's registers with the command line's overrides applied.
  func context(from snapshot: GuestSnapshot) -> PagingContext {
    var registers = snapshot.registers
    if let cr0 { registers.cr0 = cr0.value }
    if let cr3 { registers.cr3 = cr3.value }
    if let cr4 { registers.cr4 = cr4.value }
    if let efer { registers.efer = efer.value }
    if let rflags { registers.rflags = rflags.value }
    return PagingContext(
      registers: registers, maxPhysicalAddressBits: maxphyaddr ?? snapshot.maxPhysicalAddressBits,
      pkru: UInt32(truncatingIfNeeded: pkru?.value ?? 0))
  }
}

/// `--access read|write|fetch`.
enum AccessKindArgument: String, ExpressibleByArgument, CaseIterable {
  case read, write, fetch

  var kind: Access.Kind {
    switch self {
    case .read: .read
    case .write: .write
    case .fetch: .fetch
    }
  }
}
