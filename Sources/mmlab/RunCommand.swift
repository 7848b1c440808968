import ArgumentParser
import Foundation
import Inspect

/// `mmlab run`: boot, stream the console, exit with the guest's status.
struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Boot the guest, stream its console, and exit with the guest's status.",
    discussion: "Checkpoints are passed through. A guest exception is reported on standard error."
  )

  @OptionGroup var boot: BootArguments

  @Option(name: .customLong("append"), help: "A word for the guest's command line (repeatable), e.g. bench.map.")
  var commandLine: [String] = []

  func validate() throws { try GuestWords.validate(commandLine) }

  func run() throws {
    let session = try Session(options: boot.options(commandLine: commandLine), console: Terminal.writeConsole)
    Terminal.note("platform: \(session.machine.platform)")
    let outcome = try session.runToExit()
    if let exception = outcome.exception { Terminal.note("guest exception: \(exception.summary)") }
    throw ExitCode(Int32(outcome.status))
  }
}
