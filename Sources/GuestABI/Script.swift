/// The script interpreter's contract: the host streams a script's steps to
/// the guest in batches of step records; the guest performs each in its
/// process and writes one result record per step.
///
/// Flow: with `GuestCommandLine`'s script word the guest announces its request
/// and results buffers (`HypercallKind.region`) and stops at `scriptReady`. The
/// host writes a batch (a header and `stepCount` step records) and resumes;
/// the guest runs the steps, stopping at `scriptStep` after any step whose
/// flags ask for it (the host inspects the Mm there), writes the results, and
/// stops at `scriptReady` again. A batch of zero steps ends the run.
///
/// The interpreter runs at CPL 3 (Guest/Boot/script.S), where kvm-pvm runs it
/// natively: it reads the records, resolves operands and writes results
/// through `ScriptWindow`, and enters the kernel only for what needs it, each
/// NT call through the system-call gate (`ScriptGate`), as a user program calls NT.
///
/// A step's operands are immediates or alias references: the guest keeps one
/// table of 64-bit alias slots for the whole script, so a step can use what
/// an earlier step of the same batch saved (a BaseAddress, a process handle).
public enum ScriptABI {
  /// Steps one batch may hold (what `ScriptWindow`'s request pages hold).
  public static let batchCapacity = 128
  /// Alias slots (slot 0 means "an immediate").
  public static let aliasSlots = 256
  /// Operands a step record holds.
  public static let operandCount = 8
  /// Out-parameters a result record holds.
  public static let outputCount = 8
  /// Bytes of the request header: UInt64 step count, then reserved words.
  public static let requestHeaderSize = 64
  public static let requestStepCount = 0
  /// Guest to host at a `scriptStep` stop: UInt64 the step's index, and
  /// UInt64 0 when it has yet to run, 1 when it ran (its result is written).
  public static let requestStopStep = 8
  public static let requestStopPhase = 16
  /// Where a batch's strings (ObjectName values) start in the request buffer,
  /// after the steps; a string operand is its offset from here plus its
  /// length times 2^32 (`stringOperand`).
  public static let stringsOffset = requestHeaderSize + batchCapacity * ScriptStepRecord.size
  /// Bytes of strings one batch may carry.
  public static let stringsCapacity = 8192
  /// The request buffer: header, `batchCapacity` steps and the strings.
  public static let requestBufferSize = stringsOffset + stringsCapacity

  /// The operand for `length` bytes at `offset` in the strings area.
  @inlinable public static func stringOperand(offset: Int, length: Int) -> UInt64 {
    UInt64(offset) | UInt64(length) << 32
  }
  /// The results buffer: `batchCapacity` results.
  public static let resultsBufferSize = batchCapacity * ScriptResultRecord.size
}

/// Where the interpreter's buffers sit in every address space a script runs
/// in (the kernel's and each process's), just above the user code pages and
/// below 2^47, where no reservation reaches: the request pages (read-only to
/// user mode: the kernel writes the header), the results pages, and a page of
/// the alias slots with the interpreter's stack above them. A script's own
/// user accesses stop at `UserAddressSpace.end` with an access violation, so
/// they never reach these pages.
public enum ScriptWindow {
  public static let pageSize: UInt64 = 4096
  public static let base: UInt64 = UserLayout.codeBase + UserLayout.codeMaximumSize
  public static let requestPages: UInt64 = (UInt64(ScriptABI.requestBufferSize) + pageSize - 1) / pageSize
  public static let resultsPages: UInt64 = (UInt64(ScriptABI.resultsBufferSize) + pageSize - 1) / pageSize
  public static let slotPages: UInt64 = 1
  public static let request: UInt64 = base
  public static let results: UInt64 = request + requestPages * pageSize
  public static let slots: UInt64 = results + resultsPages * pageSize
  /// The interpreter's stack grows down from the top of the slot page.
  public static let stackTop: UInt64 = slots + slotPages * pageSize
  public static let size: UInt64 = stackTop - base
  /// Bytes of the slot page the stack may use.
  public static let stackBytes: UInt64 = slotPages * pageSize - UInt64(ScriptABI.aliasSlots) * 8
}

/// The interpreter's system-call gate (Guest/Boot/script.S `user_script_gate`,
/// a UD2 the kernel knows): RAX a `ScriptCall` with its operands in RDI, RSI,
/// RDX, RCX, R8, R9, R10, R11 (resolved), or one of these requests. For a call
/// the status comes back in RAX and the out-parameters in the same eight
/// registers. For Touch, WritePattern and CheckPattern the kernel only
/// prepares: it checks the handle and the access and loads the process, then
/// returns 0 and the routine's arguments in RDI, RSI, RDX (the interpreter
/// runs the routine at CPL 3), or a failure status and out-parameters.
public enum ScriptGate {
  /// The batch is done: the kernel stops at `scriptReady` and returns the
  /// next batch's step count (at least 1; a batch of zero ends the run there).
  public static let nextBatch: UInt64 = 0x1_0000
  /// Stop at `scriptStep`: RDI the step's index, RSI the phase (0 before, 1 after).
  public static let stop: UInt64 = 0x1_0001
  /// Touch with execute access, before each page's fetch: RDI the address.
  /// The kernel makes sure the fetch runs nothing of the page (it plants an
  /// invalid opcode there and puts the byte back when the #UD comes, R8
  /// holding where the routine goes on).
  public static let armExecute: UInt64 = 0x1_0002
}

