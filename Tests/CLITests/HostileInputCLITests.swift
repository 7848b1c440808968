import Foundation
import Testing

/// Writes one of mmlab-fuzz's crafted cores (built next to the tests).
func hostileCore(_ kind: String) throws -> String {
  let fuzz = try #require(
    MMLabProcess.executable?.deletingLastPathComponent().appending(path: "mmlab-fuzz"),
    "mmlab-fuzz was not built next to the tests")
  let path = temporaryPath("\(kind).core")
  let process = try Process.run(fuzz, arguments: ["hostile-core", "--kind", kind, "--out", path])
  process.waitUntilExit()
  #expect(process.terminationStatus == 0)
  return path
}

@Suite("Hostile input costs bounded time and memory, with a clear word")
struct HostileInputCLITests {
  @Test(
    "files that are not regular files are refused before they are read, one message per kind",
    arguments: [
      ["pfn", "--core"], ["dump-pagetables", "--core"], ["run", "--image"],
      ["conformance", "--suite", "controls", "--errata"], ["script"],
    ] as [[String]])
  func specialFiles(command: [String]) throws {
    let status: Int32 = command == ["script"] ? 2 : 1  // a script that cannot be read exits 2, as a bad one does
    let fifo = temporaryPath("fifo")
    #expect(mkfifo(fifo, 0o600) == 0)
    defer { unlink(fifo) }
    for (path, words) in [
      (fifo, "is a FIFO (named pipe), not a file"), ("/dev/null", "is a character device, not a file"),
      (NSTemporaryDirectory(), "is a directory, not a file"), ("/nonexistent/core", "no such file"),
    ] {
      let result = try MMLabProcess.run(command + [path])
      #expect(result.status == status, "\(command) \(path): \(result.standardError)")
      #expect(result.standardError.contains(words), "\(command) \(path): \(result.standardError)")
      #expect(!result.standardError.contains("NSCocoaErrorDomain") && !result.standardError.contains("permission"))
    }
  }

  @Test(
    "numbers are read strictly: no sign, no junk, no overflow",
    arguments: [
      ["translate", "0x+1"], ["translate", "+5"], ["translate", "0x"], ["translate", "18446744073709551616"],
      ["pfn", "--pfn", "-1"], ["pfn", "--pfn", "+3"], ["run", "--memory", "+64"], ["run", "--timeout", "1e3"],
      ["dump-pagetables", "--max-leaves", "1_"], ["script", "--generate", "stress", "--seed", "+1"],
    ])
  func strictNumbers(arguments: [String]) throws {
    let result = try MMLabProcess.run(arguments)
    #expect(result.status == 64, "\(arguments): \(result.standardError)")
    #expect(["is invalid", "is not", "Missing value"].contains { result.standardError.contains($0) })
  }

  @Test("sizes and separators that are numbers are accepted")
  func numbersThatAreNumbers() throws {
    let help = try MMLabProcess.run(["script", "--generate", "stress", "--seed", "0x1_0", "--steps", "1_0"])
    #expect(help.status == 0, "\(help.standardError)")
  }

  @Test("a word the guest does not know is refused before the boot")
  func unknownGuestWord() throws {
    for command in [["run"], ["dump-pagetables"], ["dump-core", "--out", temporaryPath("x.core")]] {
      let result = try MMLabProcess.run(command + ["--append", "scenario=nope"])
      #expect(result.status == 64)
      #expect(result.standardError.contains("the guest knows no such word"))
    }
    let number = try MMLabProcess.run(["run", "--append", "mm.zeroed=12x"])
    #expect(number.status == 64 && number.standardError.contains("takes a decimal number"))
  }

  @Test("a runtime error exits 1 with its message and no usage lines")
  func runtimeErrorHasNoUsage() throws {
    let core = try hostileCore("self")
    defer { unlink(core) }
    let result = try MMLabProcess.run(["pfn", "--core", core])
    #expect(result.status == 1)
    #expect(result.standardError.contains("no debug block"))
    #expect(!result.standardError.contains("Usage:"))
  }

  @Test("every PML4 entry pointing at the PML4: one report, a bounded listing, the rest counted exactly")
  func selfReferencingTables() throws {
    let core = try hostileCore("self")
    defer { unlink(core) }
    let json = try MMLabProcess.run([
      "dump-pagetables", "--core", core, "--leaves", "--format", "json", "--max-leaves", "1000",
    ])
    #expect(json.status == 0, "\(json.standardError)")
    let object = try json.json()
    #expect((object["leaves"] as? [Any])?.count == 1000)
    let truncated = try #require((object["truncated"] as? [[String: Any]])?.first)
    #expect(truncated["part"] as? String == "leaves")
    #expect(truncated["unlistedLeaves"] as? Int == (1 << 36) - 1000)
    #expect((object["problems"] as? [String])?.count == 1)
    let text = try MMLabProcess.run(["dump-pagetables", "--core", core, "--leaves", "--max-leaves", "1000"])
    let lines = text.standardOutput.split(separator: "\n")
    #expect(lines.count < 1010)
    #expect(text.standardOutput.contains("more leaves were not listed"))
    // Without --leaves the default limit still bounds the walk, and the ranges say so.
    let ranges = try MMLabProcess.run(["dump-pagetables", "--core", core])
    #expect(ranges.status == 0 && ranges.standardOutput.count < 4096)
    #expect(ranges.standardOutput.contains("stopped at the leaf limit"))
  }

  @Test("one PDPT behind all 512 PML4 entries: 262,144 leaves listed, the shared table named once")
  func sharedTable() throws {
    let core = try hostileCore("shared")
    defer { unlink(core) }
    let json = try MMLabProcess.run(["dump-pagetables", "--core", core, "--leaves", "--format", "json"])
    #expect(json.status == 0)
    let object = try json.json()
    #expect((object["leaves"] as? [Any])?.count == 262_144)
    #expect(object["truncated"] == nil)
    #expect(
      (object["problems"] as? [String]) == [
        "PML4E at 0x1008 (VA 0x8000000000) references 0x2000, a table already reached from another entry"
      ])
    let summary = try #require(object["summary"] as? [String: Any])
    #expect(summary["sharedTables"] as? Int == 1 && summary["repeatedTableReferences"] as? Int == 511)
  }
}

@Suite("Found by the fuzzer")
struct FuzzFoundCLITests {
  @Test("a --timeout past Int's range is refused with a message, not a trap (case 1544 of seed 1)")
  func hugeTimeout() throws {
    let result = try MMLabProcess.run(["run", "--timeout", "18446744073709551616"])
    #expect(result.status == 64)
    #expect(result.standardError.contains("--timeout must be more than 0 and at most 86400 seconds"))
  }
}
