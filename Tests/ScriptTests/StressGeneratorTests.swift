import Testing

@testable import Script

/// The generated stress script: the same for a seed, a valid script, and its
/// statuses the model's (a mix of successes and the refusals the window makes).
@Suite("Generated stress scripts")
struct StressGeneratorTests {
  @Test("a seed gives one script, another seed another")
  func deterministic() {
    let a = StressGenerator(seed: 7, steps: 200).script()
    #expect(a == StressGenerator(seed: 7, steps: 200).script())
    #expect(a != StressGenerator(seed: 8, steps: 200).script())
  }

  @Test("it reads as a script: three processes, the calls, four checkpoints")
  func reads() throws {
    let script = try Script.parse(StressGenerator(seed: 1, steps: 400).script())
    #expect(script.steps.count == 3 + 400 + 4)
    #expect(script.steps.prefix(3).allSatisfy { $0.spec.call == .createProcess })
    #expect(script.steps.filter { $0.spec.call == .checkpoint }.count == 4)
    let statuses = Set(script.steps.dropFirst(3).compactMap { $0.expect?.first })
    #expect(statuses.contains(0))
    #expect(statuses.contains(0xC000_0005) && statuses.contains(0xC000_0018))
  }

  @Test("the model's statuses follow the Mm: commit after reserve succeeds, a touch of it too")
  func modelFollowsTheMm() {
    let model = ModelProcess()
    #expect(model.touch(0x4000_0000, pages: 1, write: true) == .accessViolation)
    _ = model.memory.ntAllocateVirtualMemory(
      baseAddress: 0x4000_0000, zeroBits: 0, regionSize: 0x10000, allocationType: 0x3000, protect: 0x04)
    #expect(model.touch(0x4000_0000, pages: 16, write: true) == .success)
    _ = model.memory.ntProtectVirtualMemory(baseAddress: 0x4000_0000, regionSize: 0x1000, newProtect: 0x02)
    #expect(model.touch(0x4000_0000, pages: 1, write: true) == .accessViolation)
    #expect(model.touch(0x4000_0000, pages: 1, write: false) == .success)
    #expect(model.touch(0x4000_0000, pages: 1, access: .execute) == .accessViolation, "PAGE_READONLY is no-execute")
  }
}
