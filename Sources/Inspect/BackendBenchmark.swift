import Foundation
import GuestABI
import Machine

/// One backend's figures in `mmlab bench`, side by side with the others.
public struct BackendFigures: Sendable {
  public var platform: String
  /// Milliseconds from creating the machine to the guest's first checkpoint.
  public var boot: Spread
  /// Milliseconds for mmlab's full dump of the guest's tables with every leaf
  /// listed (the bench region mapped: 65,536 leaves more), text included.
  public var dump: Spread
  public var leaves: Int
  /// Milliseconds for QEMU's own `info tlb` over the same guest, through
  /// libvirt's monitor passthrough; nil for KVMMachine (no QEMU).
  public var infoTLB: Spread?
  /// `info tlb` over mmlab's dump (target: at least 10).
  public var dumpSpeedup: Double? { infoTLB.map { $0.median / max(dump.median, 1e-9) } }
  public static let dumpSpeedupTarget = 10.0
}

/// Boot and dump on KVMMachine, on QEMU with KVM and on QEMU's TCG through
/// libvirt, each measured the same way.
public enum BackendBenchmark {
  /// The backends measured: KVMMachine, then libvirt with KVM and with TCG.
  public static let backends: [Backend] = [
    .kvm, .libvirt(uri: "qemu:///system", accelerator: .kvm), .libvirt(uri: "qemu:///system", accelerator: .tcg),
  ]

  public static func measure(_ options: BootOptions, backend: Backend, bootRuns: Int, dumpRuns: Int)
    throws(SessionError)
    -> BackendFigures
  {
    var boot = options
    boot.backend = backend
    boot.timeoutSeconds = max(options.timeoutSeconds, 60)
    var bootSamples: [Double] = []
    for _ in 0..<max(bootRuns, 1) {
      let start = ContinuousClock.now
      let session = try Session(options: boot)
      try session.run(toCheckpoint: nil)
      bootSamples.append(milliseconds(ContinuousClock.now - start))
      (session.machine as? LibvirtMachine)?.destroy()
    }
    var mapped = boot
    mapped.commandLine.append(String(describing: GuestCommandLine.mapLargeRegion))
    let session = try Session(options: mapped)
    let checkpoint = try session.run(toCheckpoint: String(describing: CheckpointCode.largeRegionMapped.name))
    let snapshot = try GuestSnapshot(session: session, checkpoint: checkpoint)
    var dumpSamples: [Double] = []
    var leaves = 0
    for _ in 0..<max(dumpRuns, 1) {
      let start = ContinuousClock.now
      let report = PageTableDumpReport(
        context: snapshot.pagingContext, memory: snapshot.memory, options: .init(leaves: true))
      let sink = ReportSink.memory()
      leaves = report.writeText(source: snapshot.source, platform: nil, to: sink).leafCount
      dumpSamples.append(milliseconds(ContinuousClock.now - start))
      precondition(sink.byteCount > 0)
    }
    var infoTLB: Spread?
    if let libvirt = session.machine as? LibvirtMachine {
      var samples: [Double] = []
      for _ in 0..<3 {
        let start = ContinuousClock.now
        do { _ = try libvirt.monitorCommand("info tlb") } catch { throw .machine(error) }
        samples.append(milliseconds(ContinuousClock.now - start))
      }
      infoTLB = Spread(samples)
      libvirt.destroy()
    }
    return BackendFigures(
      platform: session.machine.platform.description, boot: Spread(bootSamples), dump: Spread(dumpSamples),
      leaves: leaves, infoTLB: infoTLB)
  }

  /// The lines `mmlab bench` prints for the backends.
  public static func text(_ figures: [BackendFigures]) -> String {
    var lines = ["backends side by side (boot to first checkpoint; full dump with every leaf, text included):"]
    for f in figures {
      var line =
        "  \(f.platform): boot \(format(f.boot.median, 1)) ms, dump of \(f.leaves) leaves \(format(f.dump.median, 1)) ms"
      if let tlb = f.infoTLB, let speedup = f.dumpSpeedup {
        line += ", QEMU `info tlb` \(format(tlb.median, 1)) ms: \(format(speedup, 1))x faster"
        line +=
          "; target >= \(Int(BackendFigures.dumpSpeedupTarget))x: \(speedup >= BackendFigures.dumpSpeedupTarget ? "met" : "NOT met")"
      }
      lines.append(line)
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// The same as JSON objects.
  public static func json(_ figures: [BackendFigures]) -> [[String: Any]] {
    figures.map { f in
      var object: [String: Any] = [
        "platform": f.platform, "bootMilliseconds": f.boot.median, "dumpMilliseconds": f.dump.median,
        "leaves": f.leaves,
      ]
      if let tlb = f.infoTLB { object["infoTLBMilliseconds"] = tlb.median }
      if let speedup = f.dumpSpeedup { object["dumpSpeedup"] = speedup }
      return object
    }
  }
}
