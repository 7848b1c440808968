import Foundation

/// One run of a program as a child process, watched: its output is counted (the first
/// bytes kept), it is killed past a wall time or an output size, and its peak memory is
/// read from wait4's rusage.
public struct ChildProcess {
  public struct Result: Sendable {
    public var exitStatus: Int32?
    public var signal: Int32?
    public var outputBytes: Int
    public var standardError: String
    public var outputHead: String
    public var milliseconds: Double
    public var peakResidentBytes: Int
    /// Why the watcher killed it, if it did.
    public var killedFor: String?
  }

  public static func run(_ arguments: [String], seconds: Double, outputLimit: Int) -> Result {
    var outPipe: [Int32] = [0, 0]
    var errPipe: [Int32] = [0, 0]
    guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { preconditionFailure("ChildProcess.run: pipe failed") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
    posix_spawn_file_actions_addclose(&actions, outPipe[0])
    posix_spawn_file_actions_addclose(&actions, errPipe[0])
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    let cArguments = arguments.map { strdup($0) } + [nil]
    defer { cArguments.forEach { free($0) } }
    var pid: pid_t = 0
    let start = ContinuousClock.now
    let spawned = posix_spawn(&pid, arguments[0], &actions, nil, cArguments, environ)
    close(outPipe[1])
    close(errPipe[1])
    defer {
      close(outPipe[0])
      close(errPipe[0])
    }
    guard spawned == 0 else {
      return Result(
        exitStatus: nil, signal: nil, outputBytes: 0,
        standardError: "spawn failed: \(String(cString: strerror(spawned)))",
        outputHead: "", milliseconds: 0, peakResidentBytes: 0, killedFor: "spawn")
    }
    var outputBytes = 0
    var head: [UInt8] = []
    var errors: [UInt8] = []
    var killedFor: String?
    var open = [outPipe[0], errPipe[0]]
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while !open.isEmpty {
      let elapsed = ContinuousClock.now - start
      let left = seconds - Double(elapsed.components.seconds) - Double(elapsed.components.attoseconds) / 1e18
      if left <= 0 || outputBytes > outputLimit {
        killedFor = left <= 0 ? "ran past \(seconds) s" : "wrote more than \(outputLimit) bytes"
        kill(pid, SIGKILL)
        break
      }
      var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
      let ready = poll(&fds, nfds_t(fds.count), Int32(min(left, 1) * 1000) + 1)
      if ready < 0, errno == EINTR { continue }
      for entry in fds where entry.revents != 0 {
        let count = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
        if count <= 0 {
          open.removeAll { $0 == entry.fd }
          continue
        }
        if entry.fd == outPipe[0] {
          outputBytes += count
          if head.count < 2048 { head += buffer[0..<min(count, 2048 - head.count)] }
        } else if errors.count < 8192 {
          errors += buffer[0..<min(count, 8192 - errors.count)]
        }
      }
    }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let elapsed = ContinuousClock.now - start
    let exited = status & 0x7F == 0
    return Result(
      exitStatus: exited ? (status >> 8) & 0xFF : nil, signal: exited ? nil : status & 0x7F,
      outputBytes: outputBytes, standardError: String(decoding: errors, as: UTF8.self),
      outputHead: String(decoding: head, as: UTF8.self),
      milliseconds: Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15,
      peakResidentBytes: usage.ru_maxrss * 1024, killedFor: killedFor)
  }
}
