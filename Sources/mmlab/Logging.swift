import Logging
import Synchronization

/// Sends swift-log's output to standard error: warnings by default, debug with
/// --verbose (VM creation, every stop), or the level MMLAB_LOG_LEVEL names.
enum LogSetup {
  private static let done = Atomic(false)

  /// Sets the process's log handler; later calls do nothing (swift-log allows one bootstrap).
  static func bootstrap(verbose: Bool, environment: [String: String]) {
    guard !done.exchange(true, ordering: .relaxed) else { return }
    let level = environment["MMLAB_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? (verbose ? .debug : .warning)
    LoggingSystem.bootstrap { label in
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = level
      return handler
    }
  }
}
