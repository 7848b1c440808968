import Foundation
import GuestABI

extension ScriptReader {
  /// A parameter's value as `kind` reads it.
  func operand(_ node: JSONNode, kind: ParameterKind, path: String) throws(ScriptError) -> Operand {
    switch kind {
    case .number: return try number(node, path: path)
    case .handle: return try handle(node, path: path)
    case .processOrSystem:
      if case .string(ScriptReader.systemProcessName) = node { return .immediate(SectionHandles.systemProcess) }
      return try handle(node, path: path)
    case .memoryFlags: return .immediate(UInt64(try flags(node, NtNames.memoryFlags, what: "memory flag", path: path)))
    case .protection: return .immediate(UInt64(try flags(node, NtNames.protections, what: "protection", path: path)))
    case .access:
      guard case .string(let text) = node, let access = TouchAccess(rawValue: text) else {
        throw ScriptError(path, "must be read, write or execute")
      }
      return .immediate(access.code)
    case .informationClass:
      if case .string("MemoryBasicInformation") = node {
        return .immediate(UInt64(MemoryInformationClass.basicInformation.rawValue))
      }
      guard case .immediate(let value) = try number(node, path: path, aliases: false) else {
        preconditionFailure("operand: a number without aliases is an immediate")
      }
      return .immediate(value)
    case .fileHandle: return try fileHandle(node, path: path)
    case .objectName: return try objectName(node, path: path)
    case .fileAccess: return .immediate(UInt64(try flags(node, NtNames.fileAccess, what: "access right", path: path)))
    case .shareAccess: return .immediate(UInt64(try flags(node, NtNames.shareAccess, what: "share mode", path: path)))
    case .createDisposition:
      return .immediate(UInt64(try flags(node, NtNames.createDispositions, what: "create disposition", path: path)))
    case .createOptions:
      return .immediate(UInt64(try flags(node, NtNames.createOptions, what: "create option", path: path)))
    case .fileInformationClass:
      return .immediate(
        UInt64(try flags(node, NtNames.fileInformationClasses, what: "file information class", path: path)))
    case .sectionHandle: return try fileHandle(node, path: path, what: "section")
    case .sectionName:
      if case .null = node { return .immediate(0) }
      return try objectName(node, path: path)
    case .sectionAccess:
      return .immediate(UInt64(try flags(node, NtNames.sectionAccess, what: "section access right", path: path)))
    case .sectionAttributes:
      return .immediate(UInt64(try flags(node, NtNames.sectionAttributes, what: "section attribute", path: path)))
    case .inheritDisposition:
      return .immediate(
        UInt64(try flags(node, NtNames.inheritDispositions, what: "inherit disposition", path: path)))
    case .sectionInformationClass:
      return .immediate(
        UInt64(try flags(node, NtNames.sectionInformationClasses, what: "section information class", path: path)))
    }
  }

  /// FileHandle (or SectionHandle, NtClose's Handle): a name an earlier create
  /// or open gave with "as", or a raw number.
  func fileHandle(_ node: JSONNode, path: String, what: String = "file") throws(ScriptError) -> Operand {
    if case .string(let name) = node, Self.isIdentifier(name) {
      guard files.contains(name), let slot = slots[name] else {
        let calls = what == "section" ? "NtCreateSection or NtOpenSection" : "NtCreateFile or NtOpenFile"
        throw ScriptError(path, "unknown \(what) \"\(name)\" (no earlier \(calls) has \"as\": \"\(name)\")")
      }
      return .alias(name: name, slot: slot, offset: 0)
    }
    return try number(node, path: path)
  }

  /// ObjectName: an NT path such as "\\??\\C:\\dir\\file", carried to the guest as UTF-8.
  func objectName(_ node: JSONNode, path: String) throws(ScriptError) -> Operand {
    guard case .string(let text) = node, !text.isEmpty, !text.utf8.contains(0) else {
      throw ScriptError(path, "must be an NT object name such as \"\\\\??\\\\C:\\\\file.txt\" (a non-empty string)")
    }
    guard text.utf8.count <= FileObjectNames.maximumNameBytes else {
      throw ScriptError(path, "is longer than \(FileObjectNames.maximumNameBytes) bytes")
    }
    return .text(text)
  }

  /// A number: a JSON integer, "0x…", "4096", "64KiB", or "$alias" with an
  /// optional "+"/"-" and a term ("$r1+0x1000", "$top-64KiB").
  func number(_ node: JSONNode, path: String, aliases: Bool = true) throws(ScriptError) -> Operand {
    switch node {
    case .number(let literal): return .immediate(try located(ScriptValues.integer(literal: literal), path))
    case .string(let text):
      let trimmed = text.trimmingCharacters(in: .whitespaces)
      if trimmed.hasPrefix("$") {
        guard aliases else { throw ScriptError(path, "takes no alias") }
        return try aliasReference(trimmed, path: path)
      }
      guard let term = ScriptValues.term(trimmed) else {
        throw ScriptError(path, "\"\(text)\" is not a number, hex number, size or alias ($name)")
      }
      return .immediate(try located(term, path))
    default:
      throw ScriptError(path, "must be a number, not \(node.kind)")
    }
  }

