import Conformance
import Foundation
import GuestABI
import Inspect
import Machine
import Script
import Testing

/// Whether the libvirt tests run: when libvirtd's socket is there, or when
/// MMLAB_REQUIRE_LIBVIRT=1 demands it (then they fail without it).
enum LibvirtTests {
  static let required = ProcessInfo.processInfo.environment["MMLAB_REQUIRE_LIBVIRT"] == "1"
  static let enabled = required || FileManager.default.fileExists(atPath: "/var/run/libvirt/libvirt-sock")
  static let reason: Comment =
    "libvirtd is not running (Scripts/start-libvirt.sh; MMLAB_REQUIRE_LIBVIRT=1 to fail instead)"
  static let kvm = Backend.libvirt(uri: "qemu:///system", accelerator: .kvm)
  static let tcg = Backend.libvirt(uri: "qemu:///system", accelerator: .tcg)
}

@Suite("The guest under libvirt", .enabled(if: LibvirtTests.enabled, LibvirtTests.reason), .serialized)
struct LibvirtMachineTests {
  @Test(
    "a scenario validates clean under QEMU with KVM and under TCG", arguments: [LibvirtTests.kvm, LibvirtTests.tcg])
  func scenarioValidates(backend: Backend) throws {
    let script = try Script.parse(try #require(ScriptLibrary.text("vm-basics")))
    let report = try ScriptRunner(
      script: script, options: ScriptOptions(boot: BootOptions(timeoutSeconds: 60, backend: backend))
    ).run()
    #expect(report.succeeded, "\(report.text)")
    #expect(report.steps.filter { $0.checkpointName != nil }.count == 3)
    #expect(report.platform.contains("libvirt"))
  }

  @Test("registers from QEMU's monitor agree with KVMMachine's at the first checkpoint")
  func registersAgree() throws {
    let direct = try Session(options: BootOptions())
    try direct.run(toCheckpoint: "booted")
    let expected = try direct.registers()
    for backend in [LibvirtTests.kvm, LibvirtTests.tcg] {
      let session = try Session(options: BootOptions(timeoutSeconds: 60, backend: backend))
      try session.run(toCheckpoint: "booted")
      let registers = try session.registers()
      #expect(registers.cr3 == expected.cr3, "\(backend)")
      #expect(registers.cr0 & 0x8001_0001 == 0x8001_0001, "PG, WP, PE")
      #expect(registers.efer & 0x500 == 0x500, "LME, LMA")
      #expect(registers.cpl == 0)
    }
  }

  @Test("a guest that hangs is stopped by the watchdog and its domain destroyed")
  func hungGuestLeavesNoDomain() throws {
    let options = BootOptions(timeoutSeconds: 3, commandLine: ["selftest.hang"], backend: LibvirtTests.tcg)
    let session = try Session(options: options)
    let name = try #require((session.machine as? LibvirtMachine)?.domainName)
    #expect(try LibvirtMachine.mmlabDomains().contains(name))
    #expect(throws: SessionError.self) { try session.run(toCheckpoint: "never") }
    // Its own domain, by name: other tests may run domains of their own meanwhile.
    #expect(!(try LibvirtMachine.mmlabDomains().contains(name)))
  }

  @Test("a connection that cannot be made is a clear error")
  func unreachableDaemon() throws {
    let options = BootOptions(backend: .libvirt(uri: "qemu+unix:///system?socket=/nonexistent", accelerator: .tcg))
    do {
      _ = try Session(options: options)
      Issue.record("the session started without a daemon")
    } catch {
      #expect("\(error)".contains("virConnectOpen"))
    }
  }
}

@Suite("Conformance agreement across backends", .enabled(if: LibvirtTests.enabled, LibvirtTests.reason), .serialized)
struct BackendAgreementTests {
  static func run(_ backend: Backend) throws -> ConformanceReport {
    let options = ConformanceOptions(
      suites: [.tlb, .canonical, .controls, .paging], shard: (1, 997), jobs: 1,
      boot: BootOptions(timeoutSeconds: 120, backend: backend), errata: try .bundled)
    return try ConformanceRunner(options: options).run()
  }

