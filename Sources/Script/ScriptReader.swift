import GuestABI

/// Reads a script document step by step, checking each value against its
/// call and every alias against the steps before it, so each error names the
/// JSON path of the value at fault.
struct ScriptReader {
  /// Alias names by slot - 1, and each name's slot.
  var aliases: [String] = []
  var slots: [String: Int] = [:]
  /// Names CreateProcess steps gave with "as" (also aliases: their handle).
  var handles: Set<String> = []
  /// Names NtCreateFile and NtOpenFile steps gave with "as" (aliases of their FileHandle).
  var files: Set<String> = []
  /// Whether test-only calls are allowed (`--test-hooks`).
  var testCalls = false

  /// Guest RAM a script may ask for, in MiB.
  static let memoryRange = 16...65_536

  mutating func script(_ document: JSONNode) throws(ScriptError) -> Script {
    let top = try object(document, "", keys: ["memory", "disks", "steps"], required: ["steps"])
    var memory: Int?
    if let value = top["memory"] {
      guard case .number(let literal) = value, let mib = Int(literal), Self.memoryRange.contains(mib) else {
        throw ScriptError("memory", "must be a whole number of MiB from \(Self.memoryRange.lowerBound) to 65536")
      }
      memory = mib
    }
    guard case .array(let list)? = top["steps"] else { throw ScriptError("steps", "must be an array of steps") }
    guard !list.isEmpty else { throw ScriptError("steps", "must hold at least one step") }
    var steps: [ScriptStep] = []
    steps.reserveCapacity(list.count)
    for (index, node) in list.enumerated() { steps.append(try step(node, index: index)) }
    var script = Script(memoryMiB: memory, steps: steps, aliases: aliases)
    if let value = top["disks"] { script.disks = try disks(value) }
    return script
  }

  /// "disks": ["default"] or paths of disk images (at most 8).
  func disks(_ node: JSONNode) throws(ScriptError) -> [String] {
    guard case .array(let list) = node, list.count <= 8 else {
      throw ScriptError("disks", "must be an array of at most 8 disk images (\"default\" or a path)")
    }
    var names: [String] = []
    for (n, item) in list.enumerated() {
      guard case .string(let name) = item, !name.isEmpty else {
        throw ScriptError("disks[\(n)]", "must be \"default\" or the path of a disk image")
      }
      names.append(name)
    }
    return names
  }

  /// One step: its call, its parameters (exactly the call's), "expect", "save",
  /// and "as" (CreateProcess) or "name" (Checkpoint).
  mutating func step(_ node: JSONNode, index: Int) throws(ScriptError) -> ScriptStep {
    let path = "steps[\(index)]"
    guard case .object(let members) = node else { throw ScriptError(path, "must be an object, not \(node.kind)") }
    guard let callNode = members.first(where: { $0.key == "call" })?.value else {
      throw ScriptError(path, "missing \"call\"")
    }
    guard case .string(let name) = callNode else { throw ScriptError(path + ".call", "must be a string") }
    guard let spec = CallSpec.named(name, testCalls: testCalls) else {
      let table = CallSpec.all.map { (name: $0.name, value: UInt32(0)) }
      let hint = ScriptValues.suggestion(name, table)
      throw ScriptError(
        path + ".call",
        "unknown call \"\(name)\""
          + (hint.isEmpty ? " (known: \(CallSpec.all.map(\.name).joined(separator: ", ")))" : hint))
    }
    let own = Self.ownKeys(spec)
    let keys = Set(spec.inputs.map(\.name)).union(["call", "expect", "save"]).union(own)
      .union(Self.namesFile(spec) ? ["as"] : [])
    let fields = try object(
      node, path, keys: keys, required: Set(spec.inputs.map(\.name)).union(own), owner: spec.name)
    var operands: [Operand] = []
    for (n, input) in spec.inputs.enumerated() {
      let value = try operand(fields[input.name]!, kind: input.kind, path: "\(path).\(input.name)")
      if n >= ScriptStep.recordOperands(spec), case .alias = value {
        throw ScriptError("\(path).\(input.name)", "must be a value, not an alias (it travels in the batch's data)")
      }
      operands.append(value)
    }
    let expect = try fields["expect"].map { value throws(ScriptError) in try statuses(value, "\(path).expect") }
    var step = ScriptStep(index: index, spec: spec, operands: operands, expect: expect, saves: [])
    if case .string(let checkpoint)? = fields["name"] { step.checkpointName = checkpoint }
    if fields["name"] != nil && step.checkpointName?.isEmpty != false {
      throw ScriptError(path + ".name", "must be a name (a non-empty string)")
    }
    if let save = fields["save"] { step.saves = try saves(save, spec: spec, path: path + ".save") }
    if let handle = fields["as"] {
      step.saves.append(
        Self.namesFile(spec) ? try fileName(handle, path: path + ".as") : try processName(handle, path: path + ".as"))
    }
    return step
  }