/// One step as the guest reads it.
public enum ScriptStepRecord {
  public static let size = 128
  /// UInt32 `ScriptCall`.
  public static let call = 0
  /// UInt32 `ScriptStepFlags`.
  public static let flags = 4
  /// UInt32 the step's index in the script (echoed in the result and at stops).
  public static let index = 8
  /// 8 × UInt64 operand values, in the call's parameter order: an immediate,
  /// or for an alias reference the offset added (wrapping) to the slot's value.
  public static let operands = 16
  /// 8 × UInt8 operand sources: 0 an immediate, n the alias slot n.
  public static let operandSlots = 80
  /// 8 × UInt8: the alias slot each out-parameter is saved into (0: none).
  public static let saveSlots = 88
}

/// One step's result as the guest writes it.
public enum ScriptResultRecord {
  public static let size = 80
  /// UInt32 NTSTATUS.
  public static let status = 0
  /// UInt32 the step's index.
  public static let index = 4
  /// 8 × UInt64 out-parameters, in the call's order.
  public static let outputs = 8
  /// UInt64 TSC ticks the guest spent on the step.
  public static let ticks = 72
}

/// What a step does.
public enum ScriptCall: UInt32, Sendable, CaseIterable {
  case createProcess = 1
  case allocateVirtualMemory = 2
  case freeVirtualMemory = 3
  case protectVirtualMemory = 4
  case queryVirtualMemory = 5
  /// Accesses pages from user mode in the process.
  case touch = 6
  /// User mode writes bytes derived from (seed, address).
  case writePattern = 7
  /// User mode checks every byte WritePattern wrote.
  case checkPattern = 8
  /// The host validates the Mm here.
  case checkpoint = 9
  /// NT's file calls on the guest's FAT volume (non-cached, `FileObjectNames`).
  /// Each takes the calling process's handle first: its memory holds the buffers.
  case createFile = 10
  case openFile = 11
  case readFile = 12
  case writeFile = 13
  case queryInformationFile = 14
  case setInformationFile = 15
  case flushBuffersFile = 16
  case close = 17
  /// NT's section calls (`SectionHandles`). A call with more parameters than
  /// a step record holds takes its last ones from the batch's strings area:
  /// operand 7 is then a string operand (`ScriptABI.stringOperand`) over
  /// UInt64s, as NT's system calls take arguments past the fourth from the stack.
  case createSection = 18
  case openSection = 19
  case mapViewOfSection = 20
  case unmapViewOfSection = 21
  case flushVirtualMemory = 22
  /// Cc's own routines, on a file handle (whole file when Length is 0).
  case ccFlushCache = 23
  case ccPurgeCacheSection = 24
  /// NtQuerySection and NtExtendSection, on a section handle.
  case querySection = 25
  case extendSection = 26
  /// Test only (`GuestCommandLine.scriptTestHooks`): reserves and commits
  /// 64 KiB anywhere in the process, then fails with STATUS_UNSUCCESSFUL, so
  /// the host can prove it notices a failing call that changed state.
  case testChangeThenFail = 0xF0
}

/// Stops a step asks for.
public struct ScriptStepFlags: OptionSet, Sendable, Hashable {
  public var rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// Stop at `scriptStep` before the step runs (the host keeps the state it
  /// must compare with, for a step that may fail).
  public static let stopBefore = Self(rawValue: 1 << 0)
  /// Stop at `scriptStep` after it ran.
  public static let stopAfter = Self(rawValue: 1 << 1)
}

/// Process handles as the guest hands them out: NT handles are multiples of
/// four, and these never collide with small numbers a script passes by hand.
public enum ScriptHandles {
  public static let first: UInt64 = 0x1000
  /// The handle of process slot `index`.
  @inlinable public static func handle(ofProcess index: Int) -> UInt64 { first + UInt64(index) * 4 }
}

/// The bytes WritePattern writes and CheckPattern expects: the 8-byte word at
/// each 8-byte-aligned address A is splitmix64's output for the state
/// `seed &+ A`, stored little-endian, so byte `a` is byte `a & 7` of the word
/// at `a & ~7`. The guest computes it in Guest/Boot/support.S
/// (`user_write_pattern`, `user_check_pattern`); the host with these.
public enum ScriptPattern {
  /// The word at the 8-byte-aligned address holding `address`.
  @inlinable public static func word(seed: UInt64, address: UInt64) -> UInt64 {
    var z = seed &+ (address & ~7) &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// The byte at `address`.
  @inlinable public static func byte(seed: UInt64, address: UInt64) -> UInt8 {
    UInt8(truncatingIfNeeded: word(seed: seed, address: address) >> ((address & 7) * 8))
  }
}
