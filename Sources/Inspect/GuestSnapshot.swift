import Machine
import X86Paging

/// Guest memory and registers to inspect: a live guest stopped at a
/// checkpoint, or a core file. Keeps whatever owns the memory alive.
public struct GuestSnapshot {
  public let memory: GuestPhysicalMemory
  public let registers: RegisterState
  /// MAXPHYADDR the walk assumes (from the platform, or 48 for a core file with no word on it).
  public let maxPhysicalAddressBits: Int
  /// Physical address of the guest's debug block (GuestABI `DebugBlock`), if known.
  public let debugBlockAddress: UInt64?
  /// What answered: the platform for a live guest, nil for a core file.
  public let platform: Platform?
  /// "checkpoint \"booted\"" or "core file PATH".
  public let source: String
  /// Keeps the session or the core mapping (and so `memory`) alive.
  private let owner: AnyObject

  /// The guest stopped at `checkpoint` in `session`.
  public init(session: Session, checkpoint: Checkpoint) throws(SessionError) {
    memory = session.machine.memory
    registers = try session.registers()
    debugBlockAddress = session.machine.debugBlockAddress
    platform = session.machine.platform
    maxPhysicalAddressBits = session.machine.platform.guestMaxPhysicalAddressBits ?? 48
    source = "checkpoint \"\(checkpoint.name)\""
    owner = session
  }

  /// A core file read with `CoreFile.read`.
  public init(core: LoadedCore, maxPhysicalAddressBits: Int = 48) {
    memory = core.memory
    registers = core.registers
    debugBlockAddress = core.debugBlockAddress
    platform = nil
    self.maxPhysicalAddressBits = maxPhysicalAddressBits
    source = "core file \(core.path)"
    owner = core
  }

  /// The paging context the registers describe.
  public var pagingContext: PagingContext {
    PagingContext(registers: registers, maxPhysicalAddressBits: maxPhysicalAddressBits)
  }
}

extension PagingContext {
  /// The context of a vCPU whose registers are `registers`.
  public init(registers: RegisterState, maxPhysicalAddressBits: Int, pkru: UInt32 = 0) {
    self.init(
      cr0: ControlRegister0(rawValue: registers.cr0), cr3: registers.cr3,
      cr4: ControlRegister4(rawValue: registers.cr4), efer: ExtendedFeatureEnable(rawValue: registers.efer),
      rflags: RFlags(rawValue: registers.rflags), pkru: ProtectionKeyRights(rawValue: pkru),
      maxPhysicalAddressBits: maxPhysicalAddressBits)
  }
}

extension GuestSnapshot {
  /// Boots the guest and stops at `checkpoint` (nil: the first one).
  public static func boot(
    _ options: BootOptions, checkpoint: String?, console: @escaping (String) -> Void = { _ in }
  ) throws(SessionError) -> GuestSnapshot {
    let session = try Session(options: options, console: console)
    let reached = try session.run(toCheckpoint: checkpoint)
    return try GuestSnapshot(session: session, checkpoint: reached)
  }

  /// Reads a core file written by `mmlab dump-core` or QEMU's `dump-guest-memory`.
  public static func core(path: String, maxPhysicalAddressBits: Int = 48) throws(CoreFileError) -> GuestSnapshot {
    GuestSnapshot(core: try CoreFile.read(path: path), maxPhysicalAddressBits: maxPhysicalAddressBits)
  }
}
