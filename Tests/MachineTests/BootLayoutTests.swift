import GuestABI
import Testing

@testable import Machine

@Suite("BootLayout: what the host writes before the guest's first instruction")
struct BootLayoutTests {
  /// Guest memory backed by an ordinary heap buffer, zero-filled.
  final class Buffer {
    let bytes: UnsafeMutableRawBufferPointer
    let memory: GuestPhysicalMemory
    init(size: Int) {
      bytes = .allocate(byteCount: size, alignment: 4096)
      bytes.initializeMemory(as: UInt8.self, repeating: 0)
      memory = GuestPhysicalMemory(regions: [.init(base: 0, bytes: bytes)])
    }
    deinit { bytes.deallocate() }
  }

  @Test func memoryMapForDefaultRAM() {
    let ram = UInt64(BootLayout.defaultMemoryMiB) << 20
    let map = BootLayout.memoryMap(ramSize: ram)
    let usable = PVHMemoryMapEntry.typeRAM
    let reserved = PVHMemoryMapEntry.typeReserved
    #expect(
      map == [
        .init(address: 0, size: 0x1000, type: usable),
        .init(address: 0x1000, size: 0x2000, type: reserved),
        .init(address: 0x3000, size: 0xA0000 - 0x3000, type: usable),
        .init(address: 0xA0000, size: 0x60000, type: reserved),
        .init(address: 0x10_0000, size: ram - 0x10_0000, type: usable),
      ])
    // Contiguous and covering all RAM.
    for (previous, next) in zip(map, map.dropFirst()) { #expect(previous.end == next.address) }
    #expect(map.last?.end == ram)
  }

