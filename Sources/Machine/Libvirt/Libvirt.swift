import CLibvirt

#if canImport(Glibc)
  import Glibc
#endif

/// libvirt's last error for this thread, in words, with the call that failed:
/// the one place a raw libvirt return becomes a `MachineError`.
func libvirtError(_ call: String) -> MachineError {
  let message = virGetLastErrorMessage().map { String(cString: $0) } ?? "unknown error"
  if call.hasPrefix("virConnectOpen") {
    var advice = "check the URI (--connect)"
    if message.contains("libvirt-sock") || message.contains("No such file") {
      advice =
        "libvirtd is not running: start it (Scripts/start-libvirt.sh where there is no systemd, "
        + "`systemctl start libvirtd` elsewhere)"
    } else if message.contains("Permission denied") || message.contains("authentication") {
      advice = "the daemon refused this user: run as root or join the libvirt group, or use qemu:///session"
    } else if message.contains("Connection refused") {
      advice = "nothing listens there: is libvirtd running with that transport on that host?"
    }
    return .libvirt("cannot connect (\(call)): \(message); \(advice)")
  }
  return .libvirt("\(call) failed: \(message)")
}

/// A connection to a libvirt daemon (virConnectPtr), closed on deinit.
final class LibvirtConnection {
  let pointer: virConnectPtr
  let uri: String

  /// virConnectOpen: "qemu:///system", "qemu+ssh://host/system", ...
  init(uri: String) throws(MachineError) {
    LibvirtConnection.silenceDefaultErrorPrinting
    // SAFETY: a C string for the call; libvirt copies what it keeps.
    guard let pointer = virConnectOpen(uri) else { throw libvirtError("virConnectOpen(\(uri))") }
    self.pointer = pointer
    self.uri = uri
  }

  /// libvirt prints every error on stderr unless told otherwise; mmlab
  /// reports the errors it cares about itself (`libvirtError`).
  static let silenceDefaultErrorPrinting: Void = {
    // SAFETY: a handler that ignores its arguments, for the whole process.
    virSetErrorFunc(nil) { _, _ in }
  }()

  deinit {
    // SAFETY: the pointer came from virConnectOpen and is closed once.
    virConnectClose(pointer)
  }

  /// virConnectGetVersion as "major.minor.release" of the hypervisor (QEMU).
  var hypervisorVersion: String? {
    var version: UInt = 0
    // SAFETY: an out parameter on this stack frame.
    guard virConnectGetVersion(pointer, &version) == 0 else { return nil }
    return "\(version / 1_000_000).\(version / 1000 % 1000).\(version % 1000)"
  }

  /// virConnectListAllDomains: the names of the running domains.
  func domainNames() throws(MachineError) -> [String] {
    var domains: UnsafeMutablePointer<virDomainPtr?>?
    // SAFETY: libvirt allocates the array and a reference per domain, all freed below.
    let count = virConnectListAllDomains(pointer, &domains, UInt32(VIR_CONNECT_LIST_DOMAINS_ACTIVE.rawValue))
    guard count >= 0, let domains else { throw libvirtError("virConnectListAllDomains") }
    defer { free(domains) }
    return (0..<Int(count)).compactMap { index in
      guard let domain = domains[index] else { return nil }
      defer { virDomainFree(domain) }
      return virDomainGetName(domain).map { String(cString: $0) }
    }
  }

  /// virDomainCreateXML: a transient domain, started paused when asked, and
  /// destroyed by libvirtd when this connection closes (AUTODESTROY): if
  /// mmlab dies, its domains go with it.
  func createDomain(xml: String, paused: Bool) throws(MachineError) -> LibvirtDomain {
    let flags = (paused ? VIR_DOMAIN_START_PAUSED.rawValue : 0) | VIR_DOMAIN_START_AUTODESTROY.rawValue
    // SAFETY: the XML is a C string for the call; the domain pointer is owned by LibvirtDomain.
    guard let domain = virDomainCreateXML(pointer, xml, flags) else {
      throw libvirtError("virDomainCreateXML")
    }
    return LibvirtDomain(pointer: domain, connection: self)
  }
}

/// One transient domain (virDomainPtr). `destroy()` ends it; deinit does too,
/// so no domain outlives the machine that made it.
final class LibvirtDomain {
  let pointer: virDomainPtr
  let connection: LibvirtConnection
  private var destroyed = false

  init(pointer: virDomainPtr, connection: LibvirtConnection) {
    self.pointer = pointer
    self.connection = connection
  }