  /// "$name", "$name+term" or "$name-term".
  func aliasReference(_ text: String, path: String) throws(ScriptError) -> Operand {
    let body = text.dropFirst()
    let sign = body.firstIndex { $0 == "+" || $0 == "-" }
    let name = String(body[..<(sign ?? body.endIndex)]).trimmingCharacters(in: .whitespaces)
    guard let slot = slots[name] else {
      throw ScriptError(path, "unknown alias \"$\(name)\" (no earlier step saves it)")
    }
    guard let sign else { return .alias(name: name, slot: slot, offset: 0) }
    let termText = String(body[body.index(after: sign)...]).trimmingCharacters(in: .whitespaces)
    guard let term = ScriptValues.term(termText) else {
      throw ScriptError(path, "\"\(termText)\" after \"$\(name)\" is not a number, hex number or size")
    }
    let offset = try located(term, path)
    return .alias(name: name, slot: slot, offset: body[sign] == "+" ? offset : 0 &- offset)
  }

  /// ProcessHandle: a name an earlier CreateProcess gave, or a raw number.
  func handle(_ node: JSONNode, path: String) throws(ScriptError) -> Operand {
    if case .string(Self.systemProcessName) = node {
      throw ScriptError(
        path,
        "\"System\" (system space) is a ProcessHandle only NtMapViewOfSection, NtUnmapViewOfSection and Touch take")
    }
    if case .string(let name) = node, Self.isIdentifier(name) {
      guard handles.contains(name), let slot = slots[name] else {
        throw ScriptError(path, "unknown process \"\(name)\" (no earlier CreateProcess has \"as\": \"\(name)\")")
      }
      return .alias(name: name, slot: slot, offset: 0)
    }
    return try number(node, path: path)
  }

  /// Flags of `table`: a number, or names and numbers joined by "|".
  func flags(
    _ node: JSONNode, _ table: [(name: String, value: UInt32)], what: String, path: String
  ) throws(ScriptError) -> UInt32 {
    switch node {
    case .number(let literal):
      let value = try located(ScriptValues.integer(literal: literal), path)
      guard let bits = UInt32(exactly: value) else { throw ScriptError(path, "\(literal) does not fit in 32 bits") }
      return bits
    case .string(let text): return try located(ScriptValues.flags(text, table, what: what), path)
    default: throw ScriptError(path, "must be \(what) names joined by '|' or a number, not \(node.kind)")
    }
  }

  /// "expect": a status name or "0x…", or a non-empty array of them.
  func statuses(_ node: JSONNode, _ path: String) throws(ScriptError) -> [UInt32] {
    if case .array(let list) = node {
      guard !list.isEmpty else { throw ScriptError(path, "must name at least one status") }
      var result: [UInt32] = []
      for (n, item) in list.enumerated() { result.append(try status(item, "\(path)[\(n)]")) }
      return result
    }
    return [try status(node, path)]
  }

  func status(_ node: JSONNode, _ path: String) throws(ScriptError) -> UInt32 {
    guard case .string(let text) = node else { throw ScriptError(path, "must be a status name or \"0x…\"") }
    if let known = NtNames.statuses.first(where: { $0.name == text }) { return known.value }
    if text.lowercased().hasPrefix("0x"), case .success(let value)? = ScriptValues.term(text),
      let status = UInt32(exactly: value)
    {
      return status
    }
    let table = NtNames.statuses
    throw ScriptError(path, "unknown status \"\(text)\"" + ScriptValues.suggestion(text, table))
  }

  /// `result`'s value, or its error at `path`.
  func located<T>(_ result: Result<T, ScriptError>, _ path: String) throws(ScriptError) -> T {
    switch result {
    case .success(let value): return value
    case .failure(let error): throw ScriptError(path, error.problem)
    }
  }

  /// An object with exactly `keys` allowed and `required` present; an
  /// unknown key is "an unknown parameter of `owner`" when there is one.
  func object(
    _ node: JSONNode, _ path: String, keys: Set<String>, required: Set<String>, owner: String? = nil
  ) throws(ScriptError) -> [String: JSONNode] {
    guard case .object(let members) = node else {
      throw ScriptError(path, "must be an object, not \(node.kind)")
    }
    for (key, _) in members where !keys.contains(key) {
      let at = path.isEmpty ? key : "\(path).\(key)"
      let what = owner.map { "unknown parameter of \($0)" } ?? "unknown key"
      throw ScriptError(at, "\(what) (it takes: \(keys.sorted().joined(separator: ", ")))")
    }
    if let missing = required.sorted().first(where: { key in !members.contains { $0.key == key } }) {
      throw ScriptError(path.isEmpty ? missing : "\(path).\(missing)", "missing")
    }
    return Dictionary(uniqueKeysWithValues: members.map { ($0.key, $0.value) })
  }
}
