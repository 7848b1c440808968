import ArgumentParser
import Fuzzing
import Machine

/// `mmlab-fuzz`: hostile inputs for mmlab, and the campaign `make fuzz` runs.
@main
struct FuzzMain: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "mmlab-fuzz",
    abstract: "Feed mmlab hostile inputs and check that each costs bounded time, memory and output.",
    subcommands: [RunCampaign.self, WorkerCommand.self, HostileCoreCommand.self]
  )
}

/// `mmlab-fuzz hostile-core`: one of the crafted page-table cores, for trying mmlab by hand.
struct HostileCoreCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "hostile-core",
    abstract: "Write a 4 MiB core whose page tables are built to make a walker work.",
    discussion: """
      self: every PML4 entry points at the PML4 (512^4 leaves through the recursion). \
      shared: one PDPT behind all 512 PML4 entries, full of 1 GiB pages (262,144 leaves). \
      random: a random graph of tables from --seed.
      """
  )

  enum Kind: String, ExpressibleByArgument, CaseIterable { case `self`, shared, random }

  @Option(name: .long, help: "self, shared or random.") var kind: Kind
  @Option(name: .long, help: "Seed of the random graph.") var seed: UInt64 = 1
  @Option(name: .long, help: "Where to write the core.") var out: String

  func run() throws {
    let ram = FuzzRAM(size: 4 << 20)
    switch kind {
    case .self: HostileTables.selfReferencing(ram)
    case .shared: HostileTables.sharedPDPTOfGigabytePages(ram)
    case .random: HostileTables.randomGraph(ram, seed: seed)
    }
    try CoreFile.write(memory: ram.memory, registers: HostileTables.registers(), to: out)
  }
}

/// `mmlab-fuzz run`: the campaign.
struct RunCampaign: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Run a campaign of hostile inputs against mmlab; save every failing input with its command.",
    discussion: """
      Seeds come from --seeds: cores written by `mmlab dump-core` of the shipped scenarios \
      (*.core), the guest image (guest.elf) and the errata (errata.json); `make fuzz` makes them. \
      Case N of --seed S is always the same input. Readers' cases run in a worker process with a \
      watchdog; command lines run mmlab, one process per case. Exits 1 if any case failed.
      """
  )

  @Option(name: .long, help: "Folder of seeds.") var seeds: String
  @Option(name: .long, help: "The mmlab binary.") var mmlab: String
  @Option(name: .long, help: "Cases to run.") var cases = 100_000
  @Option(name: .long, help: "Campaign seed.") var seed: UInt64 = 1
  @Option(name: .long, help: "Where failing inputs go.") var failures = ".build/fuzz-failures"
  @Option(name: .long, help: "Scratch folder.") var work = ".build/fuzz-work"

  func run() throws {
    let campaign = FuzzCampaign(seed: seed, seeds: try FuzzSeeds.load(folder: seeds))
    let me = CommandLine.arguments[0]
    var runner = FuzzRunner(
      mmlab: mmlab, worker: [me, "worker", "--seeds", seeds, "--seed", String(seed)], campaign: campaign,
      cases: cases, failures: failures, work: work)
    runner.progress = { print("mmlab-fuzz: \($0)") }
    let summary = runner.run()
    print(summary.text, terminator: "")
    if !summary.failures.isEmpty { throw ExitCode.failure }
  }
}

/// `mmlab-fuzz worker`: runs the readers' cases of a range in this process (the runner's half).
struct WorkerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "worker",
    abstract: "Run cases FROM..<TO in this process, logging each (used by run; also reproduces a case).")

  @Option(name: .long) var seeds: String
  @Option(name: .long) var seed: UInt64 = 1
  @Option(name: .long) var from: Int
  @Option(name: .long) var to: Int
  @Option(name: .long, help: "Progress log (start/done/fail per case).") var log = "/dev/stdout"

  func run() throws {
    let campaign = FuzzCampaign(seed: seed, seeds: try FuzzSeeds.load(folder: seeds))
    FuzzWorker.run(campaign: campaign, range: from..<max(from, to), log: log)
  }
}
