import Foundation
import GuestABI
import Testing

@testable import Machine

@Suite("KVMMachine's virtio-blk device")
struct VirtioBlockDeviceTests {
  typealias R = Virtio.BlockRequest
  static let header: UInt64 = 0x10000
  static let data: UInt64 = 0x20000
  static let status: UInt64 = 0x30000

  @Test("a read of sectors lands in the data buffers, however the chain splits header and data")
  func readsSectors() throws {
    let driver = try VirtioTestDriver()
    driver.start()
    driver.header(at: Self.header, type: R.typeIn, sector: 3)
    // The header split 10 + 6 bytes, the data in two buffers of 512 and 1024 bytes.
    driver.submit([
      (Self.header, 10, false), (Self.header + 10, 6, false), (Self.data, 512, true), (Self.data + 0x1000, 1024, true),
      (Self.status, 1, true),
    ])
    #expect(driver.usedIndex == 1)
    #expect(driver.usedEntry(0) == (0, 512 + 1024 + 1))
    #expect(driver.bytes(at: Self.status, count: 1) == [R.statusOK])
    #expect(driver.bytes(at: Self.data, count: 512) == [UInt8](repeating: 3, count: 512))
    #expect(
      driver.bytes(at: Self.data + 0x1000, count: 1024) == [UInt8](repeating: 4, count: 512)
        + [UInt8](repeating: 5, count: 512))
    #expect(driver.device.completed == 1 && driver.device.fault == nil)
  }

  @Test("a write reaches the file at its sector, and a flush answers OK")
  func writesAndFlushes() throws {
    let driver = try VirtioTestDriver()
    driver.start(features: Virtio.Feature.version1 | Virtio.Feature.blockFlush)
    driver.memory.write([UInt8](repeating: 0xAB, count: 1024), at: Self.data)
    driver.header(at: Self.header, type: R.typeOut, sector: 10)
    driver.submit([(Self.header, 16, false), (Self.data, 1024, false), (Self.status, 1, true)])
    #expect(driver.bytes(at: Self.status, count: 1) == [R.statusOK])
    #expect(driver.usedEntry(0).1 == 1)
    let file = driver.fileBytes
    #expect(Array(file[(10 * 512)..<(12 * 512)]) == [UInt8](repeating: 0xAB, count: 1024))
    #expect(file[9 * 512] == 9 && file[12 * 512] == 12)
    driver.header(at: Self.header, type: R.typeFlush, sector: 0)
    driver.submit([(Self.header, 16, false), (Self.status, 1, true)])
    #expect(driver.usedIndex == 2)
    #expect(driver.bytes(at: Self.status, count: 1) == [R.statusOK])
  }

  @Test("requests the disk cannot serve complete with IOERR or UNSUPP and change nothing")
  func refusedRequests() throws {
    let driver = try VirtioTestDriver(sectors: 64)
    driver.start()
    let cases: [(type: UInt32, sector: UInt64, length: UInt32, writable: Bool, status: UInt8)] = [
      (R.typeIn, 63, 1024, true, R.statusIOError),  // runs past the last sector
      (R.typeIn, UInt64.max, 512, true, R.statusIOError),  // a sector number that overflows
      (R.typeIn, 0, 100, true, R.statusIOError),  // not whole sectors
      (R.typeOut, 64, 512, false, R.statusIOError),  // starts past the end
      (99, 0, 512, true, R.statusUnsupported),
    ]
    let before = driver.fileBytes
    for (index, request) in cases.enumerated() {
      driver.memory.write([UInt8](repeating: 0xEE, count: 1024), at: Self.data)
      driver.header(at: Self.header, type: request.type, sector: request.sector)
      driver.submit([(Self.header, 16, false), (Self.data, request.length, request.writable), (Self.status, 1, true)])
      #expect(driver.usedIndex == UInt16(index + 1))
      #expect(driver.bytes(at: Self.status, count: 1) == [request.status], "case \(index)")
      #expect(driver.usedEntry(index).1 == 1)
      #expect(driver.bytes(at: Self.data, count: 1024) == [UInt8](repeating: 0xEE, count: 1024))
    }
    #expect(driver.fileBytes == before)
    #expect(driver.device.failed == cases.count && driver.device.fault == nil)
  }

  @Test("a read-only disk refuses writes and says so in its features")
  func readOnly() throws {
    let driver = try VirtioTestDriver(readOnly: true)
    driver.setCommon(Virtio.CommonConfig.deviceFeatureSelect, size: 4, 0)
    #expect(driver.common(Virtio.CommonConfig.deviceFeature, size: 4) & Virtio.Feature.blockReadOnly != 0)
    driver.start(features: Virtio.Feature.version1 | Virtio.Feature.blockReadOnly)
    driver.header(at: Self.header, type: R.typeOut, sector: 0)
    driver.submit([(Self.header, 16, false), (Self.data, 512, false), (Self.status, 1, true)])
    #expect(driver.bytes(at: Self.status, count: 1) == [R.statusIOError])
  }

  @Test("GET_ID answers the serial, zero-padded to 20 bytes")
  func getID() throws {
    let driver = try VirtioTestDriver()
    driver.start()
    driver.memory.write([UInt8](repeating: 0xEE, count: 20), at: Self.data)
    driver.header(at: Self.header, type: R.typeGetID, sector: 0)
    driver.submit([(Self.header, 16, false), (Self.data, 20, true), (Self.status, 1, true)])
    #expect(driver.bytes(at: Self.data, count: 20) == Array("test-serial".utf8) + [UInt8](repeating: 0, count: 9))
    #expect(driver.usedEntry(0).1 == 21)
  }

  @Test("FEATURES_OK does not stick for a feature the device did not offer, or without VERSION_1")
  func featureNegotiation() throws {
    let driver = try VirtioTestDriver()
    driver.start(features: Virtio.Feature.version1 | Virtio.Feature.blockSizeMax)
    #expect(driver.status & Virtio.DeviceStatus.featuresOK == 0)
    driver.start(features: Virtio.Feature.blockFlush)
    #expect(driver.status & Virtio.DeviceStatus.featuresOK == 0)
    driver.start(features: Virtio.Feature.version1 | Virtio.Feature.blockFlush)
    #expect(driver.status & Virtio.DeviceStatus.featuresOK != 0)
    #expect(driver.common(Virtio.CommonConfig.numQueues, size: 2) == 1)
    #expect(driver.common(Virtio.CommonConfig.queueSize, size: 2) == 8)
  }

  @Test("the device configuration gives the capacity in sectors, seg_max and blk_size")
  func deviceConfiguration() throws {
    let driver = try VirtioTestDriver(sectors: 40)
    let base = VirtioBlockDevice.Layout.device
    #expect(driver.device.read(offset: base + Virtio.BlockConfig.capacity, size: 8) == 40)
    #expect(driver.device.read(offset: base + Virtio.BlockConfig.segMax, size: 4) == 254)
    #expect(driver.device.read(offset: base + Virtio.BlockConfig.blockSize, size: 4) == 512)
  }

  // MARK: Hostile rings

  /// Plants one ring fault, checks the device names it, stops serving, and serves again after a reset.
  func expectFault(
    _ expected: VirtqueueFault, queueSize: Int = 8, descriptors: UInt64 = VirtioTestDriver.descriptors,
    plant: (VirtioTestDriver) -> Void
  ) throws {
    let driver = try VirtioTestDriver()
    driver.queueSize = queueSize
    driver.start(descriptors: descriptors)
    let before = driver.fileBytes
    driver.header(at: Self.header, type: R.typeOut, sector: 0)
    driver.memory.write([UInt8](repeating: 0x77, count: 512), at: Self.data)
    plant(driver)
    #expect(driver.device.fault == expected)
    #expect(driver.status & Virtio.DeviceStatus.deviceNeedsReset != 0)
    #expect(driver.usedIndex == 0)
    #expect(driver.fileBytes == before)
    // A broken device ignores further notifies, until the driver resets it.
    driver.queueSize = 8
    driver.submit([(Self.header, 16, false), (Self.data, 512, false), (Self.status, 1, true)])
    #expect(driver.usedIndex == 0)
    driver.start()
    #expect(driver.device.fault == nil)
    driver.submit([(Self.header, 16, false), (Self.data, 512, false), (Self.status, 1, true)])
    #expect(driver.usedIndex == 1)
    #expect(driver.fileBytes[0] == 0x77)
  }

  @Test("a chain head past the descriptor table")
  func headOutOfRange() throws {
    try expectFault(.headOutOfRange(9)) { $0.makeAvailable(head: 9) }
  }

  @Test("a next index past the descriptor table")
  func nextOutOfRange() throws {
    try expectFault(.nextOutOfRange(descriptor: 0, next: 200)) { driver in
      driver.descriptor(0, address: Self.header, length: 16, flags: Virtio.Ring.next, next: 200)
      driver.makeAvailable(head: 0)
    }
  }

  @Test("a chain that loops back on itself")
  func loopingChain() throws {
    try expectFault(.chainTooLong(head: 0)) { driver in
      driver.descriptor(0, address: Self.header, length: 16, flags: Virtio.Ring.next, next: 1)
      driver.descriptor(1, address: Self.data, length: 512, flags: Virtio.Ring.next, next: 0)
      driver.makeAvailable(head: 0)
    }
  }

  @Test("a buffer that runs out of guest RAM")
  func bufferOutsideMemory() throws {
    let address = UInt64(VirtioTestDriver.ramSize) - 256
    try expectFault(.bufferOutsideMemory(descriptor: 1, address: address, length: 512)) { driver in
      driver.submit([(Self.header, 16, false), (address, 512, false), (Self.status, 1, true)])
    }
  }

  @Test("an indirect descriptor, which the device never offered")
  func indirect() throws {
    try expectFault(.indirectNotNegotiated(descriptor: 0)) { driver in
      driver.descriptor(0, address: Self.data, length: 32, flags: Virtio.Ring.indirect)
      driver.makeAvailable(head: 0)
    }
  }

  @Test("a device-readable buffer after a device-writable one")
  func readableAfterWritable() throws {
    try expectFault(.readableAfterWritable(descriptor: 2)) { driver in
      driver.submit([(Self.header, 16, false), (Self.status, 1, true), (Self.data, 512, false)])
    }
  }

  @Test("avail.idx moved by more than the queue holds")
  func indexJump() throws {
    try expectFault(.indexJumped(available: 9, lastSeen: 0, queueSize: 8)) { driver in
      driver.memory.store(UInt16(9), at: VirtioTestDriver.available + 2)
      driver.notify()
    }
  }

  @Test("a request without a whole header, or without a status byte")
  func malformedRequests() throws {
    try expectFault(.malformedRequest(head: 0, reason: "fewer than 16 device-readable bytes for the header")) {
      $0.submit([(Self.header, 8, false), (Self.status, 1, true)])
    }
    try expectFault(.malformedRequest(head: 0, reason: "no device-writable byte for the status")) {
      $0.submit([(Self.header, 16, false), (Self.data, 512, false)])
    }
  }

  @Test("rings outside guest RAM or misaligned are refused at queue_enable")
  func badRings() throws {
    let outside = UInt64(VirtioTestDriver.ramSize) - 64
    try expectFault(.ringOutsideMemory(what: "descriptor table", address: outside), descriptors: outside) { _ in }
    try expectFault(.ringMisaligned(what: "descriptor table", address: 0x1008), descriptors: 0x1008) { _ in }
    try expectFault(.badQueueSize(12), queueSize: 12) { _ in }
    try expectFault(.badQueueSize(512), queueSize: 512) { _ in }
  }
}
