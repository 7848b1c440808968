import Inspect

/// The guest `mmlab bench` measures its validation figure on: the generated
/// stress script, with resident heaps, run to its last Checkpoint in a guest
/// whose boot pass stocked the zeroed list.
public enum BenchValidationGuest {
  /// The script the guest runs, in a guest of `memoryMiB`.
  public static func script(memoryMiB: Int) -> String {
    StressGenerator(
      seed: BenchmarkReport.validationStressSeed, steps: BenchmarkReport.validationStressSteps,
      residentPages: BenchmarkReport.validationResidentPages, memoryMiB: memoryMiB
    ).script()
  }

  /// Boots `options` (its RAM as given) and runs the script to its end, the
  /// guest kept stopped there. Only the Checkpoint steps stop: the fastest run.
  public static func boot(_ options: BootOptions) throws -> GuestSnapshot {
    var boot = options
    boot.commandLine += BenchmarkReport.validationCommandLine(memoryMiB: options.memoryMiB)
    boot.timeoutSeconds = max(boot.timeoutSeconds, 120)
    return try ScriptRunner(
      script: try Script.parse(script(memoryMiB: options.memoryMiB)),
      options: ScriptOptions(boot: boot, validation: .checkpointsOnly)
    ).snapshot(atCheckpoint: BenchmarkReport.validationCheckpoint)
  }
}
