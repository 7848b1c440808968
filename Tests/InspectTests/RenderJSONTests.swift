import Foundation
import Inspect
import Testing

@Suite("renderJSON")
struct RenderJSONTests {
  @Test("sorted keys, Foundation's layout, and what Foundation reads back is what went in")
  func roundTrip() throws {
    let object: [String: Any] = [
      "b": [1, -2, UInt64.max, 0.5, 3.0, 1e300] as [Any], "a": "quote \" slash / back \\ tab \t nl \n \u{1} é",
      "nested": ["z": true, "y": false, "x": [:] as [String: Any], "w": [] as [Any]] as [String: Any],
      "n": NSNull(),
    ]
    let text = renderJSON(object)
    #expect(
      text.hasPrefix("{\n  \"a\" : \"quote \\\" slash \\/ back \\\\ tab \\t nl \\n \\u0001 é\",\n  \"b\" : [\n    1,"))
    #expect(text.hasSuffix("}\n"))
    let back = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    #expect(back["a"] as? String == object["a"] as? String)
    let numbers = try #require(back["b"] as? [Any])
    #expect(
      "\(numbers)"
        == "\(try JSONSerialization.jsonObject(with: JSONSerialization.data(withJSONObject: object["b"]!)) as! [Any])")
    let nested = try #require(back["nested"] as? [String: Any])
    #expect(nested["z"] as? Bool == true && nested["y"] as? Bool == false)
    #expect((nested["x"] as? [String: Any])?.isEmpty == true && (nested["w"] as? [Any])?.isEmpty == true)
    #expect(back["n"] is NSNull)
    #expect(
      Array(text.split(separator: "\n").dropFirst().prefix(4).map { $0.trimmingCharacters(in: .whitespaces).prefix(3) })
        == ["\"a\"", "\"b\"", "1,", "-2,"])
  }
}
