import GuestABI

/// Where the host puts things in guest physical memory before the first
/// instruction, and the small functions that put them there. Guest RAM is one
/// range starting at physical 0; the host's boot information (a GDT, the PVH
/// `hvm_start_info` record, the memory map and the command line) fills pages
/// 1 and 2, and the kernel image loads at 1 MiB (`KernelLayout.physicalBase`).
///
///     0x0000_0000  page 0: left zero (nothing of the host's lives at address 0)
///     0x0000_1000  boot GDT (4 descriptors)            ┐
///     0x0000_1100  hvm_start_info (56 bytes)           │ boot information,
///     0x0000_1200  memory map (149 × 24 bytes of room) │ reserved in the map
///     0x0000_2000  command line (up to 4 KiB with NUL) ┘
///     0x0000_3000  free RAM
///     0x000A_0000  legacy VGA/BIOS hole, reserved in the map (RAM behind it on KVMMachine)
///     0x0010_0000  kernel image, then free RAM up to the RAM size
///     0xC000_0000  MMIO hole up to 4 GiB: no RAM is ever here; KVM's TSS pages live in it
///
/// The memory map says "usable" for [0, 0x1000), [0x3000, 640 KiB) and
/// [1 MiB, RAM size), and "reserved" for the boot information and the legacy
/// hole, so a guest building its PFN database from the map never hands out a
/// page the host wrote boot information into, and sees the same map under QEMU.
public enum BootLayout {
  // MARK: RAM

  /// Guest physical address of the first byte of RAM.
  public static let ramBase: UInt64 = 0
  /// RAM size when nobody asks for another one.
  public static let defaultMemoryMiB = 64
  /// The least RAM that holds the boot information, the legacy hole and a small kernel.
  public static let minimumMemoryMiB = 2
  /// RAM ends below the MMIO hole, so it is a single range (3 GiB).
  public static let maximumMemoryMiB = Int(mmioHoleStart >> 20)
  /// Size of a guest page.
  public static let pageSize: UInt64 = 4096

  // MARK: Boot information

  /// First byte of the boot information: page 1, so page 0 stays zero.
  public static let bootInformationStart: UInt64 = 0x1000
  /// The GDT the 32-bit PVH entry starts with (the vCPU's GDTR points here).
  public static let gdtAddress: UInt64 = bootInformationStart
  /// Null, null, flat code, flat data.
  public static let gdtEntryCount = 4
  /// GDTR.limit for `gdtEntryCount` 8-byte descriptors.
  public static let gdtLimit = UInt16(gdtEntryCount * 8 - 1)
  /// Flat 4 GiB 32-bit code segment, execute/read (the PVH entry's CS).
  public static let codeSelector: UInt16 = 2 << 3
  /// Flat 4 GiB 32-bit data segment, read/write (DS, ES, FS, GS, SS at the PVH entry).
  public static let dataSelector: UInt16 = 3 << 3
  /// Descriptor for `codeSelector`: base 0, limit 0xFFFFF pages (G=1), D/B=1, P=1, DPL 0, S=1, type 0xB.
  public static let codeDescriptor: UInt64 = 0x00CF_9B00_0000_FFFF
  /// Descriptor for `dataSelector`: base 0, limit 0xFFFFF pages (G=1), D/B=1, P=1, DPL 0, S=1, type 0x3.
  public static let dataDescriptor: UInt64 = 0x00CF_9300_0000_FFFF

  /// The PVH `hvm_start_info` record (`PVHStartInfo`); EBX holds this at the entry.
  public static let startInfoAddress: UInt64 = bootInformationStart + 0x100
  /// The PVH memory map (`PVHMemoryMapEntry` records).
  public static let memoryMapAddress: UInt64 = startInfoAddress + 0x100
  /// Room for this many memory-map entries before the command line.
  public static let memoryMapCapacity = Int(commandLineAddress - memoryMapAddress) / PVHMemoryMapEntry.entrySize
  /// The NUL-terminated command line.
  public static let commandLineAddress: UInt64 = bootInformationStart + pageSize
  /// Bytes for the command line including its NUL.
  public static let commandLineCapacity = Int(pageSize)
  /// One past the last byte of the boot information (page-aligned).
  public static let bootInformationEnd: UInt64 = commandLineAddress + UInt64(commandLineCapacity)

