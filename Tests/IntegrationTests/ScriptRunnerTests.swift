import GuestImage
import Inspect
import Script
import Testing

/// `mmlab script`'s runner on real guests: the shipped scripts and a
/// generated stress script pass on KVMMachine and under TCG, and planted
/// faults (a wrong expectation, a failing call that changes state) are each
/// reported on their step.
@Suite("Scripts on the guest", .enabled(if: BootingTests.enabled, BootingTests.reason), .serialized)
struct ScriptRunnerTests {
  static func run(
    _ text: String, backend: Backend = .kvm, testHooks: Bool = false, policy: ValidationPolicy = .checkpoints
  )
    throws -> ScriptReport
  {
    let script = try Script.parse(text, testCalls: testHooks)
    var boot = BootOptions(timeoutSeconds: 60)
    boot.backend = backend
    return try ScriptRunner(
      script: script, options: ScriptOptions(boot: boot, validation: policy, testHooks: testHooks)
    )
    .run()
  }

  static let backends: [Backend] = [.kvm] + (LibvirtTests.enabled ? [LibvirtTests.tcg] : [])

  @Test("every shipped script passes, on KVMMachine and under TCG", arguments: backends)
  func shippedScripts(_ backend: Backend) throws {
    let scripts = GuestImage.shippedScripts
    #expect(
      Set(scripts.keys) == [
        "process-smoke", "vm-basics", "guard-pages", "bad-inputs", "execute-touch", "files-basics", "files-bad-inputs",
        "sections-shared", "sections-cc-read",
        "sections-cc-write-flush", "sections-writecopy", "sections-pagefile-shared", "sections-bad-inputs",
        "sections-query-extend",
      ])
    for (name, text) in scripts.sorted(by: { $0.key < $1.key }) {
      let report = try Self.run(text, backend: backend)
      #expect(report.succeeded, "\(name) on \(backend): \(report.text)")
      #expect(report.steps.contains { $0.checkpointName != nil })
    }
  }

  @Test(
    "a generated stress script matches the host's model of the Mm, on KVMMachine and under TCG", arguments: backends)
  func generatedStress(_ backend: Backend) throws {
    let report = try Self.run(StressGenerator(seed: 11, steps: 300).script(), backend: backend)
    #expect(report.succeeded, "\(report.text.split(separator: "\n").filter { $0.hasPrefix("FAIL") }.prefix(5))")
    #expect(report.steps.filter { $0.status.map { $0 != 0 } ?? false }.count > 50, "the window makes refusals")
  }

  @Test("a wrong expectation fails its step, and only it")
  func wrongExpectation() throws {
    let report = try Self.run(
      """
      {"steps": [{"call": "CreateProcess", "as": "A"},
        {"call": "NtAllocateVirtualMemory", "ProcessHandle": "A", "BaseAddress": 0, "ZeroBits": 0, "RegionSize": 0,
         "AllocationType": "MEM_RESERVE", "Protect": "PAGE_READWRITE", "expect": "STATUS_SUCCESS"},
        {"call": "NtQueryVirtualMemory", "ProcessHandle": "A", "BaseAddress": "0x10000",
         "MemoryInformationClass": "MemoryBasicInformation", "expect": "STATUS_SUCCESS"}]}
      """)
    #expect(report.steps.map(\.verdict) == [.reported, .failed, .passed])
    #expect(report.steps[1].status == 0xC000_00F2)
    #expect(report.steps[1].violations.isEmpty, "a refused call changed nothing")
    #expect(!report.succeeded)
    #expect(
      report.text.contains("FAIL #1  NtAllocateVirtualMemory  STATUS_INVALID_PARAMETER_4  expected STATUS_SUCCESS"))
  }

  @Test("a call that fails after changing state is reported as a violation of that step")
  func failingCallThatChangesState() throws {
    let hooked = ScriptCallHook.text
    let report = try Self.run(hooked, testHooks: true)
    let step = report.steps[1]
    #expect(step.status == 0xC000_0001)
    #expect(step.verdict == .failed)
    #expect(
      step.violations.contains { $0.contains("failed but changed state") && $0.contains("VAD table changed") },
      "\(step.violations)")
    #expect(report.steps[2].verdict == .passed)
  }

  @Test("--validate every-step validates after each step and the run stays clean")
  func everyStep() throws {
    let report = try Self.run(GuestImage.shippedScripts["vm-basics"]!, policy: .everyStep)
    #expect(report.succeeded, "\(report.text)")
    #expect(report.firstBrokenStep == nil)
  }
}

/// A script whose second step is the guest's test hook: it commits memory and
/// then fails (the guest serves it only with `script.test-hooks`).
enum ScriptCallHook {
  static let text = """
    {"steps": [{"call": "CreateProcess", "as": "A"},
      {"call": "TestChangeThenFail", "ProcessHandle": "A", "expect": "STATUS_UNSUCCESSFUL"},
      {"call": "Checkpoint", "name": "after-hook"}]}
    """
}
