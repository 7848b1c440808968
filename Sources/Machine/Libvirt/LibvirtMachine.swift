import CLibvirt
import Foundation
import GuestABI
import Synchronization
import X86Paging

#if canImport(Glibc)
  import Glibc
#endif

/// The guest in a transient libvirt domain: QEMU with KVM, or QEMU's own
/// emulator (TCG). QEMU handles the guest's ports itself, so hypercalls take
/// the serial transport (`GuestCommandLine.hypercallSerial`): the guest
/// announces a call on COM1 and waits on a word of its record, which the host
/// reads and writes through the domain's RAM file, mapped shared. At a
/// checkpoint the domain is suspended; `run` serves the call and resumes it.
public final class LibvirtMachine: Machine {
  /// Which QEMU accelerator the domain uses.
  public enum Accelerator: String, Sendable, CaseIterable {
    case kvm
    case tcg
  }

  /// How mmlab reaches the guest's RAM.
  public enum MemoryAccess: Sendable {
    /// The domain's RAM file, mapped shared: reads and writes in place (a
    /// local daemon).
    case sharedFile
    /// A copy of RAM read and written through a storage pool over the
    /// domain's RAM directory (virStorageVolDownload/Upload), refreshed at
    /// every stop, written back by `commit`; answers go over COM1. What a
    /// remote daemon gets.
    case volume
    /// virDomainMemoryPeek into a copy, refreshed at every stop; answers go
    /// over COM1. Read-only: `commit` fails. For daemons where a storage pool
    /// cannot be made.
    case peek
  }

