import GuestABI

/// Why a script cannot run: the JSON path of the value at fault and why, e.g.
/// `steps[3].Protect: unknown protection "PAGE_RW"`. `mmlab script` exits 2
/// for it, before any guest boots.
public struct ScriptError: Error, Equatable, CustomStringConvertible {
  /// "steps[3].Protect", "memory", or "" for the whole document.
  public var path: String
  public var problem: String

  public init(_ path: String, _ problem: String) {
    self.path = path
    self.problem = problem
  }

  public var description: String { path.isEmpty ? problem : "\(path): \(problem)" }
}

/// One operand of a step: a value known now, or what an alias holds when the
/// step runs plus an offset (two's-complement wrapping, so "-" works too).
public enum Operand: Sendable, Equatable {
  case immediate(UInt64)
  case alias(name: String, slot: Int, offset: UInt64)
  /// A string (an ObjectName): the batch carries its UTF-8 bytes (`ScriptABI.stringsOffset`).
  case text(String)

  /// Bytes of the batch's strings area it takes.
  var textBytes: Int {
    if case .text(let text) = self { return text.utf8.count }
    return 0
  }
}

/// One step, checked: its call, its operands in the call's order, what it
/// may return and where its out-parameters go.
public struct ScriptStep: Sendable, Equatable {
  /// Its index in the script's steps.
  public var index: Int
  public var spec: CallSpec
  public var operands: [Operand]
  /// Acceptable statuses; nil when the script gave no "expect" (any status
  /// is then reported, none judged).
  public var expect: [UInt32]?
  /// Out-parameter index -> alias (name and slot) it is saved into.
  public var saves: [(output: Int, alias: String, slot: Int)]
  /// A Checkpoint's name.
  public var checkpointName: String?
  /// The JSON path of the step ("steps[3]"), for messages.
  public var path: String { "steps[\(index)]" }

  public static func == (a: ScriptStep, b: ScriptStep) -> Bool {
    a.index == b.index && a.spec == b.spec && a.operands == b.operands && a.expect == b.expect
      && a.checkpointName == b.checkpointName
      && a.saves.map { "\($0.output) \($0.alias) \($0.slot)" } == b.saves.map { "\($0.output) \($0.alias) \($0.slot)" }
  }

  /// True when some acceptable status is an error (the step is meant to fail,
  /// so the host checks that it changed nothing).
  public var mayFail: Bool { expect.map { $0.contains { $0 & 0xC000_0000 == 0xC000_0000 } } ?? true }
}

/// A checked script: the guest RAM it asks for and its steps.
public struct Script: Sendable, Equatable {
  /// MiB, when the script says.
  public var memoryMiB: Int?
  /// Disk images the script runs with ("default": the package's FAT32 volume), each a private copy.
  public var disks: [String] = []
  public static let defaultDisk = "default"
  public var steps: [ScriptStep]
  /// Alias names by slot (slot 1 is `aliases[0]`).
  public var aliases: [String]

  /// Reads and checks the script in `text` (with `testCalls`, the test-only calls too).
  public static func parse(_ text: String, testCalls: Bool = false) throws(ScriptError) -> Script {
    let document: JSONNode
    do { document = try JSONReader.parse(text) } catch { throw ScriptError("", "not valid JSON: \(error)") }
    var reader = ScriptReader()
    reader.testCalls = testCalls
    return try reader.script(document)
  }
}
