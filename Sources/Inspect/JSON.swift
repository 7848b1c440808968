import Foundation

/// Serializes a report object (dictionaries, arrays, strings, numbers, Bools)
/// as JSON with sorted keys, so output is stable run to run.
public func renderJSON(_ object: Any) -> String {
  guard JSONSerialization.isValidJSONObject(object),
    let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]),
    let text = String(data: data, encoding: .utf8)
  else {
    preconditionFailure("renderJSON: a report built a value JSON cannot hold")
  }
  return text + "\n"
}
