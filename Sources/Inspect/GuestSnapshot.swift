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
  /// The disk images the guest sees (a live guest's, in order); none for a core file.
  public let disks: [String]
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
    disks = session.options.disks
    owner = session
  }

  /// What the snapshot had to assume, for the user to read (e.g. a register the core does not record).
  public private(set) var assumptions: [String] = []

  /// A core file read with `CoreFile.read`. QEMU's notes carry no EFER: with
  /// paging and PAE on, a core from an x86-64 guest is taken as long mode with
  /// NX enabled (EFER.LME|LMA|NXE), and `assumptions` says so.
  public init(core: LoadedCore, maxPhysicalAddressBits: Int = 48) {
    memory = core.memory
    var registers = core.registers
    if !core.eferKnown, registers.cr0 & (1 << 31) != 0, registers.cr4 & (1 << 5) != 0 {
      registers.efer = (1 << 8) | (1 << 10) | (1 << 11)
      assumptions.append(
        "the core records no EFER (QEMU's notes carry none): assumed LME|LMA|NXE (0xd00); translate takes --efer to say otherwise"
      )
    }
    self.registers = registers
    debugBlockAddress = core.debugBlockAddress
    platform = nil
    self.maxPhysicalAddressBits = maxPhysicalAddressBits
    source = "core file \(core.path)"
    disks = []
    owner = core
  }

  /// The FAT volume of disk 0, when the guest has one that the host's reader can open
  /// (what the clean-file-page rule and section reports read).
  public var volume: FatImage? { disks.first.flatMap { try? FatImage(path: $0) } }

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
