import Foundation
import Testing

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// Writes `text` to a temporary script file and returns its path.
func scriptFile(_ text: String) throws -> String {
  let path = temporaryPath("script.json")
  try Data(text.utf8).write(to: URL(filePath: path))
  return path
}

@Suite("mmlab script: bad scripts exit 2, before any guest boots")
struct ScriptCLIInputTests {
  @Test(
    "each bad script names its JSON path and why",
    arguments: [
      (
        #"{"steps": [{"call": "CreateProcess", "as": "A"}, {"call": "NtProtectVirtualMemory", "ProcessHandle": "A", "BaseAddress": 0, "RegionSize": 1, "NewProtect": "PAGE_RW"}]}"#,
        #"steps[1].NewProtect: unknown protection "PAGE_RW""#
      ),
      (
        #"{"steps": [{"call": "CreateProcess", "as": "A"}, {"call": "Touch", "ProcessHandle": "A", "Address": "$base", "Pages": 1, "Access": "read"}]}"#,
        #"steps[1].Address: unknown alias "$base""#
      ),
      (#"{"steps": [{"call": "NtCreateTimer"}]}"#, #"steps[0].call: unknown call "NtCreateTimer""#),
      (#"{"steps": [{"call": "CreateProcess"}]}"#, "steps[0].as: missing"),
      (#"{"steps": [{"call": "TestChangeThenFail", "ProcessHandle": 4}]}"#, #"unknown call "TestChangeThenFail""#),
      ("{", "not valid JSON"),
    ])
  func badScript(_ text: String, _ message: String) throws {
    let path = try scriptFile(text)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let started = Date()
    let result = try MMLabProcess.run(["script", path])
    #expect(result.status == 2, "\(result.standardError)")
    #expect(result.standardError.contains(message), "\(result.standardError)")
    #expect(result.standardOutput.isEmpty, "no report, no guest")
    #expect(Date().timeIntervalSince(started) < 30)
  }

  @Test("a missing file, and modes given together, are refused")
  func badInvocation() throws {
    #expect(try MMLabProcess.run(["script", "/nonexistent.json"]).status == 2)
    #expect(try MMLabProcess.run(["script"]).status != 0)
    #expect(try MMLabProcess.run(["script", "--schema", "--generate", "stress"]).status != 0)
    #expect(try MMLabProcess.run(["script", "--generate", "chaos"]).standardError.contains("stress"))
    let peek = try MMLabProcess.run(
      ["script", ScriptSnapshotCLITests.vmBasics, "--backend", "libvirt", "--guest-memory", "peek"])
    #expect(peek.status != 0)
    #expect(peek.standardError.contains("peek cannot run a script"), "\(peek.standardError)")
  }

  @Test("--schema prints the shipped schema, --generate a script that reads back")
  func schemaAndGenerate() throws {
    let schema = try MMLabProcess.run(["script", "--schema"])
    #expect(schema.status == 0)
    let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("../../Sources/Script/Schema/script.schema.json")
    #expect(schema.standardOutput == (try String(contentsOf: shipped, encoding: .utf8)))
    let generated = try MMLabProcess.run(["script", "--generate", "stress", "--seed", "5", "--steps", "50"])
    #expect(generated.status == 0)
    #expect(generated.standardOutput.contains(#""call": "CreateProcess", "as": "P0""#))
    let again = try MMLabProcess.run(["script", "--generate", "stress", "--seed", "5", "--steps", "50"])
    #expect(again.standardOutput == generated.standardOutput)
  }
}

@Suite("mmlab script on the real guest", .enabled(if: BootingCLITests.enabled, "/dev/kvm is not usable here"))
struct ScriptCLIBootingTests {
  @Test("a passing script exits 0 and its JUnit report parses; a failing one exits 1")
  func runs() throws {
    let good = try scriptFile(
      """
      {"steps": [{"call": "CreateProcess", "as": "A"},
        {"call": "NtAllocateVirtualMemory", "ProcessHandle": "A", "BaseAddress": 0, "ZeroBits": 0,
         "RegionSize": "64KiB", "AllocationType": "MEM_RESERVE|MEM_COMMIT", "Protect": "PAGE_READWRITE",
         "expect": "STATUS_SUCCESS", "save": {"r": "BaseAddress"}},
        {"call": "Touch", "ProcessHandle": "A", "Address": "$r", "Pages": 2, "Access": "write", "expect": "STATUS_SUCCESS"},
        {"call": "Checkpoint", "name": "done"}]}
      """)
    defer { try? FileManager.default.removeItem(atPath: good) }
    let text = try MMLabProcess.run(["script", good])
    #expect(text.status == 0, "\(text.standardOutput)\(text.standardError)")
    #expect(text.standardOutput.contains("script: 4 steps, 3 passed, 0 failed, 1 reported"))
    let junit = try MMLabProcess.run(["script", good, "--format", "junit"])
    #expect(junit.status == 0)
    #expect(XMLParser(data: Data(junit.standardOutput.utf8)).parse())
    let bad = try scriptFile(
      #"{"steps": [{"call": "CreateProcess", "as": "A", "expect": "STATUS_NO_MEMORY"}]}"#)
    defer { try? FileManager.default.removeItem(atPath: bad) }
    let failed = try MMLabProcess.run(["script", bad, "--format", "json"])
    #expect(failed.status == 1)
    let json = try failed.json()
    #expect(json["failed"] as? Int == 1)
    #expect(json["succeeded"] as? Bool == false)
  }
}

@Suite(
  "Inspection commands on a script's checkpoint", .enabled(if: BootingCLITests.enabled, "/dev/kvm is not usable here"))
struct ScriptSnapshotCLITests {
  static let vmBasics = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../Images/scripts/vm-basics.json").path

  @Test("pfn --script stops at the named Checkpoint: the committed range and its touched pages are there")
  func pfnAtCheckpoint() throws {
    let result = try MMLabProcess.run(["pfn", "--script", Self.vmBasics, "--checkpoint", "vm-touched"])
    #expect(result.status == 0, "\(result.standardError)")
    #expect(result.standardOutput.hasPrefix(#"# checkpoint "vm-touched""#))
    #expect(result.standardOutput.contains("VAD 0x10000-0x110000 protection 0x4 private, 128 pages committed"))
  }

  @Test("a Checkpoint the script lacks, or --script without --checkpoint, is refused")
  func badCheckpoint() throws {
    let missing = try MMLabProcess.run(["pfn", "--script", Self.vmBasics, "--checkpoint", "nope"])
    #expect(missing.status != 0)
    #expect(missing.standardError.contains(#"no Checkpoint named "nope""#))
    let bare = try MMLabProcess.run(["dump-pagetables", "--script", Self.vmBasics])
    #expect(bare.status != 0)
    #expect(bare.standardError.contains("--script needs --checkpoint"))
  }
}
