import ArgumentParser
import Conformance
import Foundation
import Machine
import Script

extension ValidationPolicy: ExpressibleByArgument {}

/// `mmlab script FILE`: NT calls as data, performed by the guest's Mm.
struct ScriptCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "script",
    abstract: "Run a script of NT virtual-memory calls in the guest and judge every step.",
    discussion: """
      A script is JSON: {"memory": MiB (optional), "steps": [...]}. Each step has "call", its \
      parameters under NT's own names, an optional "expect" (a status name, "0xC0000018", or a \
      list of them) and an optional "save" ({alias: out-parameter}). Numbers are JSON integers, \
      "0x..." hex, sizes ("64KiB", "2MiB") or an alias with an offset ("$r1+0x1000"); flags and \
      protections are NT's names joined by "|" (MEM_COMMIT|MEM_RESERVE, PAGE_READWRITE|PAGE_GUARD) \
      or numbers, so invalid combinations can be passed on purpose.

      Calls: CreateProcess ("as": a name later steps pass as ProcessHandle); \
      NtAllocateVirtualMemory (ProcessHandle, BaseAddress, ZeroBits, RegionSize, AllocationType, \
      Protect -> BaseAddress, RegionSize); NtFreeVirtualMemory (ProcessHandle, BaseAddress, \
      RegionSize, FreeType -> BaseAddress, RegionSize); NtProtectVirtualMemory (ProcessHandle, \
      BaseAddress, RegionSize, NewProtect -> BaseAddress, RegionSize, OldProtect); \
      NtQueryVirtualMemory (ProcessHandle, BaseAddress, MemoryInformationClass \
      MemoryBasicInformation -> BaseAddress, AllocationBase, AllocationProtect, RegionSize, State, \
      Protect, Type); Touch (ProcessHandle, Address, Pages, Access read|write|execute -> \
      FaultAddress, PagesDone); WritePattern and CheckPattern (ProcessHandle, Address, Size, Seed; \
      CheckPattern -> FirstMismatch, STATUS_DATA_ERROR when a byte differs); Checkpoint ("name": the host validates the Mm there).

      The host judges every step: its status against "expect", and for every NT call that may \
      fail (its "expect" admits an error, or it has none) it compares the PFN database and every \
      process's VADs and user-half page-table entries before and after the call: a failed call \
      must change nothing (Touch and the patterns keep what their accesses did before a fault). \
      A script's "memory" wins over --memory. Exits 0 when every step got \
      an acceptable status and nothing was violated, 1 otherwise, 2 for a bad script (the \
      message names the JSON path and why), before any guest boots. The JSON Schema is \
      Sources/Script/Schema/script.schema.json.
      """
  )

  @Argument(help: "The script (JSON).")
  var file: String?

  @Flag(name: .long, help: "Print the script format's JSON Schema and exit.")
  var schema = false

  @Option(
    name: .long,
    help:
      "Print a generated script instead of running one: stress (seeded random calls, each with the status the host's model of the Mm predicts)."
  )
  var generate: String?

  @Option(name: .long, help: "With --generate: the seed.", transform: StrictArgument.number)
  var seed: UInt64 = 1

  @Option(name: .long, help: "With --generate: the number of random calls.", transform: StrictArgument.count)
  var steps: Int = 1000

  @OptionGroup var boot: BootArguments

  @Option(
    name: .customLong("validate"),
    help:
      "checkpoints (at Checkpoint steps, and around NT calls that may fail to compare the state), every-step (after every step too), or checkpoints-only (no comparisons: fastest)."
  )
  var validation: ValidationPolicy = .checkpoints

  @Option(name: .long, help: "Report format: text, json, junit or tap.")
  var format: Conformance.ReportFormat = .text

  @Option(name: .long, help: "Write the report to FILE instead of standard output.")
  var output: String?

  @Flag(name: .long, help: "Let the guest serve test-only calls (for mmlab's own tests).")
  var testHooks = false

  func validate() throws {
    let modes = [file != nil, schema, generate != nil].count { $0 }
    guard modes == 1 else {
      throw ValidationError(
        modes == 0
          ? "name the script to run (or --schema, or --generate stress)"
          : "a script, --schema and --generate are three different things: give one")
    }
    if let generate, generate != "stress" { throw ValidationError("--generate knows one generator: stress") }
    guard (1...1_000_000).contains(steps) else { throw ValidationError("--steps must be from 1 to 1000000") }
    if file != nil, boot.guestMemory == .peek {
      throw ValidationError(
        "--guest-memory peek cannot run a script: the host writes each batch into guest RAM, which peek mode only reads; use file or volume"
      )
    }
  }

  func run() throws {
    if schema { return try Terminal.writeReport(ScriptSchema.text, to: output) }
    if generate != nil {
      return try Terminal.writeReport(StressGenerator(seed: seed, steps: steps).script(), to: output)
    }
    guard let file else { return }
    let script = try Self.load(file, testCalls: testHooks)
    let options = ScriptOptions(boot: try boot.options(), validation: validation, testHooks: testHooks)
    let report = try ScriptRunner(script: script, options: options).run()
    try Terminal.writeReport(
      render(report, name: URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent), to: output)
    if !report.succeeded { throw ExitCode.failure }
  }

  /// The report in the chosen format.
  func render(_ report: ScriptReport, name: String) -> String {
    switch format {
    case .text: report.text
    case .json: report.json
    case .junit: report.junit(name: name)
    case .tap: report.tap()
    }
  }

  /// The checked script in `path`; a bad one exits 2 with its JSON path and why.
  static func load(_ path: String, testCalls: Bool) throws -> Script {
    let data: [UInt8]
    do { data = try InputFile.read(path, limit: 1 << 28) } catch {
      Terminal.note(error.description)
      throw ExitCode(2)
    }
    do {
      return try Script.parse(String(decoding: data, as: UTF8.self), testCalls: testCalls)
    } catch {
      Terminal.note("\(path): \(error)")
      throw ExitCode(2)
    }
  }
}
