import GuestABI
import Inspect
import Machine
import Script
import Testing
import X86Paging

/// A guest booted with the script interpreter, stopped at `script-ready`:
/// the test's own small driver of the `ScriptABI` protocol.
final class ScriptTestGuest {
  let session: Session
  let request: UnsafeMutableRawBufferPointer
  let results: UnsafeRawBufferPointer
  let requestAddress: UInt64
  /// (step index, phase) of every `script-step` stop, in order; the Mm is validated at each.
  var stops: [(step: UInt64, phase: UInt64)] = []
  /// Called at each `script-step` stop.
  var atStop: (ScriptTestGuest, Checkpoint) throws -> Void = { _, _ in }

  init(_ words: [String] = []) throws {
    var console = ""
    session = try Session(options: BootOptions(commandLine: ["script"] + words)) { console += $0 }
    let first = try session.run(toCheckpoint: CheckpointCode.scriptReady.name.description)
    #expect(first.code == CheckpointCode.scriptReady.rawValue)
    let memory = session.machine.memory
    let requestRegion = try #require(session.machine.regions[GuestRegionKind.scriptRequest.rawValue])
    let resultsRegion = try #require(session.machine.regions[GuestRegionKind.scriptResults.rawValue])
    #expect(requestRegion.size >= UInt64(ScriptABI.requestBufferSize))
    #expect(resultsRegion.size >= UInt64(ScriptABI.resultsBufferSize))
    request = try #require(
      memory.mutableBytes(at: requestRegion.physicalAddress, count: ScriptABI.requestBufferSize))
    results = try #require(memory.bytes(at: resultsRegion.physicalAddress, count: ScriptABI.resultsBufferSize))
    requestAddress = requestRegion.physicalAddress
  }

  /// The step record `n` of the batch being written.
  func record(_ n: Int) -> UnsafeMutableRawPointer {
    request.baseAddress! + ScriptABI.requestHeaderSize + n * ScriptStepRecord.size
  }

  /// Sends a batch of `count` records already written and runs it to `script-ready`.
  func send(count: Int, outputCounts: [Int]) throws -> [StepResult] {
    request.baseAddress!.storeBytes(of: UInt64(count), toByteOffset: ScriptABI.requestStepCount, as: UInt64.self)
    try session.machine.commit(requestAddress, count: ScriptABI.requestHeaderSize + count * ScriptStepRecord.size)
    while true {
      let reached = try session.run(toCheckpoint: nil)
      if reached.code == CheckpointCode.scriptReady.rawValue { break }
      try #require(reached.code == CheckpointCode.scriptStep.rawValue, "stopped at \(reached.name)")
      stops.append(
        (
          request.load(fromByteOffset: ScriptABI.requestStopStep, as: UInt64.self),
          request.load(fromByteOffset: ScriptABI.requestStopPhase, as: UInt64.self)
        ))
      let report = try ScenarioValidation.validate(GuestSnapshot(session: session, checkpoint: reached))
      #expect(report.isClean, "at \(stops.last!): \(report.violations.prefix(5))")
      try atStop(self, reached)
    }
    return (0..<count).map {
      StepResult(record: results.baseAddress! + $0 * ScriptResultRecord.size, outputCount: outputCounts[$0])
    }
  }

  /// Encodes `script`'s steps (policy `checkpoints`), ORs in `extraFlags`, and runs them.
  func run(_ script: Script, extraFlags: [Int: ScriptStepFlags] = [:]) throws -> [StepResult] {
    var stringsUsed = 0
    for step in script.steps {
      step.encode(into: record(step.index), policy: .checkpoints, stringsUsed: &stringsUsed)
      if let extra = extraFlags[step.index] {
        let flags = record(step.index).load(fromByteOffset: ScriptStepRecord.flags, as: UInt32.self)
        record(step.index).storeBytes(
          of: flags | extra.rawValue, toByteOffset: ScriptStepRecord.flags, as: UInt32.self)
      }
    }
    return try send(count: script.steps.count, outputCounts: script.steps.map(\.spec.outputs.count))
  }

  /// Writes a raw record: `call`, immediate operands, no stops.
  func writeRaw(_ n: Int, call: UInt32, operands: [UInt64], index: UInt32? = nil) {
    let record = record(n)
    record.initializeMemory(as: UInt8.self, repeating: 0, count: ScriptStepRecord.size)
    record.storeBytes(of: call, toByteOffset: ScriptStepRecord.call, as: UInt32.self)
    record.storeBytes(of: index ?? UInt32(n), toByteOffset: ScriptStepRecord.index, as: UInt32.self)
    for (k, value) in operands.enumerated() {
      record.storeBytes(of: value, toByteOffset: ScriptStepRecord.operands + 8 * k, as: UInt64.self)
    }
  }

  /// Sends the empty batch; the guest must exit 0.
  func finish() throws {
    request.baseAddress!.storeBytes(of: 0, toByteOffset: ScriptABI.requestStepCount, as: UInt64.self)
    try session.machine.commit(requestAddress, count: 8)
    let exit = try session.runToExit()
    #expect(exit.status == 0)
    #expect(exit.exception == nil)
  }
}

