import Foundation
import GuestABI

/// The JSON Schema (draft 2020-12) of the script format, made from the call
/// table and NT's names, so it can never disagree with what mmlab reads. The
/// package ships it as Sources/Script/Schema/script.schema.json (a test keeps
/// that file equal to this).
public enum ScriptSchema {
  /// A term: hex, decimal, or a size.
  static let term = "(0[xX][0-9A-Fa-f_]+|[0-9][0-9_]*(B|KiB|MiB|GiB|TiB)?)"
  static let alias = "\\$[A-Za-z_][A-Za-z0-9_]*"

  static var number: [String: Any] {
    [
      "description": "An integer, \"0x...\", a size (\"64KiB\", \"2MiB\") or an alias with an offset (\"$r1+0x1000\").",
      "oneOf": [
        ["type": "integer", "minimum": -9_223_372_036_854_775_808 as Int64, "maximum": UInt64.max],
        ["type": "string", "pattern": "^\\s*(\(term)|\(alias)(\\s*[+-]\\s*\(term))?)\\s*$"],
      ],
    ]
  }

  static func flags(_ table: [(name: String, value: UInt32)], _ what: String) -> [String: Any] {
    let names = table.map(\.name).joined(separator: "|")
    let part = "\\s*(\(names)|\(term))\\s*"
    return [
      "description": "\(what) names joined by \"|\", or a number.",
      "oneOf": [
        ["type": "integer", "minimum": 0, "maximum": 4_294_967_295 as Int64],
        ["type": "string", "pattern": "^\(part)(\\|\(part))*$"],
      ],
    ]
  }

  static var status: [String: Any] {
    ["type": "string", "pattern": "^(\(NtNames.statuses.map(\.name).joined(separator: "|"))|0[xX][0-9A-Fa-f]{1,8})$"]
  }

  static func parameter(_ kind: ParameterKind) -> [String: Any] {
    switch kind {
    case .number: return ["$ref": "#/$defs/number"]
    case .handle:
      return ["oneOf": [["$ref": "#/$defs/number"], ["type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"]]]
    case .processOrSystem: return parameter(.handle)
    case .memoryFlags: return ["$ref": "#/$defs/memoryFlags"]
    case .protection: return ["$ref": "#/$defs/protection"]
    case .access: return ["enum": TouchAccess.allCases.map(\.rawValue)]
    case .informationClass: return ["oneOf": [["const": "MemoryBasicInformation"], ["$ref": "#/$defs/number"]]]
    case .fileHandle:
      return ["oneOf": [["$ref": "#/$defs/number"], ["type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"]]]
    case .objectName: return ["type": "string", "minLength": 1, "maxLength": FileObjectNames.maximumNameBytes]
    case .fileAccess: return flagSchema(NtNames.fileAccess)
    case .shareAccess: return flagSchema(NtNames.shareAccess)
    case .createDisposition:
      return ["oneOf": [["enum": NtNames.createDispositions.map(\.name)], ["$ref": "#/$defs/number"]]]
    case .createOptions: return flagSchema(NtNames.createOptions)
    case .fileInformationClass:
      return ["oneOf": [["enum": NtNames.fileInformationClasses.map(\.name)], ["$ref": "#/$defs/number"]]]
    case .sectionHandle: return parameter(.fileHandle)
    case .sectionName: return ["oneOf": [["type": "null"], parameter(.objectName)]]
    case .sectionAccess: return flagSchema(NtNames.sectionAccess)
    case .sectionAttributes: return flagSchema(NtNames.sectionAttributes)
    case .inheritDisposition:
      return ["oneOf": [["enum": NtNames.inheritDispositions.map(\.name)], ["$ref": "#/$defs/number"]]]
    case .sectionInformationClass:
      return ["oneOf": [["enum": NtNames.sectionInformationClasses.map(\.name)], ["$ref": "#/$defs/number"]]]
    }
  }

  /// Names of `table` joined by "|" (with numbers), or a number.
  static func flagSchema(_ table: [(name: String, value: UInt32)]) -> [String: Any] {
    let name = "(\(table.map(\.name).joined(separator: "|"))|0[xX][0-9A-Fa-f]+|[0-9]+)"
    return ["oneOf": [["type": "integer", "minimum": 0], ["type": "string", "pattern": "^\(name)(\\|\(name))*$"]]]
  }

  /// One call's step object.
  static func step(_ spec: CallSpec) -> [String: Any] {
    var properties: [String: Any] = [
      "call": ["const": spec.name],
      "expect": [
        "oneOf": [["$ref": "#/$defs/status"], ["type": "array", "minItems": 1, "items": ["$ref": "#/$defs/status"]]]
      ],
      "save": [
        "type": "object", "propertyNames": ["pattern": "^[A-Za-z_][A-Za-z0-9_]*$"],
        "additionalProperties": ["enum": spec.outputs.map(\.name)],
      ],
    ]
    var required = ["call"] + spec.inputs.map(\.name)
    for input in spec.inputs { properties[input.name] = parameter(input.kind) }
    for key in ScriptReader.ownKeys(spec).sorted() {
      properties[key] = ["type": "string", "minLength": 1]
      required.append(key)
    }
    if ScriptReader.namesFile(spec) { properties["as"] = ["type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"] }
    return ["type": "object", "additionalProperties": false, "required": required, "properties": properties]
  }

  /// The whole schema.
  public static var document: [String: Any] {
    var defs: [String: Any] = [
      "number": number, "memoryFlags": flags(NtNames.memoryFlags, "MEM_*"),
      "protection": flags(NtNames.protections, "PAGE_*"), "status": status,
    ]
    for spec in CallSpec.all { defs[spec.name] = step(spec) }
    return [
      "$schema": "https://json-schema.org/draft/2020-12/schema",
      "title": "mmlab script",
      "description": "NT calls as data: mmlab script FILE runs them in the guest's memory manager (README: Scripts).",
      "type": "object", "additionalProperties": false, "required": ["steps"],
      "properties": [
        "memory": [
          "type": "integer", "minimum": ScriptReader.memoryRange.lowerBound,
          "maximum": ScriptReader.memoryRange.upperBound,
        ],
        "disks": [
          "type": "array", "maxItems": 8, "items": ["type": "string", "minLength": 1],
          "description": "Disk images (\"default\": the package's FAT32 volume), each run on a private copy.",
        ],
        "steps": [
          "type": "array", "minItems": 1,
          "items": ["oneOf": CallSpec.all.map { ["$ref": "#/$defs/\($0.name)"] }],
        ],
      ],
      "$defs": defs,
    ]
  }

  /// The schema as the shipped file holds it.
  public static var text: String {
    guard
      let data = try? JSONSerialization.data(
        withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    else { preconditionFailure("ScriptSchema.text: the schema holds a value JSON cannot") }
    return String(decoding: data, as: UTF8.self) + "\n"
  }
}
