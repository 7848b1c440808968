import Foundation
import Testing

#if canImport(FoundationXML)
  import FoundationXML
#endif

@Suite("mmlab conformance: bad input")
struct ConformanceCLIInputTests {
  @Test("a suite the tool does not know is a clear error naming the ones it does")
  func unknownSuite() throws {
    let result = try MMLabProcess.run(["conformance", "--suite", "pagingg"])
    #expect(result.status != 0)
    #expect(result.standardError.contains("no suite \"pagingg\""))
    #expect(result.standardError.contains("tlb"))
  }

  @Test("a shard outside 1...N is refused", arguments: ["3/2", "0/4", "1/0", "a/b", "2"])
  func badShard(shard: String) throws {
    let result = try MMLabProcess.run(["conformance", "--shard", shard])
    #expect(result.status != 0)
    #expect(result.standardError.contains("--shard must be I/N"))
  }

  @Test("--jobs 0 and an unknown format are refused")
  func badJobsAndFormat() throws {
    #expect(try MMLabProcess.run(["conformance", "--jobs", "0"]).status != 0)
    let format = try MMLabProcess.run(["conformance", "--format", "xml"])
    #expect(format.status != 0)
    #expect(format.standardError.contains("junit"))
  }

  @Test("a malformed errata file is a clear error")
  func badErrata() throws {
    let path = temporaryPath("errata.json")
    try Data(#"{"errata": [{"id": "x"}]}"#.utf8).write(to: URL(filePath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    let result = try MMLabProcess.run(["conformance", "--suite", "controls", "--errata", path])
    #expect(result.status != 0)
    #expect(result.standardError.contains(path))
  }
}

@Suite("mmlab conformance on the real guest", .enabled(if: BootingCLITests.enabled, "/dev/kvm is not usable here"))
struct ConformanceCLIBootingTests {
  @Test("the controls suite writes JUnit XML a parser accepts, with the platform named")
  func junit() throws {
    let path = temporaryPath("conformance.xml")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let result = try MMLabProcess.run(["conformance", "--suite", "controls", "--format", "junit", "--output", path])
    #expect(result.status == 0, "\(result.standardError)")
    let data = try Data(contentsOf: URL(filePath: path))
    let parser = XMLParser(data: data)
    #expect(parser.parse(), "the JUnit report does not parse: \(String(describing: parser.parserError))")
    let text = String(decoding: data, as: UTF8.self)
    #expect(text.contains("<testsuites"))
    #expect(text.contains("name=\"platform\""))
  }

  @Test("TAP output has a plan matching its test points, and a filter narrows the run")
  func tap() throws {
    let result = try MMLabProcess.run(["conformance", "--suite", "tlb", "--filter", "invlpg", "--format", "tap"])
    #expect(result.status == 0, "\(result.standardError)")
    let lines = result.standardOutput.split(separator: "\n")
    #expect(lines.first == "TAP version 13")
    let plan = try #require(lines.first { $0.hasPrefix("1..") })
    let points = lines.filter { $0.hasPrefix("ok ") || $0.hasPrefix("not ok ") }
    #expect(plan == "1..\(points.count)")
    #expect(points.allSatisfy { $0.contains("invlpg") })
  }

  @Test("a filter that selects no case says so and exits 1")
  func filterSelectingNothing() throws {
    let result = try MMLabProcess.run(["conformance", "--suite", "controls", "--filter", "no-such-family"])
    #expect(result.status == 1, "\(result.standardOutput)")
    #expect(result.standardError.contains("nothing tested: no case was selected"))
    #expect(result.standardOutput.contains("0 passed, 0 failed, 0 expected failures, 0 skipped"))
  }

  @Test("a run whose every case is skipped says so and exits 1")
  func everyCaseSkipped() throws {
    // A skip erratum for this platform that keeps every controls write from running.
    let path = temporaryPath("skip-all.json")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let platforms = ["kvm-pvm", "kvm-intel", "kvm-amd", "qemu-tcg", "unknown"]
    let errata = platforms.map {
      #"{"id": "skip-\#($0)", "platform": "\#($0)", "suite": "controls", "skip": true, "match": {}, "explanation": "test"}"#
    }
    try Data("[\(errata.joined(separator: ","))]".utf8).write(to: URL(filePath: path))
    let result = try MMLabProcess.run(["conformance", "--suite", "controls", "--errata", path, "--format", "tap"])
    #expect(result.status == 1, "\(result.standardOutput)")
    #expect(result.standardError.contains("nothing tested: every selected case (40 cases) was skipped"))
    let points = result.standardOutput.split(separator: "\n").filter { $0.hasPrefix("ok ") }
    #expect(points.count == 40)
    #expect(points.allSatisfy { $0.contains("# SKIP erratum skip-") })
    #expect(result.standardOutput.contains("Bail out!"))
  }

  @Test("a shard of the paging suite runs with no unexplained mismatch")
  func pagingShard() throws {
    let result = try MMLabProcess.run(["conformance", "--suite", "paging", "--shard", "7/199", "--format", "json"])
    #expect(result.status == 0, "\(result.standardOutput.suffix(2000))")
    let json = try result.json()
    #expect(json["failed"] as? Int == 0)
    #expect((json["passed"] as? Int ?? 0) > 9000)
    #expect(json["shard"] as? String == "7/199")
  }
}

@Suite("mmlab with --backend libvirt")
struct LibvirtCLITests {
  static let enabled =
    ProcessInfo.processInfo.environment["MMLAB_REQUIRE_LIBVIRT"] == "1"
    || FileManager.default.fileExists(atPath: "/var/run/libvirt/libvirt-sock")

  @Test("--accel and --connect without --backend libvirt are refused; so is --hosts")
  func libvirtOptionsNeedTheBackend() throws {
    let accel = try MMLabProcess.run(["run", "--accel", "tcg"])
    #expect(accel.status != 0)
    #expect(accel.standardError.contains("--backend libvirt"))
    let hosts = try MMLabProcess.run(["conformance", "--hosts", "qemu:///system"])
    #expect(hosts.status != 0)
    #expect(hosts.standardError.contains("--backend libvirt"))
  }

  @Test("a daemon that is not there is a clear error, not a crash")
  func unreachableDaemon() throws {
    let result = try MMLabProcess.run([
      "run", "--backend", "libvirt", "--accel", "tcg", "--connect", "qemu+unix:///system?socket=/nonexistent.sock",
    ])
    #expect(result.status != 0)
    #expect(result.standardError.contains("cannot connect"))
    #expect(!result.standardError.contains("Fatal error"))
  }

  @Test("the guest runs under QEMU's TCG and dump-pagetables walks its tables", .enabled(if: enabled))
  func runAndDumpUnderTCG() throws {
    let run = try MMLabProcess.run(["run", "--backend", "libvirt", "--accel", "tcg"])
    #expect(run.status == 0, "\(run.standardError)")
    #expect(run.standardError.contains("qemu-tcg"))
    let dump = try MMLabProcess.run(["dump-pagetables", "--backend", "libvirt", "--accel", "tcg", "--format", "json"])
    #expect(dump.status == 0, "\(dump.standardError)")
    let json = try dump.json()
    #expect((json["platform"] as? [String: Any])?["hypervisor"] as? String == "qemu-tcg")
  }
}
