import ArgumentParser
import Inspect
import Script

/// Where a read-only command gets guest state: a live guest at a checkpoint, or a core file.
struct SnapshotArguments: ParsableArguments {
  @OptionGroup var boot: BootArguments

  @Option(name: .long, help: "Stop at this checkpoint (name or code); default: the first one the guest reaches.")
  var checkpoint: String?

  @Option(
    name: .long, help: "Read a core file (from `mmlab dump-core` or QEMU's dump-guest-memory) instead of booting.")
  var core: String?

  @Option(name: .customLong("append"), help: "A word for the guest's command line (repeatable), e.g. bench.map.")
  var commandLine: [String] = []

  @Option(
    name: .long,
    help:
      "Run this script (see `mmlab script --help`) and inspect the guest at its Checkpoint step named by --checkpoint.")
  var script: String?

  func validate() throws {
    try GuestWords.validate(commandLine)
    if script != nil, core != nil || !commandLine.isEmpty {
      throw ValidationError("--script boots its own guest: it goes with neither --core nor --append")
    }
    if script != nil, checkpoint == nil {
      throw ValidationError("--script needs --checkpoint NAME: the Checkpoint step to inspect the guest at")
    }
    if core != nil, checkpoint != nil {
      throw ValidationError("--checkpoint and --core exclude each other: a core file has no checkpoints")
    }
    if core != nil, !commandLine.isEmpty {
      throw ValidationError("--append boots the guest; it means nothing with --core")
    }
  }

  /// Disk 0's FAT volume for `snapshot`: the live guest's, else the first --disk image
  /// (with --core); nil when there is none the host's reader can open.
  func volume(for snapshot: GuestSnapshot) -> FatImage? {
    snapshot.volume ?? boot.disk.first.flatMap(DiskNames.path).flatMap { try? FatImage(path: $0) }
  }

  /// The snapshot, with a note on standard error saying where it came from.
  func snapshot(maxPhysicalAddressBits: Int? = nil) throws -> GuestSnapshot {
    if let core {
      let snapshot = try GuestSnapshot.core(path: core, maxPhysicalAddressBits: maxPhysicalAddressBits ?? 48)
      snapshot.assumptions.forEach(Terminal.note)
      return snapshot
    }
    if let script, let checkpoint {
      let checked = try ScriptCommand.load(script, testCalls: false)
      return try ScriptRunner(script: checked, options: ScriptOptions(boot: boot.options()))
        .snapshot(atCheckpoint: checkpoint)
    }
    return try GuestSnapshot.boot(boot.options(commandLine: commandLine), checkpoint: checkpoint)
  }
}
