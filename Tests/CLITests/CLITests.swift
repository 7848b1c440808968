import Foundation
import GuestABI
import Testing

/// Runs the built `mmlab` binary, as a user would.
struct MMLabProcess {
  var status: Int32
  var standardOutput: String
  var standardError: String

  /// The mmlab executable next to this test bundle (SwiftPM builds both into one folder).
  static let executable: URL? = {
    var directory = URL(filePath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<3 {
      let candidate = directory.appending(path: "mmlab")
      if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
      directory = directory.deletingLastPathComponent()
    }
    return nil
  }()

  static func run(_ arguments: [String]) throws -> MMLabProcess {
    let process = Process()
    process.executableURL = try #require(executable, "the mmlab executable was not built next to the tests")
    process.arguments = arguments
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    let outData = output.fileHandleForReading.readDataToEndOfFile()
    let errData = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return MMLabProcess(
      status: process.terminationStatus, standardOutput: String(decoding: outData, as: UTF8.self),
      standardError: String(decoding: errData, as: UTF8.self))
  }

  func json() throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(standardOutput.utf8))
    return try #require(object as? [String: Any], "not a JSON object: \(standardOutput.prefix(200))")
  }
}

func temporaryPath(_ name: String) -> String {
  FileManager.default.temporaryDirectory.appending(path: "mmlab-cli-\(UUID().uuidString)-\(name)").path
}

@Suite("mmlab without booting: help and bad input")
struct CLIInputTests {
  @Test("the root command lists every subcommand")
  func helpListsSubcommands() throws {
    let result = try MMLabProcess.run(["--help"])
    #expect(result.status == 0)
    for command in ["run", "dump-pagetables", "translate", "dump-core", "bench"] {
      #expect(result.standardOutput.contains(command), "\(command) missing from --help")
    }
  }

  @Test("a missing image is a clear error with a non-zero exit")
  func missingImage() throws {
    let result = try MMLabProcess.run(["run", "--image", "/nonexistent/guest.elf"])
    #expect(result.status != 0)
    #expect(result.standardError.contains("/nonexistent/guest.elf: no such file"))
  }

  @Test("a file that is not ELF is refused by name")
  func notAnELF() throws {
    let path = temporaryPath("text.elf")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try "just text, not a kernel\n".write(toFile: path, atomically: true, encoding: .utf8)
    let result = try MMLabProcess.run(["run", "--image", path])
    #expect(result.status != 0)
    #expect(result.standardError.lowercased().contains("not an elf"))
  }

  @Test("out-of-range and contradictory options are usage errors")
  func badOptions() throws {
    let memory = try MMLabProcess.run(["run", "--memory", "0"])
    #expect(memory.status == 64)
    #expect(memory.standardError.contains("--memory"))
    let timeout = try MMLabProcess.run(["dump-pagetables", "--timeout", "-1"])
    #expect(timeout.status == 64)
    let both = try MMLabProcess.run(["dump-pagetables", "--core", "/tmp/x", "--checkpoint", "booted"])
    #expect(both.status == 64)
    #expect(both.standardError.contains("exclude each other"))
    let address = try MMLabProcess.run(["translate", "not-a-number"])
    #expect(address.status == 64)
    let access = try MMLabProcess.run(["translate", "0x1000", "--access", "execute"])
    #expect(access.status == 64)
    let scenario = try MMLabProcess.run(["validate", "--scenario", "no-such-scenario"])
    #expect(scenario.status == 64)
    #expect(scenario.standardError.contains("process-smoke"), "the message lists the known scenarios")
  }

  @Test("a truncated or foreign core file is refused, not walked")
  func badCoreFiles() throws {
    let truncated = temporaryPath("truncated.core")
    defer { try? FileManager.default.removeItem(atPath: truncated) }
    // An ELF64 header claiming program headers that are not there.
    var header = [UInt8](repeating: 0, count: 64)
    header[0...3] = [0x7F, 0x45, 0x4C, 0x46]
    header[4] = 2
    header[5] = 1
    header[6] = 1
    header[16] = 4  // ET_CORE
    header[18] = 62  // EM_X86_64
    header[32] = 64  // e_phoff
    header[54] = 56  // e_phentsize
    header[56] = 3  // e_phnum
    FileManager.default.createFile(atPath: truncated, contents: Data(header))
    let result = try MMLabProcess.run(["dump-pagetables", "--core", truncated])
    #expect(result.status != 0)
    #expect(result.standardError.contains("truncated"))
    let missing = try MMLabProcess.run(["translate", "0x1000", "--core", "/nonexistent/core"])
    #expect(missing.status != 0)
    #expect(!missing.standardError.isEmpty)
  }
}

