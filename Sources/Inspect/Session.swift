import Foundation
import GuestABI
import GuestImage
import Machine
import X86Paging

/// Which machine runs the guest.
public enum Backend: Sendable, Equatable {
  /// KVMMachine: /dev/kvm driven directly.
  case kvm
  /// LibvirtMachine: a transient domain on the daemon at `uri`.
  case libvirt(uri: String, accelerator: LibvirtMachine.Accelerator)
}

/// How to boot the guest.
public struct BootOptions: Sendable {
  /// The guest ELF; nil means the image built with the package.
  public var imagePath: String?
  public var memoryMiB: Int
  /// Watchdog for each leg of the run (boot to checkpoint, checkpoint to checkpoint).
  public var timeoutSeconds: Double
  /// Words for the guest's command line (GuestABI `GuestCommandLine`).
  public var commandLine: [String]
  public var backend: Backend
  /// How a LibvirtMachine reaches guest RAM; nil: the shared file on a local
  /// daemon, peeks on a remote one.
  public var libvirtMemoryAccess: LibvirtMachine.MemoryAccess? = nil
  /// Whether a LibvirtMachine uploads the guest image to its host first; nil:
  /// only for remote daemons.
  public var libvirtUploadImage: Bool? = nil
  /// Disk images the guest sees as virtio-blk disks, in order (the files
  /// themselves: a caller wanting a scratch copy makes it, see `DiskCopies`).
  public var disks: [String] = []

  public init(
    imagePath: String? = nil, memoryMiB: Int = 64, timeoutSeconds: Double = 10, commandLine: [String] = [],
    backend: Backend = .kvm
  ) {
    self.imagePath = imagePath
    self.memoryMiB = memoryMiB
    self.timeoutSeconds = timeoutSeconds
    self.commandLine = commandLine
    self.backend = backend
  }
}

/// Why a session could not do what was asked, in words for the user.
public enum SessionError: Error, CustomStringConvertible, Equatable {
  case image(String)
  case machine(MachineError)
  /// The guest exited while the host waited for `waitingFor` (a checkpoint name, or nil for any).
  case guestExited(status: UInt8, exception: GuestException?, waitingFor: String?, reached: [String] = [])
  case guestShutdown(reason: String, registers: RegisterState?)
  case timedOut(seconds: Double, registers: RegisterState?, waitingFor: String?)
  /// The guest's state could not be read (no debug block, a corrupt one).
  case inspection(String)
  /// A FAT volume the guest wrote fails `fsck.fat -n`: fsck's words.
  case volumeDamaged(path: String, fsck: String)

  public var description: String {
    switch self {
    case .image(let why): return why
    case .machine(let error): return error.description
    case .guestExited(let status, let exception, let waitingFor, let reached):
      var text = "the guest exited with status \(status)"
      if let waitingFor {
        text += " before reaching checkpoint \"\(waitingFor)\""
        text += reached.isEmpty ? " (it reached none)" : " (it reached: \(reached.joined(separator: ", ")))"
      }
      if let exception { text += "; it reported \(exception.summary)" }
      return text
    case .guestShutdown(let reason, let registers):
      return "the guest shut down (\(reason))" + (registers.map { "; last registers: \($0.summary)" } ?? "")
    case .inspection(let why): return why
    case .volumeDamaged(let path, let fsck):
      return "the guest left the FAT volume \(path) damaged; fsck.fat -n says: \(fsck)"
    case .timedOut(let seconds, let registers, let waitingFor):
      let target = waitingFor.map { "checkpoint \"\($0)\"" } ?? "a stop"
      return "the guest did not reach \(target) within \(formatSeconds(seconds)) (watchdog; raise it with --timeout)"
        + (registers.map { "; registers: \($0.summary)" } ?? "")
    }
  }
}

/// One booted guest: the machine, and the checkpoint it is stopped at.
public final class Session {
  public let machine: any Machine
  public let options: BootOptions
  /// The checkpoint the guest is stopped at, if any.
  public private(set) var checkpoint: Checkpoint?
  /// Set once the guest has exited.
  public private(set) var exitStatus: UInt8?
  /// Names of the checkpoints reached so far, in order.
  public private(set) var checkpointsReached: [String] = []
  /// The FAT volumes among the disks, checked with fsck.fat when the guest exits having written them.
  public let volumes: VolumeCheck

  /// Loads the image and creates the machine; the guest has not run yet.
  public convenience init(options: BootOptions, console: @escaping (String) -> Void = { _ in }) throws(SessionError) {
    let image = try Session.loadImage(options.imagePath, ramSize: UInt64(options.memoryMiB) << 20)
    try self.init(image: image, options: options, console: console)
  }

