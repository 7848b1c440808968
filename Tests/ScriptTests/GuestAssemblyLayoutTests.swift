import Foundation
import GuestABI
import GuestMm
import Testing

/// The guest's assembly copies GuestABI's numbers by hand (it cannot import
/// Swift): every one must be GuestABI's, or the conformance runner records a
/// fault in the wrong place, or the script interpreter reads the wrong
/// operand, writes results where the host does not look, or lets a script's
/// access reach its buffers. (C structs the assembly shares are checked by
/// `_Static_assert` in Guest/Arch/Arch.h.)
@Suite("The guest assembly's #defines are GuestABI's")
struct GuestAssemblyLayoutTests {
  /// `#define NAME VALUE` lines of Guest/Boot/`file` (decimal or 0x hex), by name.
  static func defines(_ file: String) throws -> [String: UInt64] {
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
      "../../Guest/Boot/\(file)")
    var values: [String: UInt64] = [:]
    for line in try String(contentsOf: source, encoding: .utf8).split(separator: "\n")
    where line.hasPrefix("#define ") {
      let words = line.split(separator: " ", omittingEmptySubsequences: true)
      guard words.count >= 3 else { continue }
      let text = String(words[2])
      values[String(words[1])] = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
    }
    return values
  }

  struct Copy: Sendable, CustomTestStringConvertible {
    let file: String
    let name: String
    let value: UInt64
    var testDescription: String { "\(file) \(name)" }
  }

  static let script: [(String, UInt64)] = [
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
    ("GATE_ARM_EXECUTE", ScriptGate.armExecute),
    ("FLAG_STOP_BEFORE", UInt64(ScriptStepFlags.stopBefore.rawValue)),
    ("FLAG_STOP_AFTER", UInt64(ScriptStepFlags.stopAfter.rawValue)),
    ("USER_END_SHIFTED", UserAddressSpace.end >> 16),
    ("STATUS_ACCESS_VIOLATION", UInt64(Status.accessViolation.rawValue)),
  ]

  static let conformance: [(String, UInt64)] = [
    ("RESULT_SIZE", UInt64(ConformanceABI.resultSize)),
    ("RESULT_ATTEMPTS", UInt64(ConformanceResultRecord.attempts)),
    ("ATTEMPT_SIZE_SHIFT", UInt64(ConformanceResultRecord.attemptSize.trailingZeroBitCount)),
    ("ATTEMPT_VECTOR", UInt64(ConformanceResultRecord.attemptVector)),
    ("ATTEMPT_ERROR_CODE", UInt64(ConformanceResultRecord.attemptErrorCode)),
    ("ATTEMPT_FAULT_ADDRESS", UInt64(ConformanceResultRecord.attemptFaultAddress)),
    ("ENTRY_SIZE", UInt64(ConformanceAccessEntry.size)),
    ("ENTRY_ADDRESS", UInt64(ConformanceAccessEntry.address)),
    ("ENTRY_WORD", UInt64(ConformanceAccessEntry.word)),
    ("ENTRY_ARG0", UInt64(ConformanceAccessEntry.argument0)),
    ("ENTRY_ARG1", UInt64(ConformanceAccessEntry.argument1)),
    ("WORD_MUTATE", UInt64(ConformanceAccessWord.mutationBit)),
    ("WORD_CONTROL", UInt64(ConformanceAccessWord.controlWriteBit)),
  ]

  static let copies: [Copy] =
    script.map { Copy(file: "script.S", name: $0.0, value: $0.1) }
    + conformance.map { Copy(file: "conformance.S", name: $0.0, value: $0.1) }

  @Test("each copy", arguments: copies)
  func copy(_ copy: Copy) throws {
    let value = try #require(Self.defines(copy.file)[copy.name], "\(copy.name) is not #defined in \(copy.file)")
    #expect(value == copy.value)
  }

  @Test("the attempt size is a power of two (the assembly shifts by it)")
  func attemptSizeShifts() {
    #expect(ConformanceResultRecord.attemptSize.nonzeroBitCount == 1)
  }

  @Test("the end check is exact: UserAddressSpace.end is 64 KiB-aligned, the windows lie at or above it")
  func endCheck() {
    #expect(UserAddressSpace.end & 0xFFFF == 0)
    #expect(UserLayout.codeBase >= UserAddressSpace.end)
    #expect(ScriptWindow.base >= UserAddressSpace.end && ScriptWindow.base + ScriptWindow.size <= 1 << 47)
    #expect(ScriptWindow.stackBytes >= 512, "the interpreter's stack")
  }
}
