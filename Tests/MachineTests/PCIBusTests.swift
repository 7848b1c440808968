import Foundation
import GuestABI
import Testing

@testable import Machine

@Suite("KVMMachine's PCI bus (configuration mechanism #1)")
struct PCIBusTests {
  func makeBus(disks: Int) throws -> (PCIBus, [VirtioTestDriver]) {
    let drivers = try (0..<disks).map { _ in try VirtioTestDriver() }
    return (PCIBus(disks: drivers.map(\.disk)), drivers)
  }

  func read(_ bus: inout PCIBus, device: UInt8, register: Int, size: Int = 4) -> UInt32 {
    _ = bus.writePort(
      PCIConfig.addressPort, size: 4,
      value: PCIConfig.address(bus: 0, device: device, function: 0, register: UInt8(register & 0xFC)))
    return bus.readPort(PCIConfig.dataPort + UInt16(register & 3), size: size)!
  }

  func write(_ bus: inout PCIBus, device: UInt8, register: Int, size: Int, value: UInt32) {
    _ = bus.writePort(
      PCIConfig.addressPort, size: 4,
      value: PCIConfig.address(bus: 0, device: device, function: 0, register: UInt8(register & 0xFC)))
    _ = bus.writePort(PCIConfig.dataPort + UInt16(register & 3), size: size, value: value)
  }

  @Test("device 0 is a host bridge, devices 1... are virtio-blk functions, the rest are absent")
  func enumeration() throws {
    var (bus, _) = try makeBus(disks: 2)
    #expect(read(&bus, device: 0, register: 0) == 0x0008_1B36)
    #expect(read(&bus, device: 0, register: 8) >> 8 == 0x06_0000)
    for device: UInt8 in [1, 2] {
      #expect(
        read(&bus, device: device, register: 0) == UInt32(Virtio.blockModernDeviceID) << 16 | UInt32(Virtio.pciVendor))
    }
    #expect(read(&bus, device: 3, register: 0) == 0xFFFF_FFFF)
    #expect(read(&bus, device: 1, register: PCIConfig.vendorID, size: 2) == UInt32(Virtio.pciVendor))
    #expect(read(&bus, device: 1, register: PCIConfig.deviceID, size: 2) == UInt32(Virtio.blockModernDeviceID))
    // Another function of device 1, or another bus: nobody answers.
    _ = bus.writePort(
      PCIConfig.addressPort, size: 4, value: PCIConfig.address(bus: 0, device: 1, function: 1, register: 0))
    #expect(bus.readPort(PCIConfig.dataPort, size: 4) == 0xFFFF_FFFF)
    _ = bus.writePort(
      PCIConfig.addressPort, size: 4, value: PCIConfig.address(bus: 1, device: 1, function: 0, register: 0))
    #expect(bus.readPort(PCIConfig.dataPort, size: 2) == 0xFFFF)
    #expect(bus.readPort(0x80, size: 1) == nil)
  }

  @Test("the capability list names common, ISR, device and notify structures in BAR 0")
  func capabilities() throws {
    var (bus, _) = try makeBus(disks: 1)
    #expect(read(&bus, device: 1, register: PCIConfig.status, size: 2) & UInt32(PCIConfig.statusCapabilities) != 0)
    var pointer = Int(read(&bus, device: 1, register: PCIConfig.capabilitiesPointer, size: 1))
    var found: [UInt8: (bar: UInt32, offset: UInt32, length: UInt32)] = [:]
    var steps = 0
    while pointer != 0, steps < 16 {
      steps += 1
      #expect(read(&bus, device: 1, register: pointer, size: 1) == UInt32(Virtio.Capability.vendorSpecificID))
      let type = UInt8(read(&bus, device: 1, register: pointer + Virtio.Capability.configType, size: 1))
      found[type] = (
        read(&bus, device: 1, register: pointer + Virtio.Capability.bar, size: 1),
        read(&bus, device: 1, register: pointer + Virtio.Capability.offset),
        read(&bus, device: 1, register: pointer + Virtio.Capability.regionLength)
      )
      pointer = Int(read(&bus, device: 1, register: pointer + Virtio.Capability.next, size: 1))
    }
    #expect(
      Set(found.keys) == [
        Virtio.Capability.commonConfig, Virtio.Capability.isrConfig, Virtio.Capability.deviceConfig,
        Virtio.Capability.notifyConfig,
      ])
    #expect(found[Virtio.Capability.commonConfig]! == (0, 0, UInt32(Virtio.CommonConfig.size)))
    #expect(found[Virtio.Capability.notifyConfig]!.offset == UInt32(VirtioBlockDevice.Layout.notify))
  }

  @Test("BAR 0 answers the sizing protocol and decodes only with memory space enabled")
  func barDecoding() throws {
    var (bus, _) = try makeBus(disks: 1)
    #expect(read(&bus, device: 1, register: PCIConfig.bar0) == PCIBus.barBase)
    #expect(bus.decode(UInt64(PCIBus.barBase)) == nil)  // memory space off at reset
    write(
      &bus, device: 1, register: PCIConfig.command, size: 2,
      value: UInt32(PCIConfig.commandMemorySpace | PCIConfig.commandBusMaster))
    let decoded = try #require(bus.decode(UInt64(PCIBus.barBase) + 0x3000))
    #expect(decoded.1 == 0x3000)
    #expect(bus.decode(UInt64(PCIBus.barBase) + UInt64(VirtioBlockDevice.Layout.barSize)) == nil)
    write(&bus, device: 1, register: PCIConfig.bar0, size: 4, value: 0xFFFF_FFFF)
    #expect(read(&bus, device: 1, register: PCIConfig.bar0) == ~(VirtioBlockDevice.Layout.barSize - 1))
    write(&bus, device: 1, register: PCIConfig.bar0, size: 4, value: PCIBus.barBase)
    #expect(read(&bus, device: 1, register: PCIConfig.bar0) == PCIBus.barBase)
    // Read-only identification ignores writes.
    write(&bus, device: 1, register: PCIConfig.vendorID, size: 4, value: 0)
    #expect(read(&bus, device: 1, register: 0, size: 2) == UInt32(Virtio.pciVendor))
  }
}