enum BootingCLITests {
  static let enabled =
    ProcessInfo.processInfo.environment["MMLAB_REQUIRE_KVM"] == "1"
    || (FileManager.default.isReadableFile(atPath: "/dev/kvm")
      && FileManager.default.isWritableFile(atPath: "/dev/kvm"))
}

@Suite("mmlab on the real guest", .enabled(if: BootingCLITests.enabled, "/dev/kvm is not usable here"))
struct CLIBootingTests {
  static let vmBasics = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../Images/scripts/vm-basics.json").path

  @Test("run streams the console and exits with the guest's status")
  func runExitsWithGuestStatus() throws {
    let ok = try MMLabProcess.run(["run"])
    #expect(ok.status == 0)
    #expect(ok.standardOutput.contains("mmlab guest: up"))
    #expect(ok.standardError.contains("platform:"))
    let crash = try MMLabProcess.run(["run", "--append", "selftest.ud2"])
    #expect(crash.status == Int32(GuestExitStatus.unexpectedException.rawValue))
    #expect(crash.standardError.contains("#UD"))
  }

  @Test("dump-pagetables --format json has the documented shape")
  func dumpJSON() throws {
    let result = try MMLabProcess.run(["dump-pagetables", "--format", "json", "--leaves"])
    #expect(result.status == 0)
    let json = try result.json()
    #expect(json["mode"] as? String == "4-level")
    #expect((json["cr3"] as? String)?.hasPrefix("0x") == true)
    let ranges = try #require(json["ranges"] as? [[String: Any]])
    #expect(!ranges.isEmpty)
    for range in ranges {
      #expect((range["start"] as? String)?.hasPrefix("0x") == true)
      #expect((range["end"] as? String)?.hasPrefix("0x") == true)
      #expect(range["pageSize"] is Int)
      #expect(range["user"] is Bool && range["writable"] is Bool && range["executable"] is Bool)
    }
    // Kernel text is executable and read-only; nothing is both writable and executable.
    #expect(ranges.contains { ($0["executable"] as? Bool) == true && ($0["writable"] as? Bool) == false })
    #expect(!ranges.contains { ($0["executable"] as? Bool) == true && ($0["writable"] as? Bool) == true })
    let leaves = try #require(json["leaves"] as? [[String: Any]])
    #expect(leaves.count > 100)
    #expect(leaves.allSatisfy { ($0["va"] as? String)?.hasPrefix("0x") == true && $0["flags"] is String })
    #expect((json["platform"] as? [String: Any])?["hypervisor"] is String)
  }

  @Test("translate reports the exact #PF error code, #GP for non-canonical, and honours register overrides")
  func translateJSON() throws {
    let text = String(KernelLayout.virtualBase + 0x5000, radix: 16)
    let write = try MMLabProcess.run(["translate", "0x" + text, "--access", "write", "--format", "json"])
    #expect(write.status == 0)
    let fault = try write.json()
    #expect(fault["fault"] as? Bool == true)
    #expect(fault["vector"] as? Int == 14)
    #expect(fault["errorCode"] as? String == "0x3")
    #expect((fault["levels"] as? [[String: Any]])?.count == 4)

    let read = try MMLabProcess.run(["translate", "0x" + text, "--format", "json"])
    let mapped = try read.json()
    #expect(mapped["fault"] as? Bool == false)
    #expect(mapped["physicalAddress"] as? String == "0x" + String(KernelLayout.physicalBase + 0x5000, radix: 16))
    #expect(mapped["pageSize"] as? Int == 4096)
    #expect((mapped["accessedSet"] as? [String])?.count == 4)

    let nonCanonical = try MMLabProcess.run(["translate", "0x800000000000", "--format", "json"]).json()
    #expect(nonCanonical["vector"] as? Int == 13)

    // Kernel data is NX; with EFER.NXE cleared bit 63 is reserved: P | RSVD.
    let data = "0x" + String(KernelLayout.directMapBase, radix: 16)
    let reserved = try MMLabProcess.run(["translate", data, "--efer", "0x500", "--format", "json"]).json()
    #expect(reserved["errorCode"] as? String == "0x9")
  }