  // MARK: Legacy and MMIO holes

  /// Start of the legacy VGA/BIOS hole (640 KiB), reserved in the memory map.
  public static let legacyHoleStart: UInt64 = 640 << 10
  /// End of the legacy hole: where the kernel image starts (1 MiB).
  public static let legacyHoleEnd: UInt64 = KernelLayout.physicalBase
  /// Start of the MMIO hole below 4 GiB (3 GiB); RAM never reaches it.
  public static let mmioHoleStart: UInt64 = 0xC000_0000
  /// End of the MMIO hole (4 GiB).
  public static let mmioHoleEnd: UInt64 = 1 << 32
  /// KVM_SET_TSS_ADDR's three pages: in the MMIO hole, just above KVM's default
  /// identity-map page (0xFFFB_C000), outside every memory slot as the API requires.
  public static let tssAddress: UInt64 = 0xFFFB_D000
  /// Pages KVM_SET_TSS_ADDR takes.
  public static let tssPageCount: UInt64 = 3

  // MARK: The vCPU at the PVH entry

  /// CR0 at the entry: protected mode (PE) with ET set as every modern CPU has it; paging off.
  public static let initialCR0: UInt64 = (1 << 0) | (1 << 4)
  /// EFLAGS at the entry: only the always-one bit 1.
  public static let initialRFLAGS: UInt64 = 0x2

  // MARK: Memory map

  /// One entry of the memory map handed to the guest.
  public struct MemoryMapEntry: Equatable, Sendable {
    public var address: UInt64
    public var size: UInt64
    /// `PVHMemoryMapEntry.typeRAM` or `.typeReserved`.
    public var type: UInt32
    public init(address: UInt64, size: UInt64, type: UInt32) {
      self.address = address
      self.size = size
      self.type = type
    }
    public var end: UInt64 { address + size }
  }

  /// The memory map for `ramSize` bytes of RAM at 0 (see the type's documentation).
  public static func memoryMap(ramSize: UInt64) -> [MemoryMapEntry] {
    let ram = PVHMemoryMapEntry.typeRAM
    let reserved = PVHMemoryMapEntry.typeReserved
    var entries: [MemoryMapEntry] = []
    func add(_ start: UInt64, _ end: UInt64, _ type: UInt32) {
      let end = min(end, ramSize)
      guard start < end else { return }
      entries.append(MemoryMapEntry(address: start, size: end - start, type: type))
    }
    add(ramBase, bootInformationStart, ram)
    add(bootInformationStart, bootInformationEnd, reserved)
    add(bootInformationEnd, legacyHoleStart, ram)
    add(legacyHoleStart, legacyHoleEnd, reserved)
    add(legacyHoleEnd, ramSize, ram)
    return entries
  }

  // MARK: Writers

  /// Writes the boot GDT at `gdtAddress`.
  public static func writeGDT(into memory: GuestPhysicalMemory) throws(MachineError) {
    let descriptors: [UInt64] = [0, 0, codeDescriptor, dataDescriptor]
    for (index, descriptor) in descriptors.enumerated() {
      guard memory.store(descriptor, at: gdtAddress + UInt64(index * 8)) else {
        throw .invalidConfiguration("guest RAM too small for the boot GDT at 0x\(String(gdtAddress, radix: 16))")
      }
    }
  }

