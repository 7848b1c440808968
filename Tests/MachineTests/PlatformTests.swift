import Foundation
import Testing

@testable import Machine

@Suite("Platform detection from sysfs and /proc")
struct PlatformTests {
  /// A throw-away directory tree standing in for /sys and /proc.
  final class FakeRoot {
    let url: URL
    init() throws {
      url = FileManager.default.temporaryDirectory.appendingPathComponent("mmlab-platform-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    var sys: String { url.appendingPathComponent("sys").path }
    var proc: String { url.appendingPathComponent("proc").path }

    func module(_ name: String, parameters: [String: String] = [:]) throws {
      let directory = url.appendingPathComponent("sys/module/\(name)/parameters")
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      for (key, value) in parameters {
        try (value + "\n").write(to: directory.appendingPathComponent(key), atomically: true, encoding: .utf8)
      }
    }

    func cpuinfo(_ model: String) throws {
      let directory = url.appendingPathComponent("proc")
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      let text = (0..<2).map { "processor\t: \($0)\nvendor_id\t: Whatever\nmodel name\t: \(model)\nflags\t\t: fpu\n\n" }
      try text.joined().write(to: directory.appendingPathComponent("cpuinfo"), atomically: true, encoding: .utf8)
    }

    func detect(apiVersion: Int? = 12, sizes: (physical: Int, linear: Int)? = (48, 48)) -> Platform {
      Platform.detect(sysfsRoot: sys, procRoot: proc, kvmAPIVersion: apiVersion, guestAddressSizes: sizes)
    }
  }

  @Test func intelWithEPT() throws {
    let root = try FakeRoot()
    try root.module("kvm", parameters: ["tdp_mmu": "Y"])
    try root.module("kvm_intel", parameters: ["ept": "Y"])
    try root.cpuinfo("Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz")
    let platform = root.detect(sizes: (46, 48))
    #expect(platform.hypervisor == .kvmIntel)
    #expect(platform.guestPaging == .ept)
    #expect(platform.guestPaging.isTwoDimensional)
    #expect(platform.tdpMMU == true)
    #expect(platform.kvmModules == ["kvm", "kvm_intel"])
    #expect(
      platform.description
        == "kvm-intel (two-dimensional paging: EPT), KVM API 12, Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz, MAXPHYADDR 46"
    )
  }

  @Test func intelWithoutEPTIsShadowed() throws {
    let root = try FakeRoot()
    try root.module("kvm_intel", parameters: ["ept": "N"])
    #expect(root.detect().guestPaging == .shadow)
  }

  @Test func amdWithNPT() throws {
    let root = try FakeRoot()
    try root.module("kvm")
    try root.module("kvm_amd", parameters: ["npt": "1"])
    try root.cpuinfo("AMD EPYC 7763 64-Core Processor")
    let platform = root.detect()
    #expect(platform.hypervisor == .kvmAMD)
    #expect(platform.guestPaging == .npt)
    #expect(platform.tdpMMU == nil)
    #expect(
      platform.description
        == "kvm-amd (two-dimensional paging: NPT), KVM API 12, AMD EPYC 7763 64-Core Processor, MAXPHYADDR 48")
  }

  @Test func amdWithoutNPTIsShadowed() throws {
    let root = try FakeRoot()
    try root.module("kvm_amd", parameters: ["npt": "0"])
    #expect(root.detect().guestPaging == .shadow)
  }

  @Test func pvmIsShadowPaging() throws {
    let root = try FakeRoot()
    try root.module("kvm", parameters: ["tdp_mmu": "N"])
    try root.module("kvm_pvm", parameters: ["verbose": "0"])
    try root.cpuinfo("AMD EPYC")
    let platform = root.detect()
    #expect(platform.hypervisor == .kvmPVM)
    #expect(platform.guestPaging == .shadow)
    #expect(!platform.guestPaging.isTwoDimensional)
    #expect(platform.tdpMMU == false)
    #expect(platform.description == "kvm-pvm (shadow paging), KVM API 12, AMD EPYC, MAXPHYADDR 48")
  }

  @Test func nothingLoadedIsUnknown() throws {
    let root = try FakeRoot()
    let platform = root.detect(apiVersion: nil, sizes: nil)
    #expect(platform.hypervisor == .unknown)
    #expect(platform.guestPaging == .unknown)
    #expect(platform.kvmModules.isEmpty)
    #expect(platform.hostCPUModel == nil)
    #expect(platform.description == "unknown (paging virtualization unknown)")
  }

  @Test func missingEPTParameterIsUnknownPaging() throws {
    let root = try FakeRoot()
    try root.module("kvm_intel")
    #expect(root.detect().guestPaging == .unknown)
  }

  @Test func addressSizesFromCPUIDLeaf80000008() {
    #expect(Platform.addressSizes(leaf80000008EAX: 0x3030) == (48, 48))
    #expect(Platform.addressSizes(leaf80000008EAX: 0x0003_3027) == (39, 48))
  }

  @Test func reportsCanEmitIt() throws {
    let root = try FakeRoot()
    try root.module("kvm_pvm")
    let platform = root.detect()
    let object = platform.jsonObject
    #expect(object["hypervisor"] as? String == "kvm-pvm")
    #expect(object["guestPaging"] as? String == "shadow")
    #expect(object["twoDimensionalPaging"] as? Bool == false)
    #expect(object["kvmAPIVersion"] as? Int == 12)
    #expect(object["guestMaxPhysicalAddressBits"] as? Int == 48)
    #expect(JSONSerialization.isValidJSONObject(object))
    let decoded = try JSONDecoder().decode(Platform.self, from: JSONEncoder().encode(platform))
    #expect(decoded == platform)
  }

  @Test func thisHostMatchesItsSysfs() {
    let platform = Platform.detect()
    let has = { (module: String) in FileManager.default.fileExists(atPath: "/sys/module/" + module) }
    if has("kvm_pvm") {
      #expect(platform.hypervisor == .kvmPVM && platform.guestPaging == .shadow)
    } else if has("kvm_intel") {
      #expect(platform.hypervisor == .kvmIntel)
    } else if has("kvm_amd") {
      #expect(platform.hypervisor == .kvmAMD)
    } else {
      #expect(platform.hypervisor == .unknown)
    }
  }
}