  deinit {
    destroy()
    // SAFETY: the reference from virDomainCreateXML, released once.
    virDomainFree(pointer)
  }

  var name: String {
    // SAFETY: libvirt returns a string owned by the domain object.
    virDomainGetName(pointer).map { String(cString: $0) } ?? "?"
  }

  var id: Int32 { Int32(bitPattern: virDomainGetID(pointer)) }

  /// virDomainDestroy, once; errors (already gone) are ignored.
  func destroy() {
    guard !destroyed else { return }
    destroyed = true
    // SAFETY: a live domain pointer; destroying a gone domain fails harmlessly.
    _ = virDomainDestroy(pointer)
  }

  func suspend() throws(MachineError) {
    // SAFETY: a live domain pointer.
    guard virDomainSuspend(pointer) == 0 else { throw libvirtError("virDomainSuspend") }
  }

  func resume() throws(MachineError) {
    // SAFETY: a live domain pointer.
    guard virDomainResume(pointer) == 0 else { throw libvirtError("virDomainResume") }
  }

  /// virDomainGetState: the state and its reason, nil when the domain is gone.
  var state: (state: Int32, reason: Int32)? {
    var state: Int32 = 0
    var reason: Int32 = 0
    // SAFETY: out parameters on this stack frame.
    guard virDomainGetState(pointer, &state, &reason, 0) == 0 else { return nil }
    return (state, reason)
  }

  /// virDomainQemuMonitorCommand in HMP syntax ("info registers").
  func monitor(_ command: String) throws(MachineError) -> String {
    var result: UnsafeMutablePointer<CChar>?
    let flags = UInt32(VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP.rawValue)
    // SAFETY: libvirt allocates the result, which is freed below.
    guard virDomainQemuMonitorCommand(pointer, command, &result, flags) == 0, let result else {
      throw libvirtError("virDomainQemuMonitorCommand(\(command))")
    }
    defer { free(result) }
    return String(cString: result)
  }

  /// virDomainMemoryPeek (physical): `count` bytes at `address`, read in
  /// chunks of 64 KiB (QEMU serves each call through a temporary file).
  func peekPhysical(_ address: UInt64, count: Int) throws(MachineError) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
      let chunk = min(65536, count - done)
      let status = bytes.withUnsafeMutableBytes { buffer in
        // SAFETY: the buffer holds `count` bytes; libvirt writes `chunk` of them at `done`.
        virDomainMemoryPeek(
          pointer, address + UInt64(done), chunk, buffer.baseAddress! + done, UInt32(VIR_MEMORY_PHYSICAL.rawValue))
      }
      guard status == 0 else { throw libvirtError("virDomainMemoryPeek") }
      done += chunk
    }
    return bytes
  }
}

/// The domain's serial console as a non-blocking byte stream (virStreamPtr).
final class LibvirtConsole {
  let stream: OpaquePointer

  init(domain: LibvirtDomain) throws(MachineError) {
    // SAFETY: a new stream on the domain's connection, freed on deinit.
    guard let stream = virStreamNew(domain.connection.pointer, UInt32(VIR_STREAM_NONBLOCK.rawValue)) else {
      throw libvirtError("virStreamNew")
    }
    self.stream = stream
    // SAFETY: the first serial device; FORCE takes it over from any other client.
    guard virDomainOpenConsole(domain.pointer, nil, stream, UInt32(VIR_DOMAIN_CONSOLE_FORCE.rawValue)) == 0 else {
      virStreamFree(stream)
      throw libvirtError("virDomainOpenConsole")
    }
  }

  deinit {
    // SAFETY: the stream from virStreamNew, aborted and freed once.
    _ = virStreamAbort(stream)
    virStreamFree(stream)
  }