  /// Per family: passed, failed, expected failures, skipped.
  static func verdicts(_ report: ConformanceReport) -> [String: [Int]] {
    Dictionary(
      uniqueKeysWithValues: report.families.map {
        ($0.name, [$0.passed, $0.failed, $0.expectedFailures, $0.skipped])
      })
  }

  @Test("KVMMachine and QEMU with KVM give every family the same verdicts")
  func kvmAgreesWithLibvirtKVM() throws {
    let direct = try Self.run(.kvm)
    let libvirt = try Self.run(LibvirtTests.kvm)
    #expect(direct.failed == 0)
    #expect(Self.verdicts(direct) == Self.verdicts(libvirt))
  }

  @Test("under TCG every difference from the model is an erratum of QEMU's")
  func tcgDifferencesAreExplained() throws {
    let report = try Self.run(LibvirtTests.tcg)
    let failures = report.families.flatMap(\.mismatches).filter { $0.erratum == nil }
    #expect(report.failed == 0, "\(failures.prefix(3))")
    #expect(report.expectedFailures > 0, "TCG's reserved-bit error codes are expected to differ")
    #expect(report.platform.contains("qemu-tcg"))
  }
}

extension LibvirtMachineTests {
  /// What a remote daemon gets: guest RAM through virDomainMemoryPeek into a
  /// copy, answers over COM1 (forced here on the local daemon).
  @Test("without the shared RAM file, peeks and serial answers run the boot to a clean validation")
  func peekModeValidates() throws {
    var options = BootOptions(timeoutSeconds: 120, backend: LibvirtTests.tcg)
    options.libvirtMemoryAccess = .peek
    // Peek mode cannot write guest RAM, so no script batch reaches the guest
    // (mmlab script refuses it); the boot's own checkpoints are validated.
    let result = try ScenarioValidation.run(options)
    #expect(result.passed, "\(result.text)")
    #expect(result.checkpoints.map(\.checkpoint.name) == ["booted"])
  }
}

extension BackendAgreementTests {
  /// What a remote daemon gets by default: guest RAM read and written through a
  /// storage volume over the domain's RAM file (forced here on the local daemon).
  @Test("through the RAM volume the conformance runner agrees with the shared file")
  func ramVolumeAgrees() throws {
    var boot = BootOptions(timeoutSeconds: 120, backend: LibvirtTests.tcg)
    let options = { (boot: BootOptions) in
      ConformanceOptions(
        suites: [.controls, .tlb, .paging], shard: (3, 997), jobs: 1, boot: boot, errata: try .bundled)
    }
    let shared = try ConformanceRunner(options: try options(boot)).run()
    boot.libvirtMemoryAccess = .volume
    let volume = try ConformanceRunner(options: try options(boot)).run()
    #expect(volume.total > 1000)
    #expect(Self.verdicts(volume) == Self.verdicts(shared))
  }
}

extension LibvirtMachineTests {
  /// What a remote host gets: the guest image uploaded into a volume there
  /// (forced here on the local daemon), then booted from that file.
  @Test("a host without the image gets it uploaded, once, and boots it")
  func imageIsUploaded() throws {
    var options = BootOptions(timeoutSeconds: 60, backend: LibvirtTests.tcg)
    options.libvirtUploadImage = true
    options.libvirtMemoryAccess = .volume
    for _ in 0..<2 {
      let script = try Script.parse(try #require(ScriptLibrary.text("process-smoke")))
      #expect(try ScriptRunner(script: script, options: ScriptOptions(boot: options)).run().succeeded)
    }
    let uploaded = try FileManager.default.contentsOfDirectory(atPath: "/var/lib/libvirt/images/mmlab")
    #expect(uploaded.contains { $0.hasPrefix("mmlab-guest-") && $0.hasSuffix(".elf") })
  }
}