  public let platform: Platform
  public let memory: GuestPhysicalMemory
  public var console: (String) -> Void = { _ in }
  public var debugBlockAddress: UInt64? { reports.debugBlockAddress }
  public var measurements: [UInt64: GuestMeasurement] { reports.measurements }
  public var regions: [UInt64: GuestRegion] { reports.regions }
  public var lastException: GuestException? { reports.lastException }
  private var reports = GuestReports()
  /// The guest's TSC ticks at the host's rate (QEMU with KVM passes the host
  /// TSC through; TCG reads the host's): its "cpu MHz" with constant_tsc, on a
  /// local daemon. nil otherwise.
  public var timeStampCounterKHz: UInt64? {
    guard memoryAccess == .sharedFile, let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
      cpuinfo.contains("constant_tsc"),
      let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("cpu MHz") }),
      let mhz = Double(line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "")
    else { return nil }
    return UInt64(mhz * 1000)
  }
  /// The domain's name (mmlab-PID-N), for `virsh` while it runs.
  public var domainName: String { domain.name }

  private let connection: LibvirtConnection
  private let domain: LibvirtDomain
  private let serial: LibvirtConsole
  private let ram: UnsafeMutableRawBufferPointer
  /// The RAM file as a storage volume (`.volume` access).
  private let ramVolume: LibvirtVolume?
  /// How `memory` reaches guest RAM.
  public let memoryAccess: MemoryAccess
  /// The response a peek-mode checkpoint answer carries.
  private var pendingResponse: UInt64 = 0
  /// CR3 as the guest reported it at the pending checkpoint.
  private var reportedCR3: UInt64?
  private var started = false
  private var pendingRecord: UInt64?
  private var finalStop: MachineStop?
  private var exitStatus: UInt8?
  /// Serial bytes not yet delivered: a partial line or a partial marker.
  private var pending: [UInt8] = []

  private static let counter = Atomic<Int>(0)

  /// A disk image as QEMU opens it: an absolute path to a regular file on this
  /// host (a remote daemon would need the image on its own host).
  static func absoluteDiskPath(_ path: String) throws(MachineError) -> String {
    let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory), !isDirectory.boolValue else {
      throw .invalidConfiguration("disk image \(path) does not exist or is a directory")
    }
    return absolute
  }
  /// The largest guest whose RAM QEMU's pc machine keeps whole below 4 GiB.
  public static let maximumMemoryMiB = 3584

  /// Defines and starts (paused) a transient domain booting `imagePath`
  /// through its PVH note, maps its RAM and opens its console.
  public init(
    imagePath: String, domainTemplate: String, memoryMiB: Int, commandLine: String, uri: String = "qemu:///system",
    disks: [String] = [], accelerator: Accelerator = .kvm, memoryAccess: MemoryAccess? = nil, uploadImage: Bool? = nil
  ) throws(MachineError) {
    // QEMU's pc machine keeps RAM below 3.5 GiB in one piece at 0; more is
    // split around the PCI hole, which the one-region RAM file view here
    // does not model.
    guard (2...Self.maximumMemoryMiB).contains(memoryMiB) else {
      throw .invalidConfiguration(
        "the libvirt backend runs guests of 2 to \(Self.maximumMemoryMiB) MiB (QEMU's pc machine splits larger RAM "
          + "around the PCI hole); got \(memoryMiB) MiB")
    }
    connection = try LibvirtConnection(uri: uri)
    let access = memoryAccess ?? (connection.isLocal ? .sharedFile : .volume)
    self.memoryAccess = access
    let name = "mmlab-\(getpid())-\(Self.counter.add(1, ordering: .relaxed).newValue)"
    // A remote host boots the image from a file of its own.
    let kernel =
      try (uploadImage ?? !connection.isLocal) ? LibvirtImageUpload.place(imagePath, on: connection) : imagePath
    let words =
      (commandLine.split(separator: " ").map(String.init) + [String(describing: GuestCommandLine.hypercallSerial)])
      .filter { !$0.hasPrefix("console=hypercall") }
    let xml = try DomainTemplate(
      template: domainTemplate, name: name, kernel: kernel, commandLine: words.joined(separator: " "),
      memoryMiB: memoryMiB, accelerator: accelerator, disks: try disks.map(Self.absoluteDiskPath)
    ).xml()
    domain = try connection.createDomain(xml: xml, paused: true)
    do {
      switch access {
      case .sharedFile:
        ram = try Self.mapRAM(domainName: name, id: domain.id, bytes: memoryMiB << 20)
        ramVolume = nil
      case .volume:
        ram = Self.anonymousCopy(bytes: memoryMiB << 20)
        ramVolume = try LibvirtVolume(
          connection: connection, name: "\(name)-ram", directory: Self.ramDirectory(domainName: name, id: domain.id),
          file: "pc.ram")
      case .peek:
        ram = Self.anonymousCopy(bytes: memoryMiB << 20)
        ramVolume = nil
      }
      serial = try LibvirtConsole(domain: domain)
    } catch {
      domain.destroy()
      throw error
    }
    memory = GuestPhysicalMemory(regions: [.init(base: 0, bytes: ram)])
    platform = Self.platform(accelerator: accelerator, connection: connection)
  }

  deinit {
    domain.destroy()
    // (the RAM volume's pool goes with `ramVolume`)
    // SAFETY: the mapping from mapRAM, unmapped once.
    munmap(ram.baseAddress, ram.count)
  }

  /// Destroys the domain now (also done when the machine goes away).
  public func destroy() { domain.destroy() }

  /// QEMU's human monitor (HMP), e.g. "info tlb", through libvirt.
  public func monitorCommand(_ command: String) throws(MachineError) -> String {
    try domain.monitor(command)
  }

  /// Names of the running domains on `uri` that mmlab made (mmlab-PID-N).
  public static func mmlabDomains(uri: String = "qemu:///system") throws(MachineError) -> [String] {
    try LibvirtConnection(uri: uri).domainNames().filter { $0.hasPrefix("mmlab-") }
  }

  /// The platform: the host's KVM for `.kvm`, QEMU's software MMU for `.tcg`.
  static func platform(accelerator: Accelerator, connection: LibvirtConnection) -> Platform {
    let qemu = "QEMU \(connection.hypervisorVersion ?? "?") via libvirt \(connection.uri)"
    var platform: Platform
    switch accelerator {
    case .kvm:
      platform = Platform.detect(kvmAPIVersion: nil, guestAddressSizes: nil)
      platform.emulator = qemu + " (accel kvm)"
    case .tcg:
      platform = Platform(hypervisor: .qemuTCG, guestPaging: .softwareMMU)
      platform.emulator = qemu + " (accel tcg)"
    }
    return platform
  }

  /// Zeroed memory of mmlab's own for the peek copy (anonymous, unmapped on deinit).
  static func anonymousCopy(bytes: Int) -> UnsafeMutableRawBufferPointer {
    // SAFETY: a private anonymous mapping the machine owns.
    let address = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    precondition(address != MAP_FAILED, "LibvirtMachine.anonymousCopy: out of address space")
    return UnsafeMutableRawBufferPointer(start: address, count: bytes)
  }

  /// Copies `count` bytes of guest RAM at `address` into the local copy
  /// (nothing to do with the shared file).
  private func refresh(_ address: UInt64, count: Int) throws(MachineError) {
    guard count > 0, address + UInt64(count) <= UInt64(ram.count) else { return }
    let target = UnsafeMutableRawBufferPointer(rebasing: ram[Int(address)..<(Int(address) + count)])
    switch memoryAccess {
    case .sharedFile: return
    case .volume: try ramVolume!.read(address, into: target)
    case .peek: target.copyBytes(from: try domain.peekPhysical(address, count: count))
    }
  }

  /// Writes the local copy's `count` bytes at `address` back into the guest.
  public func commit(_ address: UInt64, count: Int) throws(MachineError) {
    guard count > 0, address + UInt64(count) <= UInt64(ram.count) else { return }
    switch memoryAccess {
    case .sharedFile: return
    case .volume:
      try ramVolume!.write(address, from: UnsafeRawBufferPointer(rebasing: ram[Int(address)..<(Int(address) + count)]))
    case .peek:
      throw .libvirt("guest RAM is read-only in peek mode (virDomainMemoryPeek has no writing twin)")
    }
  }

  /// Maps the RAM file libvirt gave QEMU (memory_backing_dir, see
  /// Scripts/start-libvirt.sh), shared: the host reads and writes guest RAM in place.
  /// Where libvirt puts a domain's RAM file (memory_backing_dir/libvirt/qemu/ID-NAME).
  static func ramDirectory(domainName: String, id: Int32) -> String {
    "\(DomainTemplate.memoryBackingDirectory)/libvirt/qemu/\(id)-\(domainName)"
  }

  static func mapRAM(domainName: String, id: Int32, bytes: Int) throws(MachineError) -> UnsafeMutableRawBufferPointer {
    let path = ramDirectory(domainName: domainName, id: id) + "/pc.ram"
    let fd = open(path, O_RDWR)
    guard fd >= 0 else {
      throw .libvirt(
        "cannot open the domain's RAM file \(path) (errno \(errno)): libvirtd needs memory_backing_dir = "
          + "\"\(DomainTemplate.memoryBackingDirectory)\" in /etc/libvirt/qemu.conf (Scripts/start-libvirt.sh sets it)")
    }
    defer { close(fd) }
    // SAFETY: a shared mapping of the whole file, unmapped by the machine's deinit.
    let address = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    guard let address, address != MAP_FAILED else { throw .systemCall(name: "mmap(\(path))", errno: errno) }
    return UnsafeMutableRawBufferPointer(start: address, count: bytes)
  }

  // MARK: Running

  public func run(timeoutSeconds: Double) throws(MachineError) -> MachineStop {
    if let finalStop { return finalStop }
    if let record = pendingRecord {
      try serve(record)
      pendingRecord = nil
    }
    try domain.resume()
    started = true
    let deadline = ContinuousClock.now + .milliseconds(Int64(timeoutSeconds * 1000))
    while true {
      guard let bytes = try serial.read() else { return try ended() }
      if bytes.isEmpty {
        if ContinuousClock.now > deadline { return try timedOut(timeoutSeconds) }
        if domain.state.map({ $0.state == Int32(VIR_DOMAIN_SHUTOFF.rawValue) }) ?? true { return try ended() }
        usleep(200)
        continue
      }
      pending += bytes
      if let stop = try drainSerial() { return stop }
    }
  }

  /// Delivers console text and serves every complete marker in `pending`;
  /// returns the stop a call asks for (checkpoint, exit).
  private func drainSerial() throws(MachineError) -> MachineStop? {
    let marker = Array(String(describing: HypercallRequest.serialMarker).utf8)
    while true {
      guard let start = pending.firstRange(of: marker) else {
        // Complete lines go out; a tail that may be the start of a marker waits.
        if let newline = pending.lastIndex(of: 0x0A) { deliver(0..<(newline + 1)) }
        return nil
      }
      guard let newline = pending[start.upperBound...].firstIndex(of: 0x0A) else { return nil }
      let hex = String(decoding: pending[start.upperBound..<newline], as: UTF8.self)
      deliver(0..<start.lowerBound)
      pending.removeSubrange(0..<(newline - start.lowerBound + 1))
      guard let address = UInt64(hex, radix: 16) else {
        throw .protocolViolation("a hypercall marker with address \"\(hex)\"")
      }
      if let stop = try handle(record: address) { return stop }
    }
  }

  /// Sends `pending[range]` (from its start) to `console` and drops it.
  private func deliver(_ range: Range<Int>) {
    guard !range.isEmpty else { return }
    console(String(decoding: pending[range].filter { $0 != 0x0D }, as: UTF8.self))
    pending.removeSubrange(range)
  }

  /// One hypercall record: recorded and served, or a stop.
  private func handle(record address: UInt64) throws(MachineError) -> MachineStop? {
    try refresh(address, count: HypercallRequest.size)
    let call = try HypercallCall(at: address, in: memory)
    if try !reports.record(call, memory: memory) {
      switch call.kind {
      case .checkpoint:
        try domain.suspend()
        pendingRecord = address
        pendingResponse = 0
        reportedCR3 = call.arg3
        try refresh(0, count: ram.count)  // the whole of RAM, for the inspection to come
        return .checkpoint(Checkpoint(code: call.arg0, name: try call.checkpointName(in: memory)))
      case .print:
        try refresh(call.arg0, count: Int(min(call.arg1, 1 << 20)))
        let text = try memory.checkedBytes(at: call.arg0, count: call.arg1, limit: 1 << 20, what: "print text")
        console(String(decoding: text, as: UTF8.self))
      default:
        exitStatus = try call.exitStatus()
      }
    }
    try serve(address)
    return nil
  }

  /// Marks a record served, in its word or (peek mode) by an answer on COM1:
  /// the guest's spin ends.
  private func serve(_ record: UInt64) throws(MachineError) {
    switch memoryAccess {
    case .sharedFile: _ = memory.store(UInt32(1), at: record + UInt64(HypercallRequest.served))
    case .peek, .volume:
      let digits = String(pendingResponse, radix: 16)
      let answer = String(repeating: "0", count: 16 - digits.count) + digits + "\n"
      try serial.send([HypercallRequest.serialAnswer] + Array(answer.utf8))
      pendingResponse = 0
    }
  }

  /// The domain is gone: the guest exited (its status came by hypercall) or QEMU stopped.
  private func ended() throws(MachineError) -> MachineStop {
    let stop: MachineStop
    if let exitStatus {
      stop = .exited(status: exitStatus, exception: lastException)
    } else {
      stop = .shutdown(reason: "the domain stopped without an exit hypercall (QEMU ended or crashed)", registers: nil)
    }
    finalStop = stop
    domain.destroy()
    return stop
  }

  private func timedOut(_ seconds: Double) throws(MachineError) -> MachineStop {
    try domain.suspend()
    let registers = try? self.registers()
    finalStop = .timedOut(seconds: seconds, registers: registers)
    domain.destroy()
    return finalStop!
  }

  // MARK: State

  /// The vCPU's registers from QEMU's monitor (`info registers`).
  /// At a checkpoint, CR3 must be what the guest itself reported there.
  public func registers() throws(MachineError) -> RegisterState {
    let registers = try QEMURegisters.parse(try domain.monitor("info registers"))
    if pendingRecord != nil, let reportedCR3, registers.cr3 != reportedCR3 {
      throw .protocolViolation(
        "QEMU's monitor says CR3 is 0x\(String(registers.cr3, radix: 16)), the guest reported "
          + "0x\(String(reportedCR3, radix: 16)) at its checkpoint")
    }
    return registers
  }

  public func setCheckpointResponse(_ value: UInt64) throws(MachineError) {
    guard let record = pendingRecord else {
      throw .invalidConfiguration(
        "no checkpoint is pending: setCheckpointResponse belongs between a checkpoint and the next run")
    }
    if memoryAccess != .sharedFile {
      pendingResponse = value
      return
    }
    guard memory.store(value, at: record + UInt64(HypercallRequest.response)) else {
      throw .protocolViolation("the checkpoint's request record at 0x\(String(record, radix: 16)) left guest RAM")
    }
  }
}

extension LibvirtConnection {
  /// True when the connection's daemon runs on this host (no host in the URI).
  var isLocal: Bool {
    guard let components = URLComponents(string: uri) else { return false }
    return (components.host ?? "").isEmpty
  }
}
