import Foundation
import Testing

@testable import Script

/// The shipped JSON Schema is the one the call table makes, and it reads as
/// JSON naming every call.
@Suite("The script format's JSON Schema")
struct ScriptSchemaTests {
  static let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../Sources/Script/Schema/script.schema.json")

  @Test("Sources/Script/Schema/script.schema.json is what `mmlab script --schema` prints")
  func shippedFileIsCurrent() throws {
    let text = try String(contentsOf: Self.shipped, encoding: .utf8)
    #expect(
      text == ScriptSchema.text, "regenerate it: mmlab script --schema > Sources/Script/Schema/script.schema.json")
  }

  @Test("every call has a step schema with exactly its parameters")
  func everyCallIsDescribed() throws {
    guard case .object(let top) = try JSONReader.parse(ScriptSchema.text),
      case .object(let defs)? = top.first(where: { $0.key == "$defs" })?.value
    else { Issue.record("no $defs"); return }
    for spec in CallSpec.all {
      guard case .object(let step)? = defs.first(where: { $0.key == spec.name })?.value,
        case .object(let properties)? = step.first(where: { $0.key == "properties" })?.value
      else {
        Issue.record("no schema for \(spec.name)")
        continue
      }
      let names = Set(properties.map(\.key))
      let expected = Set(spec.inputs.map(\.name)).union(["call", "expect", "save"]).union(ScriptReader.ownKeys(spec))
        .union(ScriptReader.namesFile(spec) ? ["as"] : [])
      #expect(names == expected, "\(spec.name)")
    }
  }
}
