import Foundation

extension BenchmarkReport {
  /// The figures for a person, with each target and whether it was met.
  public func text(optimized: Bool) -> String {
    var lines = ["mmlab bench on \(platform)"]
    if !optimized { lines.append("note: debug build; figures are not representative (swift build -c release)") }
    lines.append(
      "boot (VM creation to first checkpoint): median \(format(boot.median, 3)) ms over \(boot.count) boots "
        + "(min \(format(boot.minimum, 3)), max \(format(boot.maximum, 3))); "
        + "target <= \(format(Self.bootTargetMilliseconds, 0)) ms: \(verdict(boot.median <= Self.bootTargetMilliseconds))"
    )
    lines.append(
      "page-table walk: \(walkLeaves) leaves in \(walkTables) tables; median \(format(walkRate.median / 1e6, 1)) "
        + "M leaf PTEs/s over \(walkRate.count) walks (min \(format(walkRate.minimum / 1e6, 1)), "
        + "max \(format(walkRate.maximum / 1e6, 1))); target >= \(format(Self.walkTargetLeavesPerSecond / 1e6, 0)) M/s: "
        + verdict(walkRate.median >= Self.walkTargetLeavesPerSecond))
    let frequency = tscKHz.map { ", TSC \(format(Double($0) / 1000, 1)) MHz" } ?? ", TSC frequency unknown"
    lines.append("floor costs measured by the guest (rdtsc, median of batches\(frequency)):")
    for cost in floorCosts {
      let time = cost.nanoseconds.map { "\(format($0 / 1000, 2)) µs" } ?? "?"
      lines.append("  \(cost.name): \(time) (\(cost.medianTicks) ticks, \(cost.iterations) iterations)")
    }
    if floorCosts.isEmpty { lines.append("  (the guest reported none)") }
    if let ratio = demandZeroRatio {
      lines.append(
        "demand-zero fault / bare #PF round trip: \(format(ratio, 2))x; target <= \(format(Self.demandZeroTargetRatio, 2))x: "
          + verdict(ratio <= Self.demandZeroTargetRatio))
    }
    lines.append(
      "a Linux process on the host, first touch of an anonymous page: median \(format(hostPageFault.median, 2)) µs (context)"
    )
    lines += validationLines
    return lines.joined(separator: "\n") + "\n"
  }

  /// The validation figure, the state it was measured in, and the plain read beside it.
  var validationLines: [String] {
    let state = validationState
    let ratio = validationToReadRatio.map { "\(format($0, 2))x" } ?? "?"
    let gigabytesPerSecond = Double(plainReadBytes) / max(plainRead.median / 1000, 1e-9) / 1e9
    return [
      "full validation of a \(Self.validationMemoryMiB) MiB guest at the end of the stress run (seed "
        + "\(Self.validationStressSeed), checkpoint \(Self.validationCheckpoint)): median \(format(validation.median, 2)) ms "
        + "over \(validation.count) runs (min \(format(validation.minimum, 2)), max \(format(validation.maximum, 2))); "
        + "target <= \(format(Self.validationTargetMilliseconds, 0)) ms: "
        + verdict(validation.median <= Self.validationTargetMilliseconds),
      "  its state (checked, and clean): \(state.processes) processes, \(state.validLeafPTEs) valid leaf PTEs, "
        + "\(state.zeroedPages) zeroed pages (\(state.zeroedPages >> 8) MiB, each read back), \(state.pfns) PFNs",
      "  plain read of the same bytes (\(plainReadBytes >> 20) MiB: the PFN database and every zeroed page, a sum of every 64-bit word), in the same runs: "
        + "median \(format(plainRead.median, 2)) ms (\(format(gigabytesPerSecond, 1)) GB/s); validation / plain read: \(ratio)",
    ]
  }

  /// The figures for a program.
  public func json(optimized: Bool) -> [String: Any] {
    var costs: [[String: Any]] = []
    for cost in floorCosts {
      var entry: [String: Any] = [
        "event": cost.name, "kind": String(describing: cost.kind), "medianTicks": cost.medianTicks,
        "iterations": cost.iterations,
      ]
      if let nanoseconds = cost.nanoseconds { entry["medianNanoseconds"] = nanoseconds }
      costs.append(entry)
    }
    var walk = spreadObject(walkRate, unit: "leaves/s")
    walk["leaves"] = walkLeaves
    walk["tables"] = walkTables
    walk["targetLeavesPerSecond"] = Self.walkTargetLeavesPerSecond
    var bootObject = spreadObject(boot, unit: "ms")
    bootObject["targetMilliseconds"] = Self.bootTargetMilliseconds
    var object: [String: Any] = [
      "platform": platform.jsonObject, "optimizedBuild": optimized, "boot": bootObject, "walk": walk,
      "floorCosts": costs,
    ]
    if let tscKHz { object["tscKHz"] = tscKHz }
    if let ratio = demandZeroRatio {
      object["demandZeroRatio"] = ["value": ratio, "target": Self.demandZeroTargetRatio]
    }
    object["hostPageFault"] = spreadObject(hostPageFault, unit: "µs")
    object["validation"] = validationObject
    return object
  }

  /// The validation figure with its state, the plain read and their ratio.
  var validationObject: [String: Any] {
    var object = spreadObject(validation, unit: "ms")
    object["pfns"] = validationState.pfns
    object["targetMilliseconds"] = Self.validationTargetMilliseconds
    object["scenario"] = "stress"
    object["seed"] = Self.validationStressSeed
    object["checkpoint"] = Self.validationCheckpoint
    object["state"] = [
      "processes": validationState.processes, "validLeafPTEs": validationState.validLeafPTEs,
      "zeroedPages": validationState.zeroedPages, "pfns": validationState.pfns,
    ]
    var read = spreadObject(plainRead, unit: "ms")
    read["bytes"] = plainReadBytes
    object["plainRead"] = read
    if let ratio = validationToReadRatio { object["validationToPlainReadRatio"] = ratio }
    return object
  }
}

private func spreadObject(_ spread: Spread, unit: String) -> [String: Any] {
  ["median": spread.median, "min": spread.minimum, "max": spread.maximum, "samples": spread.count, "unit": unit]
}

private func verdict(_ met: Bool) -> String { met ? "met" : "NOT met" }

func format(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }
