import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A one-line progress bar on standard error for a long conformance run:
///
///     [##########..........] 52% 1,003,442/1,930,000 cases 31,200/s ETA 0:29
///
/// It draws only when standard error is a terminal, so CI logs and redirected
/// output get no carriage-return noise; the report itself goes to standard
/// output or a file and is never mixed with it. Several guests report
/// concurrently, so all state is behind a mutex, and redraws are limited to
/// `minimumInterval` so reporting every case costs next to nothing.
public final class ProgressBar: Sendable {
  /// Where a drawn line goes.
  public typealias Writer = @Sendable (String) -> Void
  /// Seconds on a monotonic clock.
  public typealias Clock = @Sendable () -> Double

  public let total: Int
  /// False: the bar draws nothing at all.
  public let isEnabled: Bool
  /// The least time between two redraws (10 per second by default).
  public let minimumInterval: Double
  /// Cells in the bar.
  public static let width = 20

  private let write: Writer
  private let now: Clock
  private let state: Mutex<State>

  private struct State {
    var done = 0
    var start: Double
    var lastDraw: Double?
    var drawn = false
  }

  /// - Parameters:
  ///   - total: the cases the run will perform (skipped ones excluded).
  ///   - isTerminal: whether to draw; defaults to whether standard error is a
  ///     terminal. Tests inject it.
  ///   - write: where lines go; standard error by default.
  ///   - now: the clock; a monotonic one by default.
  public init(
    total: Int, isTerminal: Bool = ProgressBar.standardErrorIsTerminal, minimumInterval: Double = 0.1,
    write: @escaping Writer = ProgressBar.writeToStandardError, now: @escaping Clock = ProgressBar.monotonicSeconds
  ) {
    self.total = max(0, total)
    self.isEnabled = isTerminal
    self.minimumInterval = minimumInterval
    self.write = write
    self.now = now
    self.state = Mutex(State(start: now()))
  }

  /// Records that `done` cases of the whole run are finished. Reports can
  /// arrive out of order from several threads; the count never goes back.
  public func update(done: Int) {
    guard isEnabled else { return }
    state.withLock { state in
      state.done = max(state.done, min(done, total))
      redraw(&state)
    }
  }

  /// Adds `cases` finished cases: for guests that each count only their own.
  public func advance(by cases: Int) {
    guard isEnabled else { return }
    state.withLock { state in
      state.done = min(total, state.done + max(0, cases))
      redraw(&state)
    }
  }

  /// Clears the bar's line so the report (or the next message) starts clean.
  public func finish() {
    guard isEnabled else { return }
    state.withLock { state in
      if state.drawn { write("\r\u{1B}[K") }
      state.drawn = false
    }
  }

  /// Draws if the last draw is old enough, or the run just completed.
  private func redraw(_ state: inout State) {
    let time = now()
    if let last = state.lastDraw, time - last < minimumInterval, state.done < total { return }
    state.lastDraw = time
    state.drawn = true
    write("\r" + Self.line(done: state.done, total: total, elapsed: time - state.start) + "\u{1B}[K")
  }

  /// The bar's text for `done` of `total` cases after `elapsed` seconds.
  public static func line(done: Int, total: Int, elapsed: Double) -> String {
    let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
    let filled = Int(fraction * Double(width))
    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
    let rate = elapsed > 0 ? Double(done) / elapsed : 0
    let eta = rate > 0 ? duration(Double(total - done) / rate) : "--:--"
    return "[\(bar)] \(Int(fraction * 100))% \(ReportNumbers.grouped(done))/\(ReportNumbers.grouped(total)) cases "
      + "\(ReportNumbers.grouped(rate))/s ETA \(eta)"
  }

  /// "0:29", "12:05", "1:02:03".
  static func duration(_ seconds: Double) -> String {
    let whole = seconds.isFinite ? Int(min(seconds.rounded(.up), 359_999)) : 0
    let (hours, minutes, secs) = (whole / 3600, whole / 60 % 60, whole % 60)
    let twoDigits = { (value: Int) in value < 10 ? "0\(value)" : "\(value)" }
    return hours > 0 ? "\(hours):\(twoDigits(minutes)):\(twoDigits(secs))" : "\(minutes):\(twoDigits(secs))"
  }

  /// Whether file descriptor 2 is a terminal.
  public static var standardErrorIsTerminal: Bool { isatty(2) != 0 }

  /// Writes to standard error unbuffered, so each redraw shows at once.
  public static let writeToStandardError: Writer = { FileHandle.standardError.write(Data($0.utf8)) }

  /// Seconds since some fixed point, never going back.
  public static let monotonicSeconds: Clock = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
