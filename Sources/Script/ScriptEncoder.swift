import GuestABI

/// When the host inspects the Mm during a script (`--validate`).
public enum ValidationPolicy: String, CaseIterable, Sendable {
  /// At Checkpoint steps, and around every NT call that may fail (its
  /// "expect" admits an error, or it has none), whose state the host compares.
  case checkpoints
  /// After every step as well: the first step after which an invariant
  /// broke is named.
  case everyStep = "every-step"
  /// At Checkpoint steps only: no state compared around failing calls (the
  /// fastest run of a long script, e.g. the bench's validation guest).
  case checkpointsOnly = "checkpoints-only"
}

extension ScriptStep {
  /// The stops this step asks the guest for under `policy`.
  public func stops(_ policy: ValidationPolicy) -> ScriptStepFlags {
    var flags: ScriptStepFlags = []
    if spec.call == .checkpoint { flags.insert(.stopAfter) }
    if mayFail && spec.failsAtomically && policy != .checkpointsOnly { flags.formUnion([.stopBefore, .stopAfter]) }
    if policy == .everyStep {
      flags.insert(.stopAfter)
      if index == 0 { flags.insert(.stopBefore) }
    }
    return flags
  }

  /// Bytes of the batch's strings area the step's text operands take, and
  /// the operands past the record's (`recordOperands`), 8 bytes each.
  public var textBytes: Int {
    operands.reduce(0) { $0 + $1.textBytes } + 8 * max(0, operands.count - Self.recordOperands(spec))
  }

  /// Operands `spec`'s step record holds itself: all of them up to
  /// `ScriptABI.operandCount`; past that one fewer, the last record operand
  /// naming the rest in the strings area (`ScriptCall.createSection`'s note).
  public static func recordOperands(_ spec: CallSpec) -> Int {
    spec.inputs.count <= ScriptABI.operandCount ? spec.inputs.count : ScriptABI.operandCount - 1
  }

  /// Writes the step record (`ScriptStepRecord`) at `record`, its text operands
  /// into `strings` (the batch's strings area) from `stringsUsed` on.
  public func encode(
    into record: UnsafeMutableRawPointer, policy: ValidationPolicy, strings: UnsafeMutableRawPointer? = nil,
    stringsUsed: inout Int
  ) {
    record.initializeMemory(as: UInt8.self, repeating: 0, count: ScriptStepRecord.size)
    record.storeBytes(of: spec.call.rawValue, toByteOffset: ScriptStepRecord.call, as: UInt32.self)
    record.storeBytes(of: stops(policy).rawValue, toByteOffset: ScriptStepRecord.flags, as: UInt32.self)
    record.storeBytes(of: UInt32(truncatingIfNeeded: index), toByteOffset: ScriptStepRecord.index, as: UInt32.self)
    let inRecord = Self.recordOperands(spec)
    for (n, operand) in operands.enumerated() where n < inRecord {
      let (value, slot): (UInt64, Int) =
        switch operand {
        case .immediate(let value): (value, 0)
        case .alias(_, let slot, let offset): (offset, slot)
        case .text(let text): (Self.place(text, strings, &stringsUsed), 0)
        }
      record.storeBytes(of: value, toByteOffset: ScriptStepRecord.operands + 8 * n, as: UInt64.self)
      record.storeBytes(of: UInt8(slot), toByteOffset: ScriptStepRecord.operandSlots + n, as: UInt8.self)
    }
    if operands.count > inRecord {
      let spilled = operands[inRecord...].map { operand -> UInt64 in
        guard case .immediate(let value) = operand else { preconditionFailure("a spilled operand is a value") }
        return value
      }
      let operand = Self.place(spilled, strings, &stringsUsed)
      record.storeBytes(of: operand, toByteOffset: ScriptStepRecord.operands + 8 * inRecord, as: UInt64.self)
    }
    for save in saves {
      record.storeBytes(of: UInt8(save.slot), toByteOffset: ScriptStepRecord.saveSlots + save.output, as: UInt8.self)
    }
  }

  /// Copies `text` into the strings area; its operand (`ScriptABI.stringOperand`).
  static func place(_ text: String, _ strings: UnsafeMutableRawPointer?, _ used: inout Int) -> UInt64 {
    place(bytes: Array(text.utf8), strings, &used)
  }

  /// Copies `values` (little-endian UInt64s) into the strings area; their operand.
  static func place(_ values: [UInt64], _ strings: UnsafeMutableRawPointer?, _ used: inout Int) -> UInt64 {
    place(
      bytes: values.flatMap { value in (0..<8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }, strings, &used)
  }

  static func place(bytes: [UInt8], _ strings: UnsafeMutableRawPointer?, _ used: inout Int) -> UInt64 {
    precondition(used + bytes.count <= ScriptABI.stringsCapacity, "the batch's strings were not bounded")
    if let strings { (strings + used).copyMemory(from: bytes, byteCount: bytes.count) }
    defer { used += bytes.count }
    return ScriptABI.stringOperand(offset: used, length: bytes.count)
  }
}

extension Script {
  /// The batch starting at step `first`: at most `ScriptABI.batchCapacity`
  /// steps whose strings fit `ScriptABI.stringsCapacity`.
  public func batch(from first: Int) -> [ScriptStep] {
    var end = first
    var bytes = 0
    while end < steps.count, end - first < ScriptABI.batchCapacity,
      bytes + steps[end].textBytes <= ScriptABI.stringsCapacity
    {
      bytes += steps[end].textBytes
      end += 1
    }
    return Array(steps[first..<end])
  }
}

/// What the guest wrote for one step

/// What the guest wrote for one step (`ScriptResultRecord`).
public struct StepResult: Sendable, Equatable {
  public var index: Int
  public var status: UInt32
  public var outputs: [UInt64]
  /// TSC ticks the guest spent on the step.
  public var ticks: UInt64

  public init(index: Int, status: UInt32, outputs: [UInt64], ticks: UInt64) {
    self.index = index
    self.status = status
    self.outputs = outputs
    self.ticks = ticks
  }

  /// Decodes the result record at `record`, keeping the first `outputCount` outputs.
  public init(record: UnsafeRawPointer, outputCount: Int) {
    index = Int(record.loadUnaligned(fromByteOffset: ScriptResultRecord.index, as: UInt32.self))
    status = record.loadUnaligned(fromByteOffset: ScriptResultRecord.status, as: UInt32.self)
    outputs = (0..<min(outputCount, ScriptABI.outputCount)).map {
      record.loadUnaligned(fromByteOffset: ScriptResultRecord.outputs + 8 * $0, as: UInt64.self)
    }
    ticks = record.loadUnaligned(fromByteOffset: ScriptResultRecord.ticks, as: UInt64.self)
  }
}
