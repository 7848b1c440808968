import Foundation
import GuestABI

@testable import Machine

/// A virtio-blk driver written the simple way, for testing the device model
/// without a guest: 1 MiB of "guest RAM" in this process, a disk file of
/// known bytes, and the device's BAR accessed directly.
final class VirtioTestDriver {
  static let ramSize = 1 << 20
  static let descriptors: UInt64 = 0x1000
  static let available: UInt64 = 0x2000
  static let used: UInt64 = 0x3000
  let ram: UnsafeMutableRawBufferPointer
  let memory: GuestPhysicalMemory
  let disk: DiskFile
  let device: VirtioBlockDevice
  let path: String
  var queueSize = 8
  var nextAvailable: UInt16 = 0

  /// A disk of `sectors` sectors, sector n filled with byte n & 0xFF.
  init(sectors: Int = 64, readOnly: Bool = false) throws {
    ram = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.ramSize, alignment: 4096)
    ram.initializeMemory(as: UInt8.self, repeating: 0)
    memory = GuestPhysicalMemory(regions: [.init(base: 0, bytes: ram)])
    path = NSTemporaryDirectory() + "mmlab-virtio-\(UUID().uuidString).img"
    let bytes = (0..<sectors).flatMap { [UInt8](repeating: UInt8($0 & 0xFF), count: 512) }
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    disk = try DiskFile(path: path, readOnly: readOnly)
    device = VirtioBlockDevice(disk: disk, barAddress: PCIBus.barBase, serial: "test-serial")
  }

  deinit {
    ram.deallocate()
    try? FileManager.default.removeItem(atPath: path)
  }

  var fileBytes: [UInt8] { [UInt8](FileManager.default.contents(atPath: path)!) }

  func common(_ offset: Int, size: Int) -> UInt64 { device.read(offset: offset, size: size) }
  func setCommon(_ offset: Int, size: Int, _ value: UInt64) {
    device.write(offset: offset, size: size, value: value, memory: memory)
  }
  var status: UInt8 { UInt8(common(Virtio.CommonConfig.deviceStatus, size: 1)) }

  /// Virtio 3.1.1 with `features` (VERSION_1 by default), the queue at the fixed addresses.
  func start(features: UInt64 = Virtio.Feature.version1, descriptors: UInt64 = descriptors) {
    typealias S = Virtio.DeviceStatus
    typealias C = Virtio.CommonConfig
    setCommon(C.deviceStatus, size: 1, 0)
    setCommon(C.deviceStatus, size: 1, UInt64(S.acknowledge | S.driver))
    for half in 0..<2 {
      setCommon(C.driverFeatureSelect, size: 4, UInt64(half))
      setCommon(C.driverFeature, size: 4, (features >> (32 * UInt64(half))) & 0xFFFF_FFFF)
    }
    setCommon(C.deviceStatus, size: 1, UInt64(S.acknowledge | S.driver | S.featuresOK))
    setCommon(C.queueSelect, size: 2, 0)
    setCommon(C.queueSize, size: 2, UInt64(queueSize))
    for (offset, address) in [
      (C.queueDescriptors, descriptors), (C.queueDriver, Self.available), (C.queueDevice, Self.used),
    ] {
      setCommon(offset, size: 4, address & 0xFFFF_FFFF)
      setCommon(offset + 4, size: 4, address >> 32)
    }
    setCommon(C.queueEnable, size: 2, 1)
    setCommon(C.deviceStatus, size: 1, UInt64(status | S.driverOK))
    nextAvailable = 0
  }

  /// Writes descriptor `index`.
  func descriptor(_ index: Int, address: UInt64, length: UInt32, flags: UInt16, next: UInt16 = 0) {
    let entry = Self.descriptors + UInt64(index * 16)
    memory.store(address, at: entry)
    memory.store(length, at: entry + 8)
    memory.store(flags, at: entry + 12)
    memory.store(next, at: entry + 14)
  }

  /// A chain of descriptors 0..<buffers.count, each linked to the next; made available and notified.
  func submit(_ buffers: [(address: UInt64, length: UInt32, writable: Bool)]) {
    for (index, buffer) in buffers.enumerated() {
      let last = index == buffers.count - 1
      descriptor(
        index, address: buffer.address, length: buffer.length,
        flags: (last ? 0 : Virtio.Ring.next) | (buffer.writable ? Virtio.Ring.write : 0), next: UInt16(index + 1))
    }
    makeAvailable(head: 0)
  }

  func makeAvailable(head: UInt16, count: UInt16 = 1) {
    for _ in 0..<count {
      memory.store(head, at: Self.available + 4 + 2 * UInt64(Int(nextAvailable) % queueSize))
      nextAvailable &+= 1
    }
    memory.store(nextAvailable, at: Self.available + 2)
    notify()
  }

  func notify() { setCommon(VirtioBlockDevice.Layout.notify, size: 2, 0) }

  /// A block request header at `address`.
  func header(at address: UInt64, type: UInt32, sector: UInt64) {
    memory.store(type, at: address)
    memory.store(UInt32(0), at: address + 4)
    memory.store(sector, at: address + 8)
  }

  var usedIndex: UInt16 { memory.load(UInt16.self, at: Self.used + 2)! }
  /// The used ring's entry `n`: (id, len).
  func usedEntry(_ n: Int) -> (UInt32, UInt32) {
    let slot = Self.used + 4 + 8 * UInt64(n % queueSize)
    return (memory.load(UInt32.self, at: slot)!, memory.load(UInt32.self, at: slot + 4)!)
  }

  func bytes(at address: UInt64, count: Int) -> [UInt8] { Array(memory.bytes(at: address, count: count)!) }
}