  /// Writes `entries` at `memoryMapAddress`.
  public static func writeMemoryMap(_ entries: [MemoryMapEntry], into memory: GuestPhysicalMemory) throws(MachineError)
  {
    guard entries.count <= memoryMapCapacity else {
      throw .invalidConfiguration("\(entries.count) memory-map entries do not fit (room for \(memoryMapCapacity))")
    }
    for (index, entry) in entries.enumerated() {
      let base = memoryMapAddress + UInt64(index * PVHMemoryMapEntry.entrySize)
      guard memory.store(entry.address, at: base + UInt64(PVHMemoryMapEntry.address)),
        memory.store(entry.size, at: base + UInt64(PVHMemoryMapEntry.size)),
        memory.store(entry.type, at: base + UInt64(PVHMemoryMapEntry.type)),
        memory.store(UInt32(0), at: base + UInt64(PVHMemoryMapEntry.type + 4))
      else { throw .invalidConfiguration("guest RAM too small for the memory map") }
    }
  }

  /// Writes `commandLine` and its NUL at `commandLineAddress`.
  public static func writeCommandLine(_ commandLine: String, into memory: GuestPhysicalMemory) throws(MachineError) {
    let bytes = Array(commandLine.utf8)
    guard bytes.count < commandLineCapacity else {
      throw .invalidConfiguration(
        "command line of \(bytes.count) bytes is too long (at most \(commandLineCapacity - 1))")
    }
    guard !bytes.contains(0) else { throw .invalidConfiguration("command line contains a NUL byte") }
    guard memory.write(bytes + [0], at: commandLineAddress) else {
      throw .invalidConfiguration("guest RAM too small for the command line")
    }
  }

  /// Writes the `hvm_start_info` record (version 1) at `startInfoAddress`,
  /// pointing at `memoryMapEntries` entries at `memoryMapAddress` and at the
  /// command line (or 0 when `hasCommandLine` is false).
  public static func writeStartInfo(
    memoryMapEntries: Int, hasCommandLine: Bool, into memory: GuestPhysicalMemory
  ) throws(MachineError) {
    let base = startInfoAddress
    guard memory.mutableBytes(at: base, count: PVHStartInfo.size) != nil else {
      throw .invalidConfiguration("guest RAM too small for the start_info record")
    }
    func at(_ offset: Int) -> UInt64 { base + UInt64(offset) }
    memory.store(PVHStartInfo.magicValue, at: at(PVHStartInfo.magic))
    memory.store(UInt32(1), at: at(PVHStartInfo.version))
    memory.store(UInt32(0), at: at(PVHStartInfo.flags))
    memory.store(UInt32(0), at: at(PVHStartInfo.moduleCount))
    memory.store(UInt64(0), at: at(PVHStartInfo.moduleListPhysicalAddress))
    memory.store(hasCommandLine ? commandLineAddress : 0, at: at(PVHStartInfo.commandLinePhysicalAddress))
    memory.store(UInt64(0), at: at(PVHStartInfo.rsdpPhysicalAddress))
    memory.store(memoryMapEntries > 0 ? memoryMapAddress : 0, at: at(PVHStartInfo.memmapPhysicalAddress))
    memory.store(UInt32(memoryMapEntries), at: at(PVHStartInfo.memmapEntries))
    memory.store(UInt32(0), at: at(PVHStartInfo.memmapEntries + 4))
  }

  /// Writes everything: GDT, memory map for `ramSize`, command line (when not
  /// empty) and start_info. Returns the memory map it wrote.
  @discardableResult
  public static func writeBootInformation(
    ramSize: UInt64, commandLine: String, into memory: GuestPhysicalMemory
  ) throws(MachineError) -> [MemoryMapEntry] {
    let map = memoryMap(ramSize: ramSize)
    try writeGDT(into: memory)
    try writeMemoryMap(map, into: memory)
    if !commandLine.isEmpty { try writeCommandLine(commandLine, into: memory) }
    try writeStartInfo(memoryMapEntries: map.count, hasCommandLine: !commandLine.isEmpty, into: memory)
    return map
  }

  /// True if `[address, address + size)` overlaps the boot information.
  public static func overlapsBootInformation(address: UInt64, size: UInt64) -> Bool {
    size > 0 && address < bootInformationEnd && address &+ size > bootInformationStart
  }
}
