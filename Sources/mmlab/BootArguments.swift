import ArgumentParser
import Foundation
import Inspect
import Machine

/// Options of every command that boots the guest.
struct BootArguments: ParsableArguments {
  @Option(name: .long, help: "Guest kernel ELF (default: the image built with mmlab).")
  var image: String?

  @Option(name: .long, help: "Guest RAM in MiB (64), or with a unit: 64M, 1G.")
  var memory = MemorySizeArgument(mebibytes: 64)

  @Flag(
    name: .long, help: "Log VM creation and every stop on standard error (MMLAB_LOG_LEVEL=trace for every hypercall).")
  var verbose = false

  @Option(
    name: .long, help: "Watchdog in seconds for each leg of the run (boot to a checkpoint, one checkpoint to the next)."
  )
  var timeout = SecondsArgument(10)

  @Option(name: .long, help: "kvm: drive /dev/kvm directly (default); libvirt: a transient libvirt domain (QEMU).")
  var backend: BackendName = .kvm

  @Option(name: .long, help: "libvirt connection URI for --backend libvirt.")
  var connect = "qemu:///system"

  @Option(
    name: .long,
    help:
      "QEMU accelerator for --backend libvirt: kvm, or tcg (QEMU's emulator; the default where /dev/kvm is missing, and slow)."
  )
  var accel: LibvirtMachine.Accelerator?

  @Option(
    name: .long,
    help:
      "How --backend libvirt reaches guest RAM: file (the shared RAM file; local daemons), volume (a storage volume over it; the default for remote daemons) or peek (read-only)."
  )
  var guestMemory: GuestMemoryName?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "A raw disk image the guest sees as a virtio-blk disk (repeatable, at most 8); default: the package's FAT32 volume.",
      discussion: "The run works on a private copy of each image, removed afterwards, unless --disk-persist."))
  var disk: [String] = []

  @Flag(name: .long, help: "Let the guest write the --disk images themselves instead of private copies.")
  var diskPersist = false

  func validate() throws {
    guard disk.count <= PCIBus.maximumDisks else {
      throw ValidationError("at most \(PCIBus.maximumDisks) --disk images (got \(disk.count))")
    }
    if diskPersist, disk.isEmpty { throw ValidationError("--disk-persist needs a --disk image") }
    if diskPersist, disk.contains(DiskNames.defaultName) {
      throw ValidationError("--disk-persist would change the package's default image: copy it and name the copy")
    }
    for name in disk {
      guard let path = DiskNames.path(name) else {
        throw ValidationError("--disk default: the package build made no default image (it needs mkfs.fat and mtools)")
      }
      do {
        let (descriptor, size) = try InputFile.open(path)
        close(descriptor)
        guard size >= 512 else { throw ValidationError("--disk \(path) is smaller than one 512-byte sector") }
      } catch let error as InputFileError {
        throw ValidationError("--disk \(error)")
      }
    }
    guard (2...65536).contains(memory.mebibytes) else {
      throw ValidationError("--memory must be between 2 and 65536 MiB (got \(memory))")
    }
    guard timeout.value > 0, timeout.value <= 86400 else {
      throw ValidationError("--timeout must be more than 0 and at most 86400 seconds (got \(timeout))")
    }
    if backend == .kvm, accel != nil || connect != "qemu:///system" || guestMemory != nil {
      throw ValidationError("--accel, --connect and --guest-memory belong to --backend libvirt")
    }
  }

  /// The backend the options name; without --accel, TCG where /dev/kvm is missing (with a note).
  var machineBackend: Backend {
    guard backend == .libvirt else { return .kvm }
    if let accel { return .libvirt(uri: connect, accelerator: accel) }
    if FileManager.default.fileExists(atPath: "/dev/kvm") { return .libvirt(uri: connect, accelerator: .kvm) }
    Terminal.note("no /dev/kvm here: QEMU runs the guest with TCG, its own emulator (slow); --accel kvm to insist")
    return .libvirt(uri: connect, accelerator: .tcg)
  }

  /// The boot options, with logging set up first (once per process, as swift-log wants);
  /// the disks are private copies unless --disk-persist.
  func options(commandLine: [String] = []) throws -> BootOptions {
    LogSetup.bootstrap(verbose: verbose, environment: ProcessInfo.processInfo.environment)
    var options = BootOptions(
      imagePath: image, memoryMiB: memory.mebibytes, timeoutSeconds: timeout.value, commandLine: commandLine,
      backend: machineBackend)
    options.libvirtMemoryAccess = guestMemory?.access
    let paths = disk.compactMap(DiskNames.path)
    options.disks = diskPersist ? paths : try DiskCopies.scratchCopies(of: paths)
    return options
  }
}

/// `--guest-memory`.
enum GuestMemoryName: String, ExpressibleByArgument, CaseIterable {
  case file, volume, peek
  var access: LibvirtMachine.MemoryAccess {
    switch self {
    case .file: .sharedFile
    case .volume: .volume
    case .peek: .peek
    }
  }
}

/// `--backend`.
enum BackendName: String, ExpressibleByArgument, CaseIterable {
  case kvm, libvirt
}

extension LibvirtMachine.Accelerator: ExpressibleByArgument {}

/// Output formats of reports a person or a program reads.
enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
  case text, json
}
