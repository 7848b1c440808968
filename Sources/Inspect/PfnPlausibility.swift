import GuestABI
import X86Paging

/// Numbers a decoded PFN database claims that the guest it came from cannot hold: a list
/// total above the pages there are, a list end outside the database, VADs committing more
/// pages than they span. `pfn` flags them as corrupt, in text and JSON, instead of printing
/// them as facts.
public struct PfnCorruption: Sendable, Hashable, CustomStringConvertible {
  /// Where the number is ("lists.free.total", "processes[2].vads[0].committedPages").
  public var field: String
  public var value: UInt64
  /// What the guest allows, in words.
  public var bound: String

  public var description: String { "\(field) = \(value): corrupt, \(bound)" }

  public var json: [String: Any] { ["field": field, "value": value, "bound": bound] }
}

extension PfnReport {
  /// Every decoded number beyond what the guest's RAM allows.
  public var corruptions: [PfnCorruption] {
    let pages = state.pfnCount
    var found: [PfnCorruption] = []
    let ofGuest = "more than the \(pages) pages of this guest"
    var sum: UInt64 = 0
    for head in state.listHeads {
      let name = "lists.\(head.location)"
      if head.total > pages { found.append(PfnCorruption(field: name + ".total", value: head.total, bound: ofGuest)) }
      sum = sum.addingReportingOverflow(head.total).overflow ? .max : sum + head.total
      for (end, pfn) in [("first", head.first), ("last", head.last)]
      where pfn != PageFrameRecord.noPage && UInt64(pfn) >= pages {
        found.append(
          PfnCorruption(field: "\(name).\(end)", value: UInt64(pfn), bound: "a PFN past the database's \(pages)"))
      }
    }
    if sum > pages, !found.contains(where: { $0.field.hasSuffix(".total") }) {
      found.append(PfnCorruption(field: "lists (sum of totals)", value: sum, bound: ofGuest))
    }
    if state.availablePages > pages {
      found.append(PfnCorruption(field: "availablePages", value: state.availablePages, bound: ofGuest))
    }
    for (p, process) in state.processes.enumerated() {
      guard case .success(let vads) = state.vadTable(of: process) else { continue }
      for (v, vad) in vads.enumerated() {
        let span = vad.end > vad.start ? (vad.end - vad.start + 0xFFF) >> 12 : 0
        if UInt64(vad.committedPages) > span {
          found.append(
            PfnCorruption(
              field: "processes[\(p)].vads[\(v)].committedPages", value: UInt64(vad.committedPages),
              bound: "more than the \(span) pages the VAD spans"))
        }
      }
    }
    return found
  }
}