  @Test func memoryMapForSmallestAndLargestRAM() {
    let smallest = UInt64(BootLayout.minimumMemoryMiB) << 20
    #expect(
      BootLayout.memoryMap(ramSize: smallest).last == .init(address: 0x10_0000, size: smallest - 0x10_0000, type: 1))
    let largest = UInt64(BootLayout.maximumMemoryMiB) << 20
    #expect(largest == BootLayout.mmioHoleStart)
    #expect(BootLayout.memoryMap(ramSize: largest).last?.end == BootLayout.mmioHoleStart)
    // Below the legacy hole only the first ranges survive.
    #expect(
      BootLayout.memoryMap(ramSize: 0x2000) == [
        .init(address: 0, size: 0x1000, type: 1), .init(address: 0x1000, size: 0x1000, type: 2),
      ])
  }

  @Test func layoutInvariants() {
    // The pieces of boot information sit in order inside their reserved pages, below the legacy hole.
    #expect(BootLayout.gdtAddress + UInt64(BootLayout.gdtEntryCount * 8) <= BootLayout.startInfoAddress)
    #expect(BootLayout.startInfoAddress + UInt64(PVHStartInfo.size) <= BootLayout.memoryMapAddress)
    #expect(
      BootLayout.memoryMapAddress + UInt64(BootLayout.memoryMapCapacity * PVHMemoryMapEntry.entrySize)
        <= BootLayout.commandLineAddress)
    #expect(BootLayout.commandLineAddress + UInt64(BootLayout.commandLineCapacity) == BootLayout.bootInformationEnd)
    #expect(BootLayout.bootInformationStart % BootLayout.pageSize == 0)
    #expect(BootLayout.bootInformationEnd % BootLayout.pageSize == 0)
    #expect(BootLayout.bootInformationEnd <= BootLayout.legacyHoleStart)
    #expect(BootLayout.memoryMapCapacity >= BootLayout.memoryMap(ramSize: 1 << 30).count)
    // The kernel loads right after the legacy hole; KVM's TSS pages are in the MMIO hole, clear of RAM.
    #expect(BootLayout.legacyHoleEnd == KernelLayout.physicalBase)
    #expect(BootLayout.tssAddress >= BootLayout.mmioHoleStart)
    #expect(BootLayout.tssAddress + BootLayout.tssPageCount * BootLayout.pageSize <= BootLayout.mmioHoleEnd)
    #expect(UInt64(BootLayout.maximumMemoryMiB) << 20 <= BootLayout.mmioHoleStart)
    #expect(BootLayout.codeSelector == 0x10 && BootLayout.dataSelector == 0x18)
    #expect(BootLayout.initialCR0 == 0x11)
  }

  @Test func writesStartInfoMemoryMapCommandLineAndGDT() throws {
    let buffer = Buffer(size: 4 << 20)
    let memory = buffer.memory
    let map = try BootLayout.writeBootInformation(
      ramSize: 4 << 20, commandLine: "console=hypercall bench.map", into: memory)
    #expect(map.count == 5)

    // hvm_start_info at 0x1100.
    let info = BootLayout.startInfoAddress
    #expect(info == 0x1100)
    #expect(memory.load(UInt32.self, at: info) == 0x336E_C578)
    #expect(memory.load(UInt32.self, at: info + 4) == 1)
    #expect(memory.load(UInt32.self, at: info + 8) == 0)
    #expect(memory.load(UInt32.self, at: info + 12) == 0)
    #expect(memory.load(UInt64.self, at: info + 16) == 0)
    #expect(memory.load(UInt64.self, at: info + 24) == 0x2000)
    #expect(memory.load(UInt64.self, at: info + 32) == 0)
    #expect(memory.load(UInt64.self, at: info + 40) == 0x1200)
    #expect(memory.load(UInt32.self, at: info + 48) == 5)

    // The memory map at 0x1200, 24 bytes an entry.
    for (index, entry) in map.enumerated() {
      let at = BootLayout.memoryMapAddress + UInt64(index * 24)
      #expect(memory.load(UInt64.self, at: at) == entry.address)
      #expect(memory.load(UInt64.self, at: at + 8) == entry.size)
      #expect(memory.load(UInt32.self, at: at + 16) == entry.type)
      #expect(memory.load(UInt32.self, at: at + 20) == 0)
    }
    #expect(memory.load(UInt64.self, at: 0x1200 + 4 * 24) == 0x10_0000)

    // The command line at 0x2000, NUL-terminated.
    let line = Array(try #require(memory.bytes(at: 0x2000, count: 28)))
    #expect(line == Array("console=hypercall bench.map".utf8) + [0])

    // The GDT at 0x1000: null, null, flat code, flat data.
    #expect(memory.load(UInt64.self, at: 0x1000) == 0)
    #expect(memory.load(UInt64.self, at: 0x1008) == 0)
    #expect(memory.load(UInt64.self, at: 0x1010) == 0x00CF_9B00_0000_FFFF)
    #expect(memory.load(UInt64.self, at: 0x1018) == 0x00CF_9300_0000_FFFF)

    // Nothing else was touched: page 0 and the first free page stay zero.
    #expect(try #require(memory.bytes(at: 0, count: 0x1000)).allSatisfy { $0 == 0 })
    #expect(try #require(memory.bytes(at: 0x3000, count: 0x1000)).allSatisfy { $0 == 0 })
  }

  @Test func emptyCommandLineIsANullPointer() throws {
    let buffer = Buffer(size: 2 << 20)
    try BootLayout.writeBootInformation(ramSize: 2 << 20, commandLine: "", into: buffer.memory)
    #expect(buffer.memory.load(UInt64.self, at: BootLayout.startInfoAddress + 24) == 0)
    #expect(buffer.memory.load(UInt8.self, at: BootLayout.commandLineAddress) == 0)
  }

  @Test func refusesWhatDoesNotFit() {
    let buffer = Buffer(size: 2 << 20)
    let long = String(repeating: "x", count: BootLayout.commandLineCapacity)
    #expect(throws: MachineError.self) { try BootLayout.writeCommandLine(long, into: buffer.memory) }
    #expect(throws: MachineError.self) { try BootLayout.writeCommandLine("a\u{0}b", into: buffer.memory) }
    #expect(throws: Never.self) {
      try BootLayout.writeCommandLine(
        String(repeating: "x", count: BootLayout.commandLineCapacity - 1), into: buffer.memory)
    }
    let tooMany = [BootLayout.MemoryMapEntry](
      repeating: .init(address: 0, size: 1, type: 1), count: BootLayout.memoryMapCapacity + 1)
    #expect(throws: MachineError.self) { try BootLayout.writeMemoryMap(tooMany, into: buffer.memory) }
    // RAM that ends inside the boot information.
    let tiny = Buffer(size: 0x1100)
    #expect(throws: MachineError.self) {
      try BootLayout.writeStartInfo(memoryMapEntries: 1, hasCommandLine: false, into: tiny.memory)
    }
    #expect(throws: Never.self) { try BootLayout.writeGDT(into: tiny.memory) }
  }

  @Test func overlapWithBootInformation() {
    #expect(BootLayout.overlapsBootInformation(address: 0x2FFF, size: 1))
    #expect(BootLayout.overlapsBootInformation(address: 0, size: 0x1001))
    #expect(!BootLayout.overlapsBootInformation(address: 0, size: 0x1000))
    #expect(!BootLayout.overlapsBootInformation(address: 0x3000, size: 0x1000))
    #expect(!BootLayout.overlapsBootInformation(address: 0x1000, size: 0))
  }
}
