import Foundation

extension ConformanceBenchmark {
  /// The lines `mmlab bench` prints for the conformance suite.
  public var text: String {
    let f = floor
    var lines = [
      "conformance, paging suite (every \(sampleEvery)th case, \(jobs) guest\(jobs == 1 ? "" : "s") together): "
        + "\(cases) cases in \(String(format: "%.2f", seconds)) s = \(Int(casesPerSecond)) cases/s"
    ]
    lines.append(
      "  event floor per case: \(String(format: "%.1f", f.microsecondsPerCase)) µs = \(Int(f.casesPerSecond)) cases/s per guest, "
        + "\(Int(floorCasesPerSecond)) for \(jobs) (measured \(jobs == 1 ? "alone" : "side by side")); runner/floor \(String(format: "%.2f", floorRatio)), "
        + "target >= \(String(format: "%.2f", Self.floorTargetRatio)): \(floorRatio >= Self.floorTargetRatio ? "met" : "NOT met")"
    )
    lines.append(
      "  events (µs): user access \(String(format: "%.2f", f.userAccess)), user #PF \(String(format: "%.1f", f.userFault)), "
        + "supervisor load \(String(format: "%.2f", f.supervisorAccess)), supervisor #PF \(String(format: "%.1f", f.supervisorFault)), "
        + "block (CR3 load, controls, mode switch) \(String(format: "%.1f", f.rootLoad)) per \(Int(f.casesPerBlock)) cases"
    )
    let m = f.mix
    lines.append(
      "  attempts: user \(m.userCompleted) completed + \(m.userRepeated) repeated + \(m.userFaulted) faulted, "
        + "supervisor \(m.supervisorCompleted) completed + \(m.supervisorFaulted) faulted; "
        + "\(String(format: "%.2f", f.attemptsPerCase)) per case")
    return lines.joined(separator: "\n") + "\n"
  }

  /// The same as a JSON object.
  public var json: [String: Any] {
    let f = floor
    return [
      "cases": cases, "seconds": seconds, "jobs": jobs, "sampleEvery": sampleEvery, "casesPerSecond": casesPerSecond,
      "floorRatio": floorRatio, "floorCasesPerSecond": floorCasesPerSecond, "floorTargetRatio": Self.floorTargetRatio,
      "platform": platform,
      "floor": [
        "microsecondsPerCase": f.microsecondsPerCase, "casesPerSecond": f.casesPerSecond,
        "userAccessMicroseconds": f.userAccess, "userFaultMicroseconds": f.userFault,
        "supervisorAccessMicroseconds": f.supervisorAccess, "supervisorFaultMicroseconds": f.supervisorFault,
        "blockMicroseconds": f.rootLoad, "casesPerBlock": f.casesPerBlock, "attemptsPerCase": f.attemptsPerCase,
      ] as [String: Any],
    ]
  }
}
