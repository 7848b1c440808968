import Foundation
import GuestABI
import Inspect
import Machine
import Script
import Testing

@Suite("Mm scenarios (scripts), validated at every checkpoint", .enabled(if: BootingTests.enabled, BootingTests.reason))
struct ScenarioTests {
  @Test(
    "each shipped scenario runs to a clean exit with no violation at any checkpoint",
    arguments: ["process-smoke", "vm-basics", "guard-pages", "bad-inputs", "execute-touch"])
  func scenarioIsClean(name: String) throws {
    let report = try ScriptRunner(
      script: try Script.parse(try #require(ScriptLibrary.text(name))), options: ScriptOptions()
    ).run()
    #expect(report.succeeded, "\(report.text)")
    #expect(report.steps.contains { $0.checkpointName != nil && $0.verdict == .passed })
  }

  @Test("the host decodes each process and its VADs")
  func processesAndVads() throws {
    let script = try Script.parse(try #require(ScriptLibrary.text("vm-basics")))
    let snapshot = try ScriptRunner(script: script, options: ScriptOptions()).snapshot(atCheckpoint: "vm-touched")
    let state = try ScenarioValidation.state(of: snapshot)
    let process = try #require(state.processes.first)
    #expect(state.processes.count == 1)
    let vads = try #require(state.vads(of: process))
    // The 1 MiB reservation (512 KiB committed) and the 16-page stack.
    #expect(vads.count == 2)
    #expect(vads.first?.end == (vads.first?.start ?? 0) + (1 << 20))
    #expect(vads.first?.committedPages == 128)
    #expect(vads.last?.end == UserLayout.stackTop)
    #expect(vads.last?.committedPages == UInt32(UserLayout.stackPages))
  }

  @Test("a generated stress is clean and the same seed gives the same run")
  func stressIsCleanAndDeterministic() throws {
    let text = StressGenerator(seed: 11, steps: 800).script()
    let first = try ScriptRunner(script: try Script.parse(text), options: ScriptOptions()).run()
    let second = try ScriptRunner(script: try Script.parse(text), options: ScriptOptions()).run()
    #expect(first.succeeded, "\(first.summaryLine)")
    #expect(first.steps.compactMap(\.checkpointName) == ["stress-200", "stress-400", "stress-600", "stress-800"])
    #expect(first.steps.map(\.status) == second.steps.map(\.status))
    #expect(first.steps.map { $0.outputs.map(\.value) } == second.steps.map { $0.outputs.map(\.value) })
  }
}

/// The validator against the real guest: the host corrupts guest memory at a
/// checkpoint and the exact violation must be reported.
@Suite("Planted faults in the live guest are reported", .enabled(if: BootingTests.enabled, BootingTests.reason))
struct LiveCorruptionTests {
  /// The guest stopped after process-smoke (user pages mapped, 64 zeroed pages), its state decoded.
  func stoppedGuest() throws -> (GuestSnapshot, MmState) {
    // process-smoke with 64 pages stocked on the zeroed list by the boot pass.
    let script = try Script.parse(try #require(ScriptLibrary.text("process-smoke")))
    let snapshot = try ScriptRunner(
      script: script, options: ScriptOptions(boot: BootOptions(commandLine: ["mm.zeroed=64"]))
    )
    .snapshot(atCheckpoint: "process-smoke")
    let state = try ScenarioValidation.state(of: snapshot)
    #expect(try ScenarioValidation.validate(snapshot).isClean, "clean before the fault is planted")
    return (snapshot, state)
  }

  func record(_ state: MmState, _ pfn: UInt64, _ field: Int) throws -> UInt64 {
    try #require(state.recordAddress(pfn)) + UInt64(field)
  }

  /// A page on `list`, its first.
  func firstPage(_ state: MmState, _ list: PageLocation) throws -> UInt64 {
    let head = try #require(state.listHead(list))
    return UInt64(head.first)
  }

  /// An active page mapped in the process (a user stack page).
  func mappedUserPage(_ state: MmState) throws -> UInt64 {
    for pfn in 0..<state.pfnCount {
      if let frame = state.frame(pfn), frame.owner != 0, frame.location == .activeAndValid,
        frame.usage == .general, frame.shareCount == 1, frame.pteAddress != 0
      {
        return pfn
      }
    }
    throw CorruptionSetupError.noUserPage
  }

  enum CorruptionSetupError: Error { case noUserPage }

  @Test("a broken list link")
  func brokenLink() throws {
    let (snapshot, state) = try stoppedGuest()
    let pfn = try firstPage(state, .free)
    let frame = try #require(state.frame(pfn))
    // The first free page's successor now points back at a page two further on.
    let next = try #require(frame.nextPFN)
    #expect(snapshot.memory.store(UInt32(next + 7), at: try record(state, next, PageFrameRecord.previous)))
    let report = try ScenarioValidation.validate(snapshot)
    #expect(report.violations(of: .listLinks).contains { $0.pfn == next })
  }

  @Test("a share count bumped by one")
  func bumpedShareCount() throws {
    let (snapshot, state) = try stoppedGuest()
    let pfn = try mappedUserPage(state)
    #expect(snapshot.memory.store(UInt32(2), at: try record(state, pfn, PageFrameRecord.shareCount)))
    let report = try ScenarioValidation.validate(snapshot)
    #expect(report.violations(of: .shareCount).contains { $0.pfn == pfn })
  }

  @Test("a PTE pointed at a free page")
  func freePageMapped() throws {
    let (snapshot, state) = try stoppedGuest()
    let victim = try mappedUserPage(state)
    let frame = try #require(state.frame(victim))
    let free = try firstPage(state, .free)
    // Find the PTE's physical address: the record's PTE frame and the PTE address's offset in it.
    let table = try #require(frame.pteFramePFN)
    let entry = (table << 12) | (frame.pteAddress & 0xFFF)
    let old = try #require(snapshot.memory.load(UInt64.self, at: entry))
    #expect(snapshot.memory.store((old & ~0x000F_FFFF_FFFF_F000) | (free << 12), at: entry))
    let report = try ScenarioValidation.validate(snapshot)
    #expect(report.violations(of: .mapsInactiveFrame).contains { $0.pfn == free })
  }

  @Test("a dirtied zeroed page")
  func dirtyZeroedPage() throws {
    let (snapshot, state) = try stoppedGuest()
    let pfn = try firstPage(state, .zeroed)
    #expect(pfn != UInt64(PageFrameRecord.noPage), "the scenario zeroed pages")
    #expect(snapshot.memory.store(UInt8(0xA5), at: (pfn << 12) + 123))
    let report = try ScenarioValidation.validate(snapshot)
    #expect(report.violations(of: .zeroedPageNotZero).contains { $0.pfn == pfn })
  }
}