  @Test("dump-core writes a core that dump-pagetables reads back to the same ranges")
  func coreRoundTrip() throws {
    let core = temporaryPath("guest.core")
    defer { try? FileManager.default.removeItem(atPath: core) }
    let written = try MMLabProcess.run(["dump-core", "--out", core])
    #expect(written.status == 0, "\(written.standardError)")
    let fromCore = try MMLabProcess.run(["dump-pagetables", "--core", core, "--format", "json"]).json()
    let live = try MMLabProcess.run(["dump-pagetables", "--format", "json"]).json()
    let coreRanges = try #require(fromCore["ranges"] as? [[String: Any]])
    let liveRanges = try #require(live["ranges"] as? [[String: Any]])
    #expect(coreRanges.map { $0["start"] as? String } == liveRanges.map { $0["start"] as? String })
    #expect(coreRanges.map { $0["end"] as? String } == liveRanges.map { $0["end"] as? String })
    #expect(fromCore["cr3"] as? String == live["cr3"] as? String)
  }

  @Test("validate passes a clean scenario and lists its checkpoints")
  func validateScenario() throws {
    let clean = try MMLabProcess.run(["validate", "--scenario", "guard-pages", "--format", "json"])
    #expect(clean.status == 0, "\(clean.standardError)")
    let json = try clean.json()
    #expect(json["succeeded"] as? Bool == true)
    let names = (json["steps"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
    #expect(names == ["guard-pages"])
  }

  @Test("pfn: totals as JSON, one page in detail, and an SVG map with a legend")
  func pfnReports() throws {
    let totals = try MMLabProcess.run(["pfn", "--format", "json"]).json()
    let count = try #require(totals["pfnCount"] as? Int)
    #expect(count == (64 << 20) >> 12)
    let lists = try #require(totals["lists"] as? [String: Any])
    #expect((lists["free"] as? Int ?? 0) > 10_000)
    let detail = try MMLabProcess.run(["pfn", "--pfn", "300"])
    #expect(detail.status == 0)
    #expect(detail.standardOutput.contains("PFN 300"))
    let outside = try MMLabProcess.run(["pfn", "--pfn", "99999999"])
    #expect(outside.status != 0)
    #expect(outside.standardError.contains("outside the database"))
    let path = temporaryPath("map.svg")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let svg = try MMLabProcess.run(["pfn", "--format", "svg", "--output", path])
    #expect(svg.status == 0)
    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text.hasPrefix("<svg"))
    #expect(text.contains("free: "))
    #expect(text.contains("kernel image: "))
  }

  @Test("pfn and the decoded dump read a core file as they read the live guest")
  func coreFileInspection() throws {
    let core = temporaryPath("mm.core")
    defer { try? FileManager.default.removeItem(atPath: core) }
    let written = try MMLabProcess.run([
      "dump-core", "--out", core, "--script", Self.vmBasics, "--checkpoint", "vm-touched",
    ])
    #expect(written.status == 0, "\(written.standardError)")
    let live = try MMLabProcess.run([
      "pfn", "--format", "json", "--script", Self.vmBasics, "--checkpoint", "vm-touched",
    ]).json()
    let fromCore = try MMLabProcess.run(["pfn", "--core", core, "--format", "json"]).json()
    #expect(fromCore["lists"] as? [String: Int] == live["lists"] as? [String: Int])
    #expect((fromCore["processes"] as? [[String: Any]])?.count == 1)
    let dump = try MMLabProcess.run(["dump-pagetables", "--core", core, "--software", "--format", "json"]).json()
    let entries = try #require(dump["softwareEntries"] as? [[String: Any]])
    // vm-basics commits 128 pages and touches 64: 64 demand-zero PTEs, read-write.
    let demandZero = entries.filter { ($0["kind"] as? String) == "demandZero" }
    #expect(demandZero.count == 64, "\(entries.prefix(3))")
    #expect(demandZero.allSatisfy { ($0["protection"] as? String) == "readWrite" })
    #expect(dump["zeroEntries"] != nil)
  }
}