  /// The keys a call has beyond its parameters, all required.
  static func ownKeys(_ spec: CallSpec) -> Set<String> {
    switch spec.call {
    case .createProcess: return ["as"]
    case .checkpoint: return ["name"]
    default: return []
    }
  }

  /// Whether the call may name the file it opens with "as" (optional: a create meant to fail has no handle).
  static func namesFile(_ spec: CallSpec) -> Bool {
    [.createFile, .openFile, .createSection, .openSection].contains(spec.call)
  }

  /// NtCreateFile's or NtOpenFile's "as": the name later steps pass as FileHandle. A
  /// name may be reused once its file is closed, so a later open may take it again.
  mutating func fileName(_ node: JSONNode, path: String) throws(ScriptError) -> (Int, String, Int) {
    guard case .string(let name) = node, Self.isIdentifier(name) else {
      throw ScriptError(path, "must be a name (letters, digits and _, not starting with a digit)")
    }
    guard !handles.contains(name) else { throw ScriptError(path, "\"\(name)\" names a process") }
    files.insert(name)
    return (0, name, try slot(for: name, path: path))
  }

  /// CreateProcess's "as": the name later steps pass as ProcessHandle.
  mutating func processName(_ node: JSONNode, path: String) throws(ScriptError) -> (Int, String, Int) {
    guard case .string(let name) = node, Self.isIdentifier(name) else {
      throw ScriptError(path, "must be a name (letters, digits and _, not starting with a digit)")
    }
    guard !handles.contains(name) else { throw ScriptError(path, "a process named \"\(name)\" exists already") }
    guard name != Self.systemProcessName else {
      throw ScriptError(path, "\"System\" names system space (ProcessHandle \"System\"); choose another name")
    }
    handles.insert(name)
    return (0, name, try slot(for: name, path: path))
  }

  /// "save": {alias: out-parameter name}.
  mutating func saves(_ node: JSONNode, spec: CallSpec, path: String) throws(ScriptError) -> [(Int, String, Int)] {
    guard case .object(let members) = node else { throw ScriptError(path, "must be an object {alias: out-parameter}") }
    var result: [(Int, String, Int)] = []
    for (alias, value) in members {
      guard Self.isIdentifier(alias) else {
        throw ScriptError("\(path).\(alias)", "an alias is a name (letters, digits and _, not starting with a digit)")
      }
      guard !handles.contains(alias) else { throw ScriptError("\(path).\(alias)", "\"\(alias)\" names a process") }
      guard case .string(let output) = value, let index = spec.outputIndex(output) else {
        let known = spec.outputs.isEmpty ? "none" : spec.outputs.map(\.name).joined(separator: ", ")
        throw ScriptError("\(path).\(alias)", "not an out-parameter of \(spec.name) (it has: \(known))")
      }
      result.append((index, alias, try slot(for: alias, path: "\(path).\(alias)")))
    }
    return result
  }

  /// The slot of alias `name`, new if it has none yet.
  mutating func slot(for name: String, path: String) throws(ScriptError) -> Int {
    if let slot = slots[name] { return slot }
    guard aliases.count < ScriptABI.aliasSlots - 1 else {
      throw ScriptError(path, "more than \(ScriptABI.aliasSlots - 1) aliases and processes in one script")
    }
    aliases.append(name)
    slots[name] = aliases.count
    return aliases.count
  }

  /// The ProcessHandle that names system space (`ParameterKind.processOrSystem`).
  static let systemProcessName = "System"

  static func isIdentifier(_ text: String) -> Bool {
    guard let first = text.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
    else { return false }
    return text.unicodeScalars.allSatisfy {
      $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)))
    }
  }
}
