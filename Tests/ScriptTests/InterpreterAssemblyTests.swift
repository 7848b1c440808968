import Foundation
import GuestABI
import GuestMm
import Testing

/// The interpreter (Guest/Boot/script.S) copies GuestABI's numbers by hand:
/// each must be GuestABI's, or it reads the wrong operand, writes results
/// where the host does not look, or lets a script's access reach its buffers.
@Suite("script.S's constants are GuestABI's")
struct InterpreterAssemblyTests {
  static func defines() throws -> [String: UInt64] {
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
      "../../Guest/Boot/script.S")
    var values: [String: UInt64] = [:]
    for line in try String(contentsOf: source, encoding: .utf8).split(separator: "\n")
    where line.hasPrefix("#define ") {
      let words = line.split(separator: " ")
      guard words.count == 3 else { continue }
      let text = String(words[2])
      values[String(words[1])] = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
    }
    return values
  }

  static let expected: [(String, UInt64)] = [
    ("STEP_SIZE", UInt64(ScriptStepRecord.size)),
    ("STEP_CALL", UInt64(ScriptStepRecord.call)),
    ("STEP_FLAGS", UInt64(ScriptStepRecord.flags)),
    ("STEP_INDEX", UInt64(ScriptStepRecord.index)),
    ("STEP_OPERANDS", UInt64(ScriptStepRecord.operands)),
    ("STEP_OPERAND_SLOTS", UInt64(ScriptStepRecord.operandSlots)),
    ("STEP_SAVE_SLOTS", UInt64(ScriptStepRecord.saveSlots)),
    ("RESULT_SIZE", UInt64(ScriptResultRecord.size)),
    ("RESULT_STATUS", UInt64(ScriptResultRecord.status)),
    ("RESULT_INDEX", UInt64(ScriptResultRecord.index)),
    ("RESULT_OUTPUTS", UInt64(ScriptResultRecord.outputs)),
    ("RESULT_TICKS", UInt64(ScriptResultRecord.ticks)),
    ("OUTPUT_COUNT", UInt64(ScriptABI.outputCount)),
    ("REQUEST_HEADER_SIZE", UInt64(ScriptABI.requestHeaderSize)),
    ("CALL_TOUCH", UInt64(ScriptCall.touch.rawValue)),
    ("CALL_WRITE_PATTERN", UInt64(ScriptCall.writePattern.rawValue)),
    ("CALL_CHECK_PATTERN", UInt64(ScriptCall.checkPattern.rawValue)),
    ("GATE_NEXT_BATCH", ScriptGate.nextBatch),
    ("GATE_STOP", ScriptGate.stop),
    ("FLAG_STOP_BEFORE", UInt64(ScriptStepFlags.stopBefore.rawValue)),
    ("FLAG_STOP_AFTER", UInt64(ScriptStepFlags.stopAfter.rawValue)),
    ("USER_END_SHIFTED", UserAddressSpace.end >> 16),
    ("STATUS_ACCESS_VIOLATION", UInt64(Status.accessViolation.rawValue)),
  ]

  @Test("each #define", arguments: expected.map(\.0))
  func define(name: String) throws {
    let value = try #require(Self.defines()[name], "\(name) is not #defined in script.S")
    #expect(value == Self.expected.first { $0.0 == name }!.1)
  }

  @Test("the end check is exact: UserAddressSpace.end is 64 KiB-aligned, the windows lie at or above it")
  func endCheck() {
    #expect(UserAddressSpace.end & 0xFFFF == 0)
    #expect(UserLayout.codeBase >= UserAddressSpace.end)
    #expect(ScriptWindow.base >= UserAddressSpace.end && ScriptWindow.base + ScriptWindow.size <= 1 << 47)
    #expect(ScriptWindow.stackBytes >= 512, "the interpreter's stack")
  }
}