@Suite("The guest's script interpreter on KVM", .enabled(if: BootingTests.enabled, BootingTests.reason))
struct ScriptGuestTests {
  static let accessViolation: UInt32 = 0xC000_0005
  static let invalidHandle: UInt32 = 0xC000_0008
  static let notImplemented: UInt32 = 0xC000_0002
  static let unsuccessful: UInt32 = 0xC000_0001
  static let stackTop = UserLayout.stackTop
  static let stackBase = UserLayout.stackTop - UserLayout.stackPages * 4096

  @Test("calls, faults, patterns, aliases and stops in one batch; an empty batch ends the run")
  func batch() throws {
    let guest = try ScriptTestGuest()
    let patternBase = Self.stackBase + 3
    let patternSize: UInt64 = 0x9000 + 5
    let text = """
      {"steps": [
        {"call": "CreateProcess", "as": "A", "expect": "STATUS_SUCCESS"},
        {"call": "Touch", "ProcessHandle": 8192, "Address": 0, "Pages": 1, "Access": "read",
         "expect": "STATUS_INVALID_HANDLE"},
        {"call": "Touch", "ProcessHandle": "A", "Address": "0x50000123", "Pages": 3, "Access": "read",
         "expect": "STATUS_ACCESS_VIOLATION"},
        {"call": "Touch", "ProcessHandle": "A", "Address": "\(Self.stackTop - 2 * 4096 + 5)", "Pages": 4,
         "Access": "write", "expect": "STATUS_ACCESS_VIOLATION", "save": {"n": "PagesDone"}},
        {"call": "Touch", "ProcessHandle": "A", "Address": "\(Self.stackBase)", "Pages": 3, "Access": "read",
         "expect": "STATUS_SUCCESS", "save": {"n": "PagesDone"}},
        {"call": "Touch", "ProcessHandle": "A", "Address": "\(Self.stackTop - 4096)", "Pages": 5, "Access": "read",
         "expect": "STATUS_ACCESS_VIOLATION", "save": {"n": "PagesDone"}},
        {"call": "Touch", "ProcessHandle": "$A", "Address": "\(Self.stackBase)", "Pages": "$n+1", "Access": "write",
         "expect": "STATUS_SUCCESS"},
        {"call": "WritePattern", "ProcessHandle": "A", "Address": "\(patternBase)", "Size": "\(patternSize)",
         "Seed": 42, "expect": "STATUS_SUCCESS"},
        {"call": "CheckPattern", "ProcessHandle": "A", "Address": "\(patternBase)", "Size": "\(patternSize)",
         "Seed": 42, "expect": "STATUS_SUCCESS"},
        {"call": "CheckPattern", "ProcessHandle": "A", "Address": "\(patternBase)", "Size": "\(patternSize)",
         "Seed": 43, "expect": "STATUS_DATA_ERROR"},
        {"call": "WritePattern", "ProcessHandle": "A", "Address": "\(Self.stackBase)", "Size": -1, "Seed": 1,
         "expect": "STATUS_ACCESS_VIOLATION"},
        {"call": "CheckPattern", "ProcessHandle": "A", "Address": "\(Self.stackTop - 8)", "Size": 16,
         "Seed": 1, "expect": "STATUS_ACCESS_VIOLATION"},
        {"call": "Touch", "ProcessHandle": "A", "Address": "0x7FFFFFFFF000", "Pages": 2, "Access": "read",
         "expect": "STATUS_ACCESS_VIOLATION"},
        {"call": "Touch", "ProcessHandle": "A", "Address": "0xFFFF800000000000", "Pages": 1, "Access": "read",
         "expect": "STATUS_ACCESS_VIOLATION"},
        {"call": "Touch", "ProcessHandle": "A", "Address": "\(Self.stackBase)", "Pages": 1, "Access": "execute"},
        {"call": "NtQueryVirtualMemory", "ProcessHandle": "A", "BaseAddress": 0,
         "MemoryInformationClass": "MemoryBasicInformation"},
        {"call": "Checkpoint", "name": "end"}]}
      """
    let script = try Script.parse(text)
    var patternBytes: [UInt8] = []
    guest.atStop = { guest, checkpoint in
      // After the WritePattern (step 7): read its first bytes through the process's tables.
      guard guest.stops.last!.step == 7, guest.stops.last!.phase == 1 else { return }
      let snapshot = try GuestSnapshot(session: guest.session, checkpoint: checkpoint)
      for address in patternBase..<patternBase + 16 {
        let walk = translate(
          address, access: Access(.read, .user), context: snapshot.pagingContext, memory: snapshot.memory)
        guard case .mapped(let physical, _) = walk.outcome else { Issue.record("\(address) unmapped"); return }
        patternBytes.append(snapshot.memory.bytes(at: physical, count: 1)![0])
      }
    }
    let results = try guest.run(script, extraFlags: [7: .stopAfter])
    for (step, result) in zip(script.steps, results) {
      #expect(result.index == step.index)
      if let expect = step.expect { #expect(expect.contains(result.status), "step \(step.index): \(result)") }
    }
    let handle = results[0].outputs[0]
    #expect(handle >= ScriptHandles.first && handle & 3 == 0)
    #expect(results[2].outputs == [0x5000_0123, 0])
    #expect(results[3].outputs == [Self.stackTop + 5, 2])
    #expect(results[5].outputs == [Self.stackTop, 1], "Pages done before the fault; the alias keeps 3")
    #expect(results[6].outputs == [0, 4], "$n+1: the alias the successful step 4 saved, not step 5's")
    #expect(results[8].outputs == [0])
    let firstDifference = (patternBase..<patternBase + patternSize).first {
      ScriptPattern.byte(seed: 42, address: $0) != ScriptPattern.byte(seed: 43, address: $0)
    }
    #expect(results[9].outputs == [firstDifference!])
    #expect(results[11].outputs == [0], "a fault gives FirstMismatch 0 (the first 8 bytes matched)")
    #expect(results[12].outputs == [0x7FFF_FFFF_F000, 0], "above the user half: nothing mapped there")
    #expect(results[13].outputs == [0xFFFF_8000_0000_0000, 0])
    #expect(results[14].status == Self.accessViolation, "execute from the stack: no-execute")
    #expect(results[14].outputs == [Self.stackBase, 0])
    #expect(patternBytes == (patternBase..<patternBase + 16).map { ScriptPattern.byte(seed: 42, address: $0) })
    // Stops: before and after every NT call that may fail, after the Checkpoint and the asked-for one.
    var expected: [(UInt64, UInt64)] = []
    for step in script.steps {
      let flags = step.stops(.checkpoints).union(step.index == 7 ? .stopAfter : [])
      if flags.contains(.stopBefore) { expected.append((UInt64(step.index), 0)) }
      if flags.contains(.stopAfter) { expected.append((UInt64(step.index), 1)) }
    }
    #expect(guest.stops.map { "\($0.step):\($0.phase)" } == expected.map { "\($0.0):\($0.1)" })
    #expect(guest.stops.last!.step == 16 && guest.stops.last!.phase == 1)
    print(
      "script step ticks: invalid handle \(results[1].ticks), NtQueryVirtualMemory \(results[15].ticks), "
        + "Checkpoint \(results[16].ticks), CreateProcess \(results[0].ticks), "
        + "Touch 3 pages \(results[4].ticks), WritePattern 36 KiB \(results[7].ticks)")
    try guest.finish()
  }

  /// The interpreter runs at CPL 3 on `ScriptWindow`, mapped in the kernel's
  /// address space and in every process: request pages read-only to user
  /// mode, results and slots writable, the code read and execute. A script's
  /// own accesses end at `UserAddressSpace.end`, so they never reach it.
  @Test("user accesses stop at the end of the user half; the interpreter's window is mapped and out of reach")
  func windowAndUserEnd() throws {
    let guest = try ScriptTestGuest()
    // Each window page is mapped for user mode, so only the interpreter's
    // check at UserAddressSpace.end refuses these accesses.
    let text = """
      {"steps": [
        {"call": "Checkpoint", "name": "kernel"},
        {"call": "CreateProcess", "as": "A", "expect": "STATUS_SUCCESS"},
        {"call": "Touch", "ProcessHandle": "A", "Address": "\(ScriptWindow.results)", "Pages": 1, "Access": "write",
         "expect": "STATUS_ACCESS_VIOLATION"},
        {"call": "CheckPattern", "ProcessHandle": "A", "Address": "\(ScriptWindow.request)", "Size": 64, "Seed": 0,
         "expect": "STATUS_ACCESS_VIOLATION"},
        {"call": "Touch", "ProcessHandle": "A", "Address": "\(UserLayout.codeBase)", "Pages": 1, "Access": "read",
         "expect": "STATUS_ACCESS_VIOLATION"},
        {"call": "WritePattern", "ProcessHandle": "A", "Address": "\(ScriptWindow.slots)", "Size": 4096, "Seed": 9,
         "expect": "STATUS_ACCESS_VIOLATION"},
        {"call": "Checkpoint", "name": "process"}]}
      """
    let script = try Script.parse(text)
    var checked: [String] = []
    guest.atStop = { guest, checkpoint in
      guard guest.stops.last!.phase == 1, [0, 6].contains(guest.stops.last!.step) else { return }
      let snapshot = try GuestSnapshot(session: guest.session, checkpoint: checkpoint)
      func outcome(_ address: UInt64, _ kind: Access.Kind) -> TranslationOutcome {
        translate(address, access: Access(kind, .user), context: snapshot.pagingContext, memory: snapshot.memory)
          .outcome
      }
      func isMapped(_ outcome: TranslationOutcome) -> Bool {
        if case .mapped = outcome { return true } else { return false }
      }
      let place = guest.stops.last!.step == 0 ? "the kernel's space" : "process A"
      #expect(isMapped(outcome(ScriptWindow.request, .read)), "\(place): request readable")
      #expect(!isMapped(outcome(ScriptWindow.request, .write)), "\(place): request read-only to user mode")
      #expect(!isMapped(outcome(ScriptWindow.request, .fetch)), "\(place): request not executable")
      #expect(isMapped(outcome(ScriptWindow.results, .write)), "\(place): results writable")
      #expect(isMapped(outcome(ScriptWindow.slots, .write)), "\(place): slots writable")
      #expect(isMapped(outcome(UserLayout.codeBase, .fetch)), "\(place): code executable")
      #expect(!isMapped(outcome(UserLayout.codeBase, .write)), "\(place): code not writable")
      checked.append(place)
    }
    let results = try guest.run(script)
    for (step, result) in zip(script.steps, results) {
      if let expect = step.expect { #expect(expect.contains(result.status), "step \(step.index): \(result)") }
    }
    #expect(checked == ["the kernel's space", "process A"])
    #expect(results[2].outputs == [ScriptWindow.results, 0])
    #expect(results[3].outputs == [0])
    #expect(results[4].outputs == [UserLayout.codeBase, 0])
    #expect(results[1].outputs[0] >= ScriptHandles.first, "the results written before the touches are intact")
    try guest.finish()
  }

  /// A real fetch at CPL 3 (the processor checks NX and sets A), while the
  /// page's own bytes never run: the pattern over them, which holds any
  /// opcode (INT n would end the VM on kvm-pvm), reads back intact.
  @Test("Touch with execute access: fetches that never run the page, NX honoured, the guard page's one shot")
  func executeTouch() throws {
    let text = try #require(ScriptLibrary.text("execute-touch"))
    let report = try ScriptRunner(script: try Script.parse(text), options: ScriptOptions()).run()
    #expect(report.succeeded, "\(report.text)")
    #expect(report.steps[3].outputs.map(\.value) == [0, 8], "8 fetches, 4 of them through demand-zero faults")
    #expect(report.steps.count == 13)
  }

  @Test("the NT virtual-memory calls, each once, with aliases between them")
  func ntCalls() throws {
    let guest = try ScriptTestGuest()
    let text = """
      {"steps": [
        {"call": "CreateProcess", "as": "A", "expect": "STATUS_SUCCESS"},
        {"call": "NtAllocateVirtualMemory", "ProcessHandle": "A", "BaseAddress": 0, "ZeroBits": 0,
         "RegionSize": "1MiB", "AllocationType": "MEM_RESERVE|MEM_COMMIT", "Protect": "PAGE_READWRITE",
         "expect": "STATUS_SUCCESS", "save": {"r": "BaseAddress", "size": "RegionSize"}},
        {"call": "WritePattern", "ProcessHandle": "A", "Address": "$r+5", "Size": "64KiB", "Seed": 7,
         "expect": "STATUS_SUCCESS"},
        {"call": "CheckPattern", "ProcessHandle": "A", "Address": "$r+5", "Size": "64KiB", "Seed": 7,
         "expect": "STATUS_SUCCESS"},
        {"call": "NtProtectVirtualMemory", "ProcessHandle": "A", "BaseAddress": "$r", "RegionSize": 4096,
         "NewProtect": "PAGE_READONLY", "expect": "STATUS_SUCCESS"},
        {"call": "Touch", "ProcessHandle": "A", "Address": "$r+4096", "Pages": 2, "Access": "write",
         "expect": "STATUS_SUCCESS"},
        {"call": "Touch", "ProcessHandle": "A", "Address": "$r", "Pages": 2, "Access": "write",
         "expect": "STATUS_ACCESS_VIOLATION"},
        {"call": "NtQueryVirtualMemory", "ProcessHandle": "A", "BaseAddress": "$r+12",
         "MemoryInformationClass": "MemoryBasicInformation", "expect": "STATUS_SUCCESS"},
        {"call": "NtQueryVirtualMemory", "ProcessHandle": 4, "BaseAddress": "$r",
         "MemoryInformationClass": "MemoryBasicInformation", "expect": "STATUS_INVALID_HANDLE"},
        {"call": "NtFreeVirtualMemory", "ProcessHandle": "A", "BaseAddress": "$r", "RegionSize": 0,
         "FreeType": "MEM_RELEASE", "expect": "STATUS_SUCCESS"},
        {"call": "NtQueryVirtualMemory", "ProcessHandle": "A", "BaseAddress": "$r",
         "MemoryInformationClass": "MemoryBasicInformation", "expect": "STATUS_SUCCESS"},
        {"call": "NtFreeVirtualMemory", "ProcessHandle": "A", "BaseAddress": "$r", "RegionSize": 0,
         "FreeType": "MEM_RELEASE", "expect": "STATUS_MEMORY_NOT_ALLOCATED"},
        {"call": "NtQueryVirtualMemory", "ProcessHandle": "A", "BaseAddress": "$r",
         "MemoryInformationClass": "MemoryBasicInformation", "expect": "STATUS_SUCCESS"},
        {"call": "NtQueryVirtualMemory", "ProcessHandle": "A", "BaseAddress": "$r",
         "MemoryInformationClass": "MemoryBasicInformation", "expect": "STATUS_SUCCESS"},
        {"call": "Checkpoint", "name": "end"}]}
      """
    let script = try Script.parse(text)
    let results = try guest.run(script)
    for (step, result) in zip(script.steps, results) {
      if let expect = step.expect { #expect(expect.contains(result.status), "step \(step.index): \(result)") }
    }
    let base = results[1].outputs[0]
    #expect(base != 0 && base & 0xFFFF == 0 && results[1].outputs[1] == 1 << 20)
    #expect(results[3].outputs == [0])
    #expect(results[4].outputs == [base, 4096, 0x04], "BaseAddress, RegionSize, OldProtect PAGE_READWRITE")
    #expect(results[6].outputs == [base, 0])
    #expect(
      results[7].outputs == [base, base, 0x04, 4096, 0x1000, 0x02, 0x2_0000],
      "the read-only first page: MEM_COMMIT, PAGE_READONLY, MEM_PRIVATE")
    #expect(results[9].outputs == [base, 1 << 20])
    #expect(results[10].outputs[0] == base && results[10].outputs[4] == 0x1_0000, "MEM_FREE")
    print(
      "script step ticks: NtQueryVirtualMemory \(results[7].ticks), invalid handle \(results[8].ticks), "
        + "NtAllocateVirtualMemory \(results[1].ticks), NtProtectVirtualMemory \(results[4].ticks), "
        + "NtFreeVirtualMemory \(results[9].ticks), NtQueryVirtualMemory of free memory \(results[10].ticks) "
        + "then \(results[12].ticks) and \(results[13].ticks), Checkpoint \(results[14].ticks)")
    try guest.finish()
  }

  @Test("hostile records: unknown calls, bad slots and handles, huge counts; the test hook changes state and fails")
  func hostileRecordsAndTestHook() throws {
    let guest = try ScriptTestGuest(["script.test-hooks"])
    guest.writeRaw(0, call: ScriptCall.createProcess.rawValue, operands: [])
    guest.record(0).storeBytes(of: UInt8(200), toByteOffset: ScriptStepRecord.saveSlots, as: UInt8.self)
    let created = try guest.send(count: 1, outputCounts: [1])
    #expect(created[0].status == 0)
    let handle = created[0].outputs[0]
    let lowest = UserAddressSpace.lowest
    guest.writeRaw(0, call: 0x77, operands: [handle])
    guest.writeRaw(1, call: ScriptCall.touch.rawValue, operands: [handle + 4, lowest, 1, 1])
    guest.writeRaw(2, call: ScriptCall.touch.rawValue, operands: [0, lowest, 1, 1])
    // Operand 0 from slot 200 (the handle step 0 of the last batch saved), plus 0.
    guest.writeRaw(3, call: ScriptCall.touch.rawValue, operands: [0, lowest, 1, 1])
    guest.record(3).storeBytes(of: UInt8(200), toByteOffset: ScriptStepRecord.operandSlots, as: UInt8.self)
    guest.writeRaw(4, call: ScriptCall.testChangeThenFail.rawValue, operands: [handle])
    guest.writeRaw(5, call: ScriptCall.touch.rawValue, operands: [handle, lowest, 16, 1])
    guest.writeRaw(6, call: ScriptCall.touch.rawValue, operands: [handle, 0x8000_0000_0000, 3, 0])
    guest.writeRaw(7, call: ScriptCall.touch.rawValue, operands: [handle, lowest, .max, 1])
    guest.writeRaw(8, call: ScriptCall.touch.rawValue, operands: [handle, lowest, 1, 7])
    guest.writeRaw(9, call: ScriptCall.writePattern.rawValue, operands: [handle, lowest, .max, 5])
    guest.writeRaw(10, call: ScriptCall.testChangeThenFail.rawValue, operands: [12345])
    guest.writeRaw(11, call: ScriptCall.checkPattern.rawValue, operands: [handle, lowest + 1, 0xFFFF, 5])
    guest.writeRaw(12, call: ScriptCall.checkPattern.rawValue, operands: [handle, lowest, .max, 5])
    // Stop after the last one: the Mm is validated there.
    guest.record(12).storeBytes(
      of: ScriptStepFlags.stopAfter.rawValue, toByteOffset: ScriptStepRecord.flags, as: UInt32.self)
    let results = try guest.send(count: 13, outputCounts: [0, 2, 2, 2, 0, 2, 2, 2, 2, 0, 0, 1, 1])
    #expect(results[0].status == Self.notImplemented)
    #expect(results[1].status == Self.invalidHandle)
    #expect(results[2].status == Self.invalidHandle)
    #expect(results[3].status == Self.accessViolation && results[3].outputs == [lowest, 0], "nothing there yet")
    #expect(results[4].status == Self.unsuccessful, "the hook fails")
    #expect(results[5].status == 0 && results[5].outputs == [0, 16], "after changing the state")
    #expect(results[6].status == Self.accessViolation)
    #expect(results[6].outputs == [0x8000_0000_0000, 0], "a non-canonical address (#GP) is an access violation")
    #expect(results[7].status == Self.accessViolation && results[7].outputs == [lowest + 16 * 4096, 16])
    #expect(results[8].status == 0xC000_000D)
    #expect(results[9].status == Self.accessViolation, "64 KiB written, then the fault")
    #expect(results[10].status == Self.invalidHandle)
    #expect(results[11].status == 0 && results[11].outputs == [0])
    #expect(results[12].status == Self.accessViolation && results[12].outputs == [0])
    #expect(guest.stops.map { "\($0.step):\($0.phase)" } == ["12:1"])
    // The process table holds 16: the 17th CreateProcess fails and hands out no handle.
    for n in 0..<16 { guest.writeRaw(n, call: ScriptCall.createProcess.rawValue, operands: []) }
    let more = try guest.send(count: 16, outputCounts: Array(repeating: 1, count: 16))
    #expect(more.prefix(15).map(\.outputs[0]) == (1...15).map { ScriptHandles.handle(ofProcess: $0) })
    #expect(more.prefix(15).allSatisfy { $0.status == 0 })
    #expect(more[15].status == 0xC000_009A && more[15].outputs == [0], "STATUS_INSUFFICIENT_RESOURCES")
    try guest.finish()
  }

  @Test("without script.test-hooks the test hook is not implemented")
  func testHookNeedsItsWord() throws {
    let guest = try ScriptTestGuest()
    guest.writeRaw(0, call: ScriptCall.createProcess.rawValue, operands: [])
    guest.writeRaw(1, call: ScriptCall.testChangeThenFail.rawValue, operands: [ScriptHandles.handle(ofProcess: 0)])
    let results = try guest.send(count: 2, outputCounts: [1, 0])
    #expect(results[0].status == 0 && results[0].outputs == [ScriptHandles.handle(ofProcess: 0)])
    #expect(results[1].status == Self.notImplemented)
    try guest.finish()
  }
}
