#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// The core file's layout: its headers and register notes, built and read back.

/// Little-endian byte building for headers and notes.
struct LittleEndianBytes {
  var bytes: [UInt8] = []

  mutating func u8(_ value: UInt8) { bytes.append(value) }
  mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
  mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
  mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
  mutating func zeroes(_ count: Int) { bytes += repeatElement(0, count: count) }
  mutating func pad(to alignment: Int) { zeroes((alignment - bytes.count % alignment) % alignment) }

  /// An Elf64_Ehdr for x86-64 with program headers right after it and no sections.
  mutating func fileHeader(type: UInt16, programCount: Int) {
    bytes += ELF.magic
    u8(ELF.classELF64)
    u8(ELF.dataLittleEndian)
    u8(ELF.versionCurrent)
    zeroes(9)  // OS ABI (System V), ABI version, padding
    u16(type)
    u16(ELF.machineX86_64)
    u32(1)  // e_version
    u64(0)  // e_entry
    u64(UInt64(ELF.fileHeaderSize))  // e_phoff
    u64(0)  // e_shoff
    u32(0)  // e_flags
    u16(UInt16(ELF.fileHeaderSize))
    u16(UInt16(ELF.programHeaderSize))
    u16(UInt16(programCount))
    u16(UInt16(ELF.sectionHeaderSize))
    u16(0)  // e_shnum
    u16(0)  // e_shstrndx
  }

  mutating func programHeader(
    type: UInt32, flags: UInt32, offset: UInt64, virtualAddress: UInt64, physicalAddress: UInt64,
    fileSize: UInt64, memorySize: UInt64, alignment: UInt64
  ) {
    u32(type)
    u32(flags)
    u64(offset)
    u64(virtualAddress)
    u64(physicalAddress)
    u64(fileSize)
    u64(memorySize)
    u64(alignment)
  }

  /// An Elf64_Nhdr, its NUL-terminated name and its descriptor, each padded to 4 bytes.
  mutating func note(name: String, type: UInt32, descriptor: [UInt8]) {
    let nameBytes = Array(name.utf8) + [0]
    u32(UInt32(nameBytes.count))
    u32(UInt32(descriptor.count))
    u32(type)
    bytes += nameBytes
    pad(to: 4)
    bytes += descriptor
    pad(to: 4)
  }
}

enum CoreLayout {
  static let pageSize = 4096

  static func roundUp(_ value: UInt64, to alignment: Int) -> UInt64 {
    (value + UInt64(alignment) - 1) / UInt64(alignment) * UInt64(alignment)
  }

  // NT_PRSTATUS: struct elf_prstatus for x86-64.
  static let prstatusType: UInt32 = 1
  static let prstatusSize = 336
  static let prstatusPID = 32
  static let prstatusRegisters = 112
  /// user_regs_struct order.
  enum UserRegister: Int, CaseIterable {
    case r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi, origRAX
    case rip, cs, eflags, rsp, ss, fsBase, gsBase, ds, es, fs, gs
  }

  // "QEMU" note, type 0: QEMUCPUState version 1.
  static let qemuType: UInt32 = 0
  static let qemuVersion: UInt32 = 1
  /// With kernel_gs_base, as current QEMU writes it; older QEMU stops before it (432).
  static let qemuSize = 440
  static let qemuSegments = 152  // cs ds es fs gs ss ldt tr gdt idt, 24 bytes each
  static let qemuSegmentSize = 24
  static let qemuControlRegisters = 392  // cr[5]
  static let qemuMinimumSize = 432
  // QEMU's segment flags: the descriptor's high dword, bits 8–23.
  static let descriptorPresent: UInt32 = 1 << 15
  static let descriptorDPLShift: UInt32 = 13
  static let descriptorLong: UInt32 = 1 << 21
  static let descriptorCode: UInt32 = 1 << 12 | 1 << 11 | 1 << 9 | 1 << 8  // S, code, readable, accessed

  // "MMLAB" note, type 0x4D4C ("ML").
  static let mmlabType: UInt32 = 0x4D4C
  static let mmlabVersion: UInt32 = 2
  static let mmlabSize = 208
  /// Version 1 ended before the debug-block address.
  static let mmlabVersion1Size = 200

  static let eferLMA: UInt64 = 1 << 10
}
