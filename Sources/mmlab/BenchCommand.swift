import ArgumentParser
import Conformance
import Foundation
import GuestABI
import Inspect
import Script

/// `mmlab bench`: the figures later work is measured against.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure boot time, page-table walk throughput and the platform's floor costs.",
    discussion: """
      Prints the platform, the boot time (VM creation to the first checkpoint, median of \
      --boot-runs boots), the walk throughput (leaf PTEs per second over the guest's tables with \
      256 MiB mapped in 4 KiB pages, median of --walk-runs walks), and what the platform's \
      unavoidable events cost as the guest measures them with rdtsc (a #PF round trip, an \
      INVLPG, a write to a live page-table page, a port exit), and the full validation of a \
      1 GiB guest at the end of the seeded stress run (three processes with resident heaps, a \
      third of RAM stocked on the zeroed list) beside a plain read of the same bytes in the same \
      runs; the bench fails if that guest has a violation or falls short of the processes, \
      valid PTEs or zeroed pages (a quarter of RAM) it must have. Then the conformance suite's \
      rate over a uniform sample of the paging suite (every --conformance-sample-th case, \
      --jobs guests) against the event floor: what the platform's unavoidable events of an \
      average case cost, measured by the guest in the same run. Then the raw disk: the guest's \
      virtio-blk driver reading and writing a 32 MiB scratch disk sequentially in 64 KiB and 1 MiB \
      requests, beside this host's pread(2) of the same file, on each backend. Then sections and Cc \
      on KVMMachine: Cc's sequential read of a 4 MiB file cold and warm beside a non-cached NtReadFile \
      and the raw driver's 1 MiB read, and per page a file-backed first touch, a touch of resident \
      section pages through a second view and a demand-zero touch. Build with -c release for \
      figures worth quoting: a debug build says so in its output.
      """
  )

  @OptionGroup var boot: BootArguments

  @Option(name: .long, help: "Boots to time.", transform: StrictArgument.count)
  var bootRuns = 21

  @Option(name: .long, help: "Walks to time.", transform: StrictArgument.count)
  var walkRuns = 21

  @Option(name: .long, help: "Output format: text or json.")
  var format: ReportFormat = .text

  @Option(
    name: .long,
    help:
      "Run every Nth case of the paging suite for its rate (1: all of it; 0: skip). Pick N prime: a power of two strides along the case index's flag bits and samples a biased mix.",
    transform: StrictArgument.count
  )
  var conformanceSample = 17

  @Option(
    name: .long, help: "Steps of the script figures (NtQueryVirtualMemory calls; 0: skip them).",
    transform: StrictArgument.count)
  var scriptSteps = 10_000

  @Option(name: .long, help: "Conformance guests run in parallel.", transform: StrictArgument.count)
  var jobs = ProcessInfo.processInfo.activeProcessorCount

  @Flag(
    inversion: .prefixedNo,
    help: "Also boot and dump on QEMU with KVM and with TCG through libvirt (qemu:///system), beside KVMMachine.")
  var backends = true

  func validate() throws {
    guard (1...10_000).contains(bootRuns), (1...10_000).contains(walkRuns) else {
      throw ValidationError("--boot-runs and --walk-runs must be between 1 and 10000")
    }
    guard (0...1_000_000).contains(scriptSteps) else { throw ValidationError("--script-steps must be 0...1000000") }
    guard (0...1_000_000).contains(conformanceSample), (1...64).contains(jobs) else {
      throw ValidationError("--conformance-sample must be 0...1000000 and --jobs 1...64")
    }
  }

  func run() throws {
    let report = try BenchmarkReport.measure(
      BenchmarkOptions(
        boot: boot.options(), bootRuns: bootRuns, walkRuns: walkRuns, validationGuest: BenchValidationGuest.boot))
    let conformance =
      conformanceSample == 0
      ? nil : try ConformanceBenchmark.measure(boot: boot.options(), jobs: jobs, sampleEvery: conformanceSample)
    let scripts = scriptSteps == 0 ? nil : try ScriptBenchmark.measure(boot: boot.options(), steps: scriptSteps)
    let portExit = report.floorCosts.first { $0.kind == .portExit }?.nanoseconds.map { $0 / 1000 }
    let userTrap = report.floorCosts.first { $0.kind == .bareUserFault }?.nanoseconds.map { $0 / 1000 }
    let figures = try backends ? measureBackends() : []
    let disks = try measureDisks(libvirt: !figures.isEmpty)
    let sections = try SectionBenchmark.measure(boot: boot.options())
    let rawRead = disks.first?.guestRead[DiskBenchLayout.largeRequest]
    switch format {
    case .text:
      Terminal.writeReport(
        report.text(optimized: BuildConfiguration.optimized)
          + (scripts?.text(portExitMicroseconds: portExit, userTrapMicroseconds: userTrap) ?? "")
          + (conformance?.text ?? "")
          + (figures.isEmpty ? "" : BackendBenchmark.text(figures)) + DiskBenchmark.text(disks)
          + sections.text(rawDriverMiBps: rawRead, bareFaultMicroseconds: userTrap))
    case .json:
      var object = report.json(optimized: BuildConfiguration.optimized)
      object["conformance"] = conformance?.json
      object["script"] = scripts?.json
      if !figures.isEmpty { object["backends"] = BackendBenchmark.json(figures) }
      object["disk"] = DiskBenchmark.json(disks)
      object["sections"] = sections.json
      Terminal.writeReport(renderJSON(object))
    }
  }
}

extension BenchCommand {
  /// The backends side by side; when libvirt cannot be reached, a note and none.
  func measureBackends() throws -> [BackendFigures] {
    do {
      return try BackendBenchmark.backends.map {
        try BackendBenchmark.measure(boot.options(), backend: $0, bootRuns: 3, dumpRuns: 5)
      }
    } catch SessionError.machine(.libvirt(let why)) {
      Terminal.note("the libvirt backends are left out: \(why) (--no-backends to skip them)")
      return []
    }
  }
}

extension BenchCommand {
  /// The raw disk figures on KVMMachine, and on the libvirt backends when they answered.
  func measureDisks(libvirt: Bool) throws -> [DiskFigures] {
    let backends = libvirt ? BackendBenchmark.backends : [.kvm]
    return try backends.map { try DiskBenchmark.measure(boot.options(), backend: $0) }
  }
}

enum BuildConfiguration {
  #if DEBUG
    static let optimized = false
  #else
    static let optimized = true
  #endif
}
