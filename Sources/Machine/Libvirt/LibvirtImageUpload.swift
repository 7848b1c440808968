import CLibvirt
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Puts the guest ELF on a (remote) libvirt host: a volume named after the
/// image's content in a directory pool there, uploaded once and reused, so a
/// remote domain's `<kernel>` names a file that exists on its host.
enum LibvirtImageUpload {
  /// Where the images go on the host, and the pool mmlab opens over it.
  static let directory = "/var/lib/libvirt/images/mmlab"

  /// The path of the image on the connection's host, uploading it if that
  /// host does not have this content yet.
  static func place(_ localPath: String, on connection: LibvirtConnection) throws(MachineError) -> String {
    guard let data = FileManager.default.contents(atPath: localPath) else {
      throw .badImage("cannot read \(localPath) to upload it")
    }
    let name = "mmlab-guest-\(fingerprint(data)).elf"
    let pool = try openPool(connection)
    defer {
      virStoragePoolDestroy(pool)
      virStoragePoolFree(pool)
    }
    // SAFETY: a live pool; the volume reference is freed below.
    if let existing = virStorageVolLookupByName(pool, name) {
      defer { virStorageVolFree(existing) }
      return try path(of: existing)
    }
    return try upload(data, as: name, into: pool, connection: connection)
  }

  /// A transient dir pool over `directory`, which it creates if missing.
  private static func openPool(_ connection: LibvirtConnection) throws(MachineError) -> OpaquePointer {
    let xml =
      "<pool type='dir'><name>mmlab-images-\(getpid())-\(UInt32.random(in: 0...UInt32.max))</name>"
      + "<target><path>\(directory)</path></target></pool>"
    let flags = UInt32(VIR_STORAGE_POOL_CREATE_WITH_BUILD.rawValue)
    // SAFETY: the XML for the call; the caller destroys and frees the pool.
    guard let pool = virStoragePoolCreateXML(connection.pointer, xml, flags) else {
      throw libvirtError("virStoragePoolCreateXML(\(directory))")
    }
    return pool
  }

  /// Creates the volume and streams `data` into it; returns its path.
  private static func upload(
    _ data: Data, as name: String, into pool: OpaquePointer, connection: LibvirtConnection
  ) throws(MachineError) -> String {
    let xml =
      "<volume><name>\(name)</name><capacity unit='bytes'>\(data.count)</capacity>"
      + "<target><format type='raw'/></target></volume>"
    // SAFETY: the XML for the call; the volume reference is freed below.
    guard let volume = virStorageVolCreateXML(pool, xml, 0) else { throw libvirtError("virStorageVolCreateXML") }
    defer { virStorageVolFree(volume) }
    let transfer = LibvirtVolume(volume: volume, connection: connection)
    let failure: MachineError? = data.withUnsafeBytes { bytes -> MachineError? in
      do throws(MachineError) { try transfer.write(0, from: bytes) } catch { return error }
      return nil
    }
    if let failure {
      // SAFETY: the half-written volume goes, so a later run does not take it for the image.
      _ = virStorageVolDelete(volume, 0)
      throw failure
    }
    return try path(of: volume)
  }

  private static func path(of volume: OpaquePointer) throws(MachineError) -> String {
    // SAFETY: libvirt allocates the path, freed here.
    guard let path = virStorageVolGetPath(volume) else { throw libvirtError("virStorageVolGetPath") }
    defer { free(path) }
    return String(cString: path)
  }

  /// FNV-1a over the bytes: names the content, not a security measure.
  static func fingerprint(_ data: Data) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in data {
      hash ^= UInt64(byte)
      hash = hash &* 0x100_0000_01b3
    }
    return String(hash, radix: 16)
  }
}
