import ArgumentParser
import Foundation
import Inspect

/// Options of every command that boots the guest.
struct BootArguments: ParsableArguments {
  @Option(name: .long, help: "Guest kernel ELF (default: the image built with mmlab).")
  var image: String?

  @Option(name: .long, help: "Guest RAM in MiB.")
  var memory: Int = 64

  @Flag(
    name: .long, help: "Log VM creation and every stop on standard error (MMLAB_LOG_LEVEL=trace for every hypercall).")
  var verbose = false

  @Option(
    name: .long, help: "Watchdog in seconds for each leg of the run (boot to a checkpoint, one checkpoint to the next)."
  )
  var timeout: Double = 10

  func validate() throws {
    guard (2...65536).contains(memory) else {
      throw ValidationError("--memory must be between 2 and 65536 MiB (got \(memory))")
    }
    guard timeout > 0, timeout <= 86400 else {
      throw ValidationError("--timeout must be more than 0 and at most 86400 seconds (got \(timeout))")
    }
  }

  /// The boot options, with logging set up first (once per process, as swift-log wants).
  func options(commandLine: [String] = []) -> BootOptions {
    LogSetup.bootstrap(verbose: verbose, environment: ProcessInfo.processInfo.environment)
    return BootOptions(imagePath: image, memoryMiB: memory, timeoutSeconds: timeout, commandLine: commandLine)
  }
}

/// Output formats of reports a person or a program reads.
enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
  case text, json
}