  /// Sends `bytes` to the guest's COM1 (retrying while the stream would block).
  func send(_ bytes: [UInt8]) throws(MachineError) {
    var offset = 0
    while offset < bytes.count {
      let count = bytes[offset...].withUnsafeBytes { raw in
        // SAFETY: the remaining bytes, read by the call.
        virStreamSend(stream, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
      }
      if count == -2 {
        usleep(100)
        continue
      }
      guard count > 0 else { throw libvirtError("virStreamSend") }
      offset += Int(count)
    }
  }

  /// What arrived since the last call (empty when nothing did); nil at the
  /// end of the stream (the domain is gone).
  func read() throws(MachineError) -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = buffer.withUnsafeMutableBytes { raw in
      // SAFETY: a buffer of 4,096 bytes for the call to fill.
      virStreamRecv(stream, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
    }
    if count == -2 { return [] }  // would block
    if count == 0 { return nil }
    guard count > 0 else { throw libvirtError("virStreamRecv") }
    return Array(buffer.prefix(Int(count)))
  }
}

/// A storage volume that guest data moves through: the RAM file, in a
/// directory pool over the domain's RAM directory (`virStorageVolDownload` and
/// `virStorageVolUpload` read and write guest RAM at any offset over any
/// connection, remote ones included, where mmlab cannot map the file), or a
/// volume someone else made (the uploaded guest image).
final class LibvirtVolume {
  /// The pool this object opened and destroys with itself; nil when it only
  /// borrows `volume`.
  let pool: OpaquePointer?
  let volume: OpaquePointer
  let connection: LibvirtConnection

  /// A volume someone else owns (its transfers only).
  init(volume: OpaquePointer, connection: LibvirtConnection) {
    pool = nil
    self.volume = volume
    self.connection = connection
  }

  /// virStoragePoolCreateXML (a transient dir pool at `directory`), then the volume `file`.
  init(connection: LibvirtConnection, name: String, directory: String, file: String) throws(MachineError) {
    self.connection = connection
    let xml =
      "<pool type='dir'><name>\(DomainTemplate.escape(name))</name><target><path>"
      + "\(DomainTemplate.escape(directory))</path></target></pool>"
    // SAFETY: the XML for the call; the pool is destroyed and freed on deinit.
    guard let pool = virStoragePoolCreateXML(connection.pointer, xml, 0) else {
      throw libvirtError("virStoragePoolCreateXML(\(directory))")
    }
    // SAFETY: a live pool; the volume reference is freed on deinit.
    guard virStoragePoolRefresh(pool, 0) == 0, let volume = virStorageVolLookupByName(pool, file) else {
      let error = libvirtError("virStorageVolLookupByName(\(file))")
      virStoragePoolDestroy(pool)
      virStoragePoolFree(pool)
      throw error
    }
    self.pool = pool
    self.volume = volume
  }

  deinit {
    guard let pool else { return }
    // SAFETY: the references from init, released once; destroying a dir pool leaves its files.
    virStorageVolFree(volume)
    virStoragePoolDestroy(pool)
    virStoragePoolFree(pool)
  }

  /// virStorageVolDownload of `buffer.count` bytes at `offset` into `buffer`.
  func read(_ offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(MachineError) {
    try transfer("download", count: buffer.count) { stream in
      // SAFETY: a live volume and stream.
      virStorageVolDownload(volume, stream, offset, UInt64(buffer.count), 0)
    } chunk: { stream, done in
      // SAFETY: the rest of the caller's buffer.
      virStreamRecv(
        stream, buffer.baseAddress!.advanced(by: done).assumingMemoryBound(to: CChar.self), buffer.count - done)
    }
  }

  /// virStorageVolUpload of `bytes` at `offset`.
  func write(_ offset: UInt64, from bytes: UnsafeRawBufferPointer) throws(MachineError) {
    try transfer("upload", count: bytes.count) { stream in
      // SAFETY: a live volume and stream.
      virStorageVolUpload(volume, stream, offset, UInt64(bytes.count), 0)
    } chunk: { stream, done in
      // SAFETY: the rest of the caller's bytes.
      virStreamSend(
        stream, bytes.baseAddress!.advanced(by: done).assumingMemoryBound(to: CChar.self), bytes.count - done)
    }
  }

  /// One transfer of `count` bytes over a blocking stream: `start` ties the
  /// stream to the volume, `chunk` moves what it can after `done` bytes.
  private func transfer(
    _ what: String, count: Int, start: (OpaquePointer) -> Int32, chunk: (OpaquePointer, Int) -> Int32
  ) throws(MachineError) {
    // SAFETY: a blocking stream for this transfer, finished and freed below.
    guard let stream = virStreamNew(connection.pointer, 0) else { throw libvirtError("virStreamNew") }
    defer { virStreamFree(stream) }
    guard start(stream) == 0 else { throw libvirtError("virStorageVol \(what)") }
    var done = 0
    while done < count {
      let moved = chunk(stream, done)
      guard moved > 0 else {
        _ = virStreamAbort(stream)
        throw libvirtError("volume \(what) stream")
      }
      done += Int(moved)
    }
    guard virStreamFinish(stream) == 0 else { throw libvirtError("volume \(what) finish") }
  }
}