  /// Creates the machine for an image already loaded (`options.imagePath` is not read again).
  public init(image: BootImage, options: BootOptions, console: @escaping (String) -> Void = { _ in })
    throws(SessionError)
  {
    self.options = options
    volumes = VolumeCheck(disks: options.disks)
    var words = options.commandLine
    if !options.disks.isEmpty { words.append("\(GuestCommandLine.disksPrefix)\(options.disks.count)") }
    do {
      switch options.backend {
      case .kvm:
        if !words.contains(where: { $0.hasPrefix("console=") }) {
          words.insert(String(describing: GuestCommandLine.hypercallConsole), at: 0)
        }
        let disks = try options.disks.map { path throws(MachineError) in try DiskFile(path: path) }
        machine = try KVMMachine(
          image: image, memoryMiB: options.memoryMiB, commandLine: words.joined(separator: " "), disks: disks)
      case .libvirt(let uri, let accelerator):
        guard let path = options.imagePath ?? GuestImage.defaultPath else {
          throw SessionError.image("no guest image: the package build did not produce mmlab-guest.elf")
        }
        guard let template = GuestImage.domainTemplate else {
          throw SessionError.image(
            "no libvirt domain template: the package build did not copy Images/libvirt/domain.xml")
        }
        machine = try LibvirtMachine(
          imagePath: path, domainTemplate: template, memoryMiB: options.memoryMiB,
          commandLine: words.joined(separator: " "), uri: uri, disks: options.disks,
          accelerator: accelerator, memoryAccess: options.libvirtMemoryAccess, uploadImage: options.libvirtUploadImage)
      }
    } catch let error as MachineError {
      throw .machine(error)
    } catch let error as SessionError {
      throw error
    } catch {
      throw .inspection("\(error)")
    }
    machine.console = console
  }

  /// Reads and parses the guest ELF.
  public static func loadImage(_ path: String?, ramSize: UInt64) throws(SessionError) -> BootImage {
    guard let path = path ?? GuestImage.defaultPath else {
      throw .image("no guest image: the package build did not produce mmlab-guest.elf; run `swift build`")
    }
    let bytes: [UInt8]
    do { bytes = try InputFile.read(path, limit: 1 << 28) } catch { throw .image("guest image \(error)") }
    do {
      return try ELFImage.load(bytes, ramSize: ramSize)
    } catch {
      throw .image("guest image \(path): \(error)")
    }
  }

  /// Runs until the checkpoint named `name` (or with that numeric code), or the next one if nil.
  @discardableResult
  public func run(toCheckpoint name: String?) throws(SessionError) -> Checkpoint {
    while true {
      let reached = try nextCheckpoint(waitingFor: name)
      if name == nil || reached.name == name || String(reached.code) == name { return reached }
    }
  }

  /// Runs through any remaining checkpoints to the guest's exit and returns its status.
  public func runToExit() throws(SessionError) -> (status: UInt8, exception: GuestException?) {
    do {
      while true { _ = try nextCheckpoint(waitingFor: nil) }
    } catch .guestExited(let status, let exception, _, _) {
      try volumes.check()
      return (status, exception)
    }
  }

  /// Resumes the guest until its next checkpoint; every other stop is an error.
  private func nextCheckpoint(waitingFor name: String?) throws(SessionError) -> Checkpoint {
    let stop: MachineStop
    do { stop = try machine.run(timeoutSeconds: options.timeoutSeconds) } catch { throw .machine(error) }
    switch stop {
    case .checkpoint(let reached):
      checkpoint = reached
      checkpointsReached.append(reached.name)
      return reached
    case .exited(let status, let exception):
      exitStatus = status
      checkpoint = nil
      throw .guestExited(status: status, exception: exception, waitingFor: name, reached: checkpointsReached)
    case .shutdown(let reason, let registers):
      throw .guestShutdown(reason: reason, registers: registers)
    case .timedOut(let seconds, let registers):
      throw .timedOut(seconds: seconds, registers: registers, waitingFor: name)
    }
  }

  /// Registers of the stopped guest.
  public func registers() throws(SessionError) -> RegisterState {
    do { return try machine.registers() } catch { throw .machine(error) }
  }
}

func formatSeconds(_ seconds: Double) -> String {
  seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
}

extension GuestException {
  /// "#PF (vector 14), error code 0x3, CR2 0x..., RIP 0x...".
  public var summary: String {
    "\(exceptionName(vector)) (vector \(vector)), error code \(hex(errorCode)), CR2 \(hex(cr2)), RIP \(hex(rip))"
  }
}

extension RegisterState {
  /// The registers a user wants first after a crash.
  public var summary: String {
    "RIP \(hex(rip)) RSP \(hex(rsp)) RFLAGS \(hex(rflags)) CR0 \(hex(cr0)) CR2 \(hex(cr2)) CR3 \(hex(cr3)) CR4 \(hex(cr4)) EFER \(hex(efer))"
  }
}

/// Mnemonic of an exception vector (Intel SDM vol. 3A, table 6-1).
public func exceptionName(_ vector: UInt64) -> String {
  let names = [
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "reserved",
    "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
  ]
  return vector < UInt64(names.count) ? names[Int(vector)] : "interrupt"
}
