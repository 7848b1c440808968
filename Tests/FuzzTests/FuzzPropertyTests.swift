import Foundation
import Fuzzing
import GuestImage
import Inspect
import Machine
import PropertyBased
import Testing

/// The fuzzer's cases as property tests, in CI's small budget: every input, whatever it
/// is, ends in bounded time, memory and output, and a refusal says why. A trap would end
/// the test process (and fail the run). `make fuzz` runs the same cases by the 100,000.
@Suite("Hostile inputs, in process")
struct FuzzPropertyTests {
  static let seeds: FuzzSeeds = {
    let root = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let errata = (try? InputFile.read(root.appending(path: "Sources/Conformance/Errata/errata.json").path)) ?? []
    let image = GuestImage.defaultPath.flatMap { try? InputFile.read($0) } ?? []
    let volumePath = NSTemporaryDirectory() + "mmlab-fuzz-volume-\(getpid()).img"
    defer { unlink(volumePath) }
    let volume =
      (try? FatImageBuilder(source: root.appending(path: "Images/disk").path, output: volumePath, sizeMiB: 34).build())
      .flatMap { _ in try? InputFile.read(volumePath, limit: 64 << 20) } ?? []
    return FuzzSeeds(cores: [], image: image, errata: errata, volume: volume)
  }()

  func check(_ family: FuzzFamily, seed: UInt64, index: Int) {
    let campaign = FuzzCampaign(seed: seed, seeds: Self.seeds)
    let fuzzCase = campaign.makeCase(index, family: family)
    let scratch = NSTemporaryDirectory() + "mmlab-fuzz-test-\(getpid())-\(index).\(fuzzCase.inputExtension)"
    var bounds = FuzzBounds()
    bounds.seconds = 30  // a hang detector under load, not a speed target (that is `mmlab bench`)
    let outcome = FuzzExecution.run(fuzzCase, scratch: scratch, bounds: bounds)
    #expect(
      outcome.failure == nil, "\(family) case \(index) of seed \(seed) (\(fuzzCase.mutation)): \(outcome.failure ?? "")"
    )
  }

  @Test("random page-table graphs: every dump is bounded")
  func tables() async {
    await propertyCheck(count: 20, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
      check(.tables, seed: seed, index: 0)
    }
  }

  @Test("mutated guest images are refused or loaded, never a trap")
  func images() async {
    #expect(!Self.seeds.image.isEmpty, "the guest image was not built")
    await propertyCheck(count: 200, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
      check(.image, seed: seed, index: 1)
    }
  }

  @Test("mutated errata are refused with a reason or read")
  func errata() async {
    #expect(!Self.seeds.errata.isEmpty)
    await propertyCheck(count: 200, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
      check(.errata, seed: seed, index: 2)
    }
  }

  @Test("mutated FAT32 volumes are read or refused, every chain and directory bounded")
  func volumes() async {
    #expect(!Self.seeds.volume.isEmpty, "mkfs.fat and mtools made no seed volume")
    await propertyCheck(count: 40, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
      check(.volume, seed: seed, index: 3)
    }
  }

  @Test("the checker can fail: a walk past its bound is named")
  func boundsAreChecked() {
    let campaign = FuzzCampaign(seed: 1, seeds: Self.seeds)
    var fuzzCase = campaign.makeCase(0, family: .tables)
    fuzzCase.command = ["dump-pagetables", "--core", "INPUT", "--leaves", "--format", "json"]
    var bounds = FuzzBounds()
    bounds.outputBytes = 100
    let outcome = FuzzExecution.run(fuzzCase, scratch: NSTemporaryDirectory() + "mmlab-fuzz-bound.core", bounds: bounds)
    #expect(outcome.failure?.hasPrefix("wrote ") == true && outcome.failure?.hasSuffix("over 100") == true)
  }
}

/// Cores of the real guest, mutated where the readers look (tables, debug block, PFN
/// database, headers).
@Suite(
  "Hostile cores of the real guest, in process",
  .enabled(
    if: FileManager.default.isWritableFile(atPath: "/dev/kvm")
      || ProcessInfo.processInfo.environment["MMLAB_REQUIRE_KVM"] == "1"))
struct FuzzCorePropertyTests {
  static let seeds: FuzzSeeds? = {
    guard let snapshot = try? GuestSnapshot.boot(BootOptions(memoryMiB: 8), checkpoint: nil) else { return nil }
    let path = NSTemporaryDirectory() + "mmlab-fuzz-seed-\(getpid()).core"
    defer { unlink(path) }
    guard
      (try? CoreFile.write(
        memory: snapshot.memory, registers: snapshot.registers, debugBlockAddress: snapshot.debugBlockAddress, to: path))
        != nil,
      let bytes = try? InputFile.read(path)
    else { return nil }
    let core = CoreSeed(
      name: "booted", bytes: bytes, cr3: snapshot.registers.cr3, debugBlock: snapshot.debugBlockAddress)
    return FuzzSeeds(cores: [core], image: [], errata: [])
  }()

  @Test("mutated cores: every command's reading is bounded or refused with a reason")
  func cores() async throws {
    let seeds = try #require(Self.seeds, "could not boot the guest for a seed core")
    await propertyCheck(count: 60, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
      let fuzzCase = FuzzCampaign(seed: seed, seeds: seeds).makeCase(3, family: .core)
      let outcome = FuzzExecution.run(fuzzCase, scratch: NSTemporaryDirectory() + "mmlab-fuzz-core-\(getpid()).core")
      #expect(outcome.failure == nil, "core case of seed \(seed) (\(fuzzCase.mutation)): \(outcome.failure ?? "")")
    }
  }
}
