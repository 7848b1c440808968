import GuestABI
import Testing

@testable import Script

/// The script format: the issue's example reads as written, every value form
/// means what the README says, and every bad script names its JSON path.
@Suite("Reading scripts")
struct ScriptParseTests {
  static let example = """
    {"memory": 64,
     "steps": [
       {"call": "CreateProcess", "as": "A"},
       {"call": "NtAllocateVirtualMemory", "ProcessHandle": "A", "BaseAddress": 0, "ZeroBits": 0,
        "RegionSize": "1MiB", "AllocationType": "MEM_RESERVE|MEM_COMMIT", "Protect": "PAGE_READWRITE",
        "expect": "STATUS_SUCCESS", "save": {"r1": "BaseAddress"}},
       {"call": "Touch", "ProcessHandle": "A", "Address": "$r1+0x1000", "Pages": 4, "Access": "write"},
       {"call": "Checkpoint", "name": "after-touch"}]}
    """

  @Test("the issue's example reads as written")
  func example() throws {
    let script = try Script.parse(Self.example)
    #expect(script.memoryMiB == 64)
    #expect(script.aliases == ["A", "r1"])
    #expect(script.steps.map(\.spec.name) == ["CreateProcess", "NtAllocateVirtualMemory", "Touch", "Checkpoint"])
    let allocate = script.steps[1]
    #expect(
      allocate.operands == [
        .alias(name: "A", slot: 1, offset: 0), .immediate(0), .immediate(0), .immediate(1 << 20),
        .immediate(0x3000), .immediate(0x04),
      ])
    #expect(allocate.expect == [0])
    #expect(allocate.saves.map(\.output) == [0] && allocate.saves.map(\.slot) == [2])
    #expect(script.steps[0].saves.map(\.slot) == [1])
    #expect(
      script.steps[2].operands == [
        .alias(name: "A", slot: 1, offset: 0), .alias(name: "r1", slot: 2, offset: 0x1000), .immediate(4),
        .immediate(1),
      ])
    #expect(script.steps[3].checkpointName == "after-touch")
    #expect(!allocate.mayFail && script.steps[2].mayFail)
  }

  /// One NtAllocateVirtualMemory step with `field` set to `value` (JSON text).
  static func allocate(_ field: String, _ value: String, extra: String = "") -> String {
    var fields = [
      "ProcessHandle": #""A""#, "BaseAddress": "0", "ZeroBits": "0", "RegionSize": #""64KiB""#,
      "AllocationType": #""MEM_COMMIT|MEM_RESERVE""#, "Protect": #""PAGE_READWRITE""#,
    ]
    fields[field] = value
    let body = fields.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ")
    return """
      {"steps": [{"call": "CreateProcess", "as": "A"},
                 {"call": "NtAllocateVirtualMemory", \(body)\(extra)}]}
      """
  }

  static func operand(_ field: String, _ value: String) throws -> Operand {
    let script = try Script.parse(allocate(field, value))
    let index = CallSpec.named("NtAllocateVirtualMemory")!.inputs.firstIndex { $0.name == field }!
    return script.steps[1].operands[index]
  }

  @Test(
    "numbers: integers, hex, sizes, negative integers",
    arguments: [
      ("4096", 4096), (#""0x1F000""#, 0x1F000), (#""0xFFFF_8000_0000_0000""#, 0xFFFF_8000_0000_0000),
      (#""64KiB""#, 65536), (#""2MiB""#, 2 << 20), (#""1GiB""#, 1 << 30), (#""4096""#, 4096), (#""12B""#, 12),
      ("18446744073709551615", UInt64.max), ("-1", UInt64.max), (#""1_000""#, 1000),
    ] as [(String, UInt64)])
  func numbers(_ text: String, _ value: UInt64) throws {
    #expect(try Self.operand("RegionSize", text) == .immediate(value))
  }

  @Test(
    "flags and protections: names joined by |, numbers, mixed",
    arguments: [
      ("AllocationType", #""MEM_RESERVE|MEM_COMMIT|MEM_TOP_DOWN""#, 0x10_3000),
      ("AllocationType", #""MEM_COMMIT | 0x40000000""#, 0x4000_1000), ("AllocationType", "12288", 0x3000),
      ("Protect", #""PAGE_READWRITE|PAGE_GUARD""#, 0x104), ("Protect", #""PAGE_EXECUTE_WRITECOPY""#, 0x80),
      ("Protect", "0", 0), ("Protect", #""PAGE_NOACCESS|PAGE_NOCACHE|PAGE_WRITECOMBINE""#, 0x601),
    ] as [(String, String, UInt64)])
  func flags(_ field: String, _ text: String, _ value: UInt64) throws {
    #expect(try Self.operand(field, text) == .immediate(value))
  }

  @Test("aliases with offsets, and a process handle used as a number")
  func aliases() throws {
    let text = """
      {"steps": [{"call": "CreateProcess", "as": "P"},
        {"call": "NtQueryVirtualMemory", "ProcessHandle": "P", "BaseAddress": "0x10000",
         "MemoryInformationClass": "MemoryBasicInformation", "save": {"base": "AllocationBase", "size": "RegionSize"}},
        {"call": "Touch", "ProcessHandle": 8, "Address": "$base - 64KiB", "Pages": "$size", "Access": "read"},
        {"call": "Touch", "ProcessHandle": "$P", "Address": "$base+4096", "Pages": 1, "Access": "execute"}]}
      """
    let script = try Script.parse(text)
    #expect(script.steps[1].operands[2] == .immediate(0))
    #expect(
      script.steps[2].operands == [
        .immediate(8), .alias(name: "base", slot: 2, offset: 0 &- 65536), .alias(name: "size", slot: 3, offset: 0),
        .immediate(0),
      ])
    #expect(script.steps[3].operands[0] == .alias(name: "P", slot: 1, offset: 0))
    #expect(script.steps[3].operands[1] == .alias(name: "base", slot: 2, offset: 4096))
  }

  @Test("expect takes a status name, a hex status or a list")
  func expectations() throws {
    let one = try Script.parse(Self.allocate("Protect", #""PAGE_READWRITE""#, extra: #", "expect": "0xC0000018""#))
    #expect(one.steps[1].expect == [0xC000_0018])
    let list = try Script.parse(
      Self.allocate(
        "Protect", #""PAGE_READWRITE""#, extra: #", "expect": ["STATUS_SUCCESS", "STATUS_INVALID_PARAMETER_4"]"#))
    #expect(list.steps[1].expect == [0, 0xC000_00F2])
    #expect(list.steps[1].mayFail)
  }

  /// The error `text` gives, or nil when it reads.
  @Test("ProcessHandle \"System\" reaches the guest as SectionHandles.systemProcess in the calls that take it")
  func systemProcess() throws {
    let script = try Script.parse(
      #"{"steps": [{"call": "Touch", "ProcessHandle": "System", "Address": "0xFFFFFC0000200000", "Pages": 1, "#
        + #""Access": "read"}, {"call": "NtUnmapViewOfSection", "ProcessHandle": "System", "BaseAddress": 0}]}"#)
    #expect(
      script.steps.map { $0.operands.first } == [
        .immediate(SectionHandles.systemProcess), .immediate(SectionHandles.systemProcess),
      ])
  }

  static func problem(_ text: String) -> ScriptError? {
    do {
      _ = try Script.parse(text)
      return nil
    } catch {
      return error
    }
  }

  @Test(
    "a bad value names its JSON path and why",
    arguments: [
      ("Protect", #""PAGE_RW""#, "steps[1].Protect", #"unknown protection "PAGE_RW""#),
      ("Protect", #""PAGE_READWRTE""#, "steps[1].Protect", "did you mean PAGE_READWRITE?"),
      ("AllocationType", #""MEM_COMIT""#, "steps[1].AllocationType", #"unknown memory flag "MEM_COMIT""#),
      ("AllocationType", #""MEM_COMMIT||MEM_RESERVE""#, "steps[1].AllocationType", "an empty memory flag"),
      ("RegionSize", #""64KB""#, "steps[1].RegionSize", "is not a number"),
      ("RegionSize", #""$r9""#, "steps[1].RegionSize", #"unknown alias "$r9""#),
      ("RegionSize", "1.5", "steps[1].RegionSize", "not a whole number"),
      ("RegionSize", "18446744073709551616", "steps[1].RegionSize", "does not fit in 64 bits"),
      ("RegionSize", #""0x1FFFFFFFFFFFFFFFF""#, "steps[1].RegionSize", "not a 64-bit hex number"),
      ("RegionSize", #""20000000TiB""#, "steps[1].RegionSize", "does not fit in 64 bits"),
      ("RegionSize", "true", "steps[1].RegionSize", "must be a number, not a boolean"),
      ("ProcessHandle", #""B""#, "steps[1].ProcessHandle", #"unknown process "B""#),
      (
        "ProcessHandle", #""System""#, "steps[1].ProcessHandle",
        "only NtMapViewOfSection, NtUnmapViewOfSection and Touch"
      ),
      ("Protect", "4294967296", "steps[1].Protect", "does not fit in 32 bits"),
    ] as [(String, String, String, String)])
  func badValues(_ field: String, _ value: String, _ path: String, _ words: String) throws {
    let error = try #require(Self.problem(Self.allocate(field, value)))
    #expect(error.path == path)
    #expect(error.problem.contains(words), "\(error)")
  }

  @Test(
    "a bad step or document names its JSON path and why",
    arguments: [
      (#"{"steps": [{"call": "NtAllocVirtualMemory"}]}"#, "steps[0].call", #"unknown call "NtAllocVirtualMemory""#),
      (#"{"steps": [{"as": "A"}]}"#, "steps[0]", #"missing "call""#),
      (#"{"steps": [{"call": "CreateProcess"}]}"#, "steps[0].as", "missing"),
      (
        #"{"steps": [{"call": "CreateProcess", "as": "A", "Bogus": 1}]}"#, "steps[0].Bogus",
        "unknown parameter of CreateProcess"
      ),
      (
        #"{"steps": [{"call": "CreateProcess", "as": "A"}, {"call": "CreateProcess", "as": "A"}]}"#, "steps[1].as",
        "exists already"
      ),
      (#"{"steps": [{"call": "CreateProcess", "as": "1A"}]}"#, "steps[0].as", "must be a name"),
      (#"{"steps": [{"call": "CreateProcess", "as": "System"}]}"#, "steps[0].as", "names system space"),
      (#"{"steps": [{"call": "Checkpoint"}]}"#, "steps[0].name", "missing"),
      (#"{"steps": [{"call": "Checkpoint", "name": ""}]}"#, "steps[0].name", "must be a name"),
      (
        #"{"steps": [{"call": "Checkpoint", "name": "x", "expect": "STATUS_SUCESS"}]}"#, "steps[0].expect",
        "did you mean STATUS_SUCCESS?"
      ),
      (#"{"steps": [{"call": "Checkpoint", "name": "x", "expect": []}]}"#, "steps[0].expect", "at least one status"),
      (
        #"{"steps": [{"call": "Checkpoint", "name": "x", "save": {"a": "BaseAddress"}}]}"#, "steps[0].save.a",
        "not an out-parameter of Checkpoint"
      ),
      (#"{"steps": []}"#, "steps", "at least one step"),
      (#"{"steps": {}}"#, "steps", "must be an array"),
      (#"{"memory": 8, "steps": [{"call": "Checkpoint", "name": "x"}]}"#, "memory", "whole number of MiB"),
      (#"{"memory": 64}"#, "steps", "missing"),
      (#"{"memory": 64, "steps": [], "comment": "x"}"#, "comment", "unknown key"),
      (#"[1]"#, "", "must be an object, not an array"),
      ("{\"steps\": [\n  {\"call\": \"Checkpoint\",, }]}", "", "line 2, column 25"),
      (#"{"steps": [{"call": "Checkpoint", "name": "a", "name": "b"}]}"#, "", "appears twice"),
    ] as [(String, String, String)])
  func badDocuments(_ text: String, _ path: String, _ words: String) throws {
    let error = try #require(Self.problem(text))
    #expect(error.path == path, "\(error)")
    #expect(error.problem.contains(words), "\(error)")
  }

  @Test("an alias may be saved again; a later step sees the newer value, an earlier one cannot see it at all")
  func aliasOrder() throws {
    let early = """
      {"steps": [{"call": "CreateProcess", "as": "A"},
        {"call": "Touch", "ProcessHandle": "A", "Address": "$x", "Pages": 1, "Access": "read"},
        {"call": "NtQueryVirtualMemory", "ProcessHandle": "A", "BaseAddress": 0, "MemoryInformationClass": 0,
         "save": {"x": "BaseAddress"}}]}
      """
    #expect(Self.problem(early)?.path == "steps[1].Address")
    let again = """
      {"steps": [{"call": "CreateProcess", "as": "A"},
        {"call": "NtQueryVirtualMemory", "ProcessHandle": "A", "BaseAddress": 0, "MemoryInformationClass": 0,
         "save": {"x": "BaseAddress"}},
        {"call": "NtQueryVirtualMemory", "ProcessHandle": "A", "BaseAddress": "$x", "MemoryInformationClass": 0,
         "save": {"x": "RegionSize"}}]}
      """
    let script = try Script.parse(again)
    #expect(script.aliases == ["A", "x"])
    #expect(script.steps[2].saves.map(\.slot) == [2])
  }
}
