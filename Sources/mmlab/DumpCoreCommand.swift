import ArgumentParser
import Inspect
import Machine
import Script

/// `mmlab dump-core`: an ELF64 core of guest physical memory.
struct DumpCoreCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dump-core",
    abstract: "Boot the guest to a checkpoint and write an ELF64 core of its physical memory.",
    discussion: """
      The core is laid out like QEMU's `dump-guest-memory`: one PT_LOAD per RAM range with \
      p_paddr = the guest physical address, and notes carrying the registers (NT_PRSTATUS, \
      QEMU's CPU state, and mmlab's own with EFER). `dump-pagetables --core` and \
      `translate --core` read it back; so do gdb and crash-style tools.
      """
  )

  @OptionGroup var boot: BootArguments

  @Option(name: .long, help: "The core file to write.")
  var out: String

  @Option(name: .long, help: "Stop at this checkpoint (name or code); default: the first one.")
  var checkpoint: String?

  @Option(name: .customLong("append"), help: "A word for the guest's command line (repeatable).")
  var commandLine: [String] = []

  @Option(name: .long, help: "Run this script and write the core at its Checkpoint step named by --checkpoint.")
  var script: String?

  func validate() throws {
    try GuestWords.validate(commandLine)
    if script != nil, !commandLine.isEmpty { throw ValidationError("--script boots its own guest: no --append") }
    if script != nil, checkpoint == nil {
      throw ValidationError("--script needs --checkpoint NAME: the Checkpoint step to write the core at")
    }
  }

  func run() throws {
    let snapshot: GuestSnapshot
    if let script, let checkpoint {
      let checked = try ScriptCommand.load(script, testCalls: false)
      snapshot = try ScriptRunner(script: checked, options: ScriptOptions(boot: boot.options()))
        .snapshot(atCheckpoint: checkpoint)
    } else {
      snapshot = try GuestSnapshot.boot(boot.options(commandLine: commandLine), checkpoint: checkpoint)
    }
    try CoreFile.write(
      memory: snapshot.memory, registers: snapshot.registers, debugBlockAddress: snapshot.debugBlockAddress, to: out)
    Terminal.note("wrote \(out): \(snapshot.memory.size >> 20) MiB of guest memory at \(snapshot.source)")
  }
}
