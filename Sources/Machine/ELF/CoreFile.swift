#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// An ELF64 core file of guest physical memory, laid out like the ELF that QEMU's
/// `dump-guest-memory` writes without paging (`-p` absent), so that crash, gdb,
/// readelf and QEMU's own tools can read it:
///
///     ELF header (ET_CORE, EM_X86_64)
///     program headers: PT_NOTE, then one PT_LOAD per RAM region
///                      (p_paddr = guest physical address; p_vaddr = p_paddr, as
///                      newer QEMU writes it (7.2 still writes 0), so gdb can read
///                      physical addresses; p_filesz = p_memsz = region size)
///     notes: "CORE" NT_PRSTATUS, "QEMU" QEMUCPUState, "MMLAB" type 0x4D4C (see below)
///     zero padding to a page, then each region, page-aligned in the file
///
/// The MMLAB note (owner "MMLAB", type 0x4D4C: a number no generic tool reads as NT_PRSTATUS) holds everything `RegisterState` has,
/// EFER included, which neither the prstatus nor QEMU's note carry. Its
/// descriptor, little-endian: u32 version (2), u32 size (208); u64 rax rbx rcx
/// rdx rsi rdi rsp rbp r8 … r15 rip rflags cr0 cr2 cr3 cr4 efer; u16 cs; u8 cpl;
/// 5 bytes of zero; (version 2) u64 physical address of the guest's debug block,
/// 0 if unknown. Later versions may only append fields.
public enum CoreFile {
  /// Writes `memory` and `registers` to `path` (created or replaced, mode 0644),
  /// streaming each region straight from its mapping. On failure the partial file is removed.
  public static func write(
    memory: GuestPhysicalMemory, registers: RegisterState, debugBlockAddress: UInt64? = nil, to path: String
  ) throws(CoreFileError) {
    let regions = memory.regions.filter { $0.bytes.count > 0 }
    guard !regions.isEmpty else { throw CoreFileError(path: path, .cannotWrite("guest memory has no RAM regions")) }
    guard regions.count < Int(ELF.programCountEscape) - 1 else {
      throw CoreFileError(
        path: path, .cannotWrite("\(regions.count) RAM regions are more than one ELF program header table holds"))
    }
    for (previous, next) in zip(regions, regions.dropFirst()) where next.base < previous.end {
      throw CoreFileError(
        path: path,
        .cannotWrite("RAM regions \(elfHex(previous.base..<previous.end)) and \(elfHex(next.base..<next.end)) overlap"))
    }

    let notes = CoreLayout.notes(registers, debugBlockAddress: debugBlockAddress)
    let programCount = 1 + regions.count
    let notesOffset = ELF.fileHeaderSize + programCount * ELF.programHeaderSize
    var offsets: [UInt64] = []
    var next = CoreLayout.roundUp(UInt64(notesOffset + notes.count), to: CoreLayout.pageSize)
    for region in regions {
      offsets.append(next)
      next = CoreLayout.roundUp(next + UInt64(region.bytes.count), to: CoreLayout.pageSize)
    }

    var headers = LittleEndianBytes()
    headers.fileHeader(type: ELF.typeCore, programCount: programCount)
    headers.programHeader(
      type: ELF.programNote, flags: 0, offset: UInt64(notesOffset), virtualAddress: 0, physicalAddress: 0,
      fileSize: UInt64(notes.count), memorySize: UInt64(notes.count), alignment: 4)
    for (region, offset) in zip(regions, offsets) {
      headers.programHeader(
        type: ELF.programLoad, flags: ELF.flagRead | ELF.flagWrite | ELF.flagExecute, offset: offset,
        virtualAddress: region.base, physicalAddress: region.base, fileSize: UInt64(region.bytes.count),
        memorySize: UInt64(region.bytes.count), alignment: UInt64(CoreLayout.pageSize))
    }
    headers.bytes += notes

    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw CoreFileError(path: path, .systemCall(name: "open", errno: errno)) }
    var output = Output(descriptor: descriptor, path: path)
    do throws(CoreFileError) {
      try output.write(headers.bytes)
      for (region, offset) in zip(regions, offsets) {
        try output.zeroes(Int(offset - output.position))
        try output.write(UnsafeRawBufferPointer(region.bytes))
      }
    } catch {
      close(descriptor)
      unlink(path)
      throw error
    }
    if close(descriptor) != 0 {
      let code = errno
      unlink(path)
      throw CoreFileError(path: path, .systemCall(name: "close", errno: code))
    }
  }
}

/// Why a core file cannot be written or read; `description` is meant for the user.
public struct CoreFileError: Error, Equatable, Sendable, CustomStringConvertible {
  public enum Kind: Equatable, Sendable {
    /// No file at the path.
    case fileMissing
    /// The path names something that is not a readable regular file.
    case notAFile(InputFileError)
    /// A system call failed.
    case systemCall(name: String, errno: Int32)
    /// Headers, notes or a segment end past the end of the file.
    case truncated(what: String, end: UInt64, fileSize: UInt64)
    /// The file does not start with "\x7fELF"; carries its first bytes (up to 16).
    case notELF(firstBytes: [UInt8])
    /// EI_CLASS is not ELFCLASS64.
    case wrongClass(UInt8)
    /// EI_DATA is not little-endian.
    case wrongByteOrder(UInt8)
    /// e_machine is not EM_X86_64.
    case wrongMachine(UInt16)
    /// e_type is not ET_CORE.
    case notCore(type: UInt16)
    /// An offset or address plus a size does not fit in 64 bits.
    case overflow(String)
    /// A structure is inconsistent.
    case malformed(String)
    /// No PT_LOAD with file bytes.
    case noLoadSegments
    /// Two PT_LOADs share physical bytes. `pagingDump` if p_vaddr suggests a `dump-guest-memory -p` core.
    case overlappingSegments(
      first: String, firstRange: Range<UInt64>, second: String, secondRange: Range<UInt64>, pagingDump: Bool)
    /// The memory given to `write` cannot be described by a core file.
    case cannotWrite(String)
  }

  public var path: String
  public var kind: Kind

  public init(path: String, _ kind: Kind) {
    self.path = path
    self.kind = kind
  }

  init(path: String, problem: ELFProblem) {
    switch problem {
    case .truncated(let what, let end, let fileSize):
      self.init(path: path, .truncated(what: what, end: end, fileSize: fileSize))
    case .notELF(let firstBytes): self.init(path: path, .notELF(firstBytes: firstBytes))
    case .wrongClass(let value): self.init(path: path, .wrongClass(value))
    case .wrongByteOrder(let value): self.init(path: path, .wrongByteOrder(value))
    case .overflow(let why): self.init(path: path, .overflow(why))
    case .malformed(let why): self.init(path: path, .malformed(why))
    }
  }

  public var description: String {
    let what: String
    switch kind {
    case .fileMissing:
      what = "no such file"
    case .notAFile(let error):
      return error.description
    case .systemCall(let name, let code):
      what = "\(name) failed: \(errnoDescription(code)) (errno \(code))"
    case .truncated(let part, let end, let fileSize):
      what = "the file is truncated: \(part) ends at byte \(end), but the file has only \(fileSize) bytes"
    case .notELF(let firstBytes):
      what = "not an ELF file: \(describeFirstBytes(firstBytes))"
    case .wrongClass(let value):
      what =
        "not a 64-bit ELF (EI_CLASS is \(value)); mmlab reads ELFCLASS64 cores only"
        + (value == 1 ? " (QEMU writes a 32-bit core when the guest was not in long mode and has less than 4 GiB)" : "")
    case .wrongByteOrder(let value):
      what = "not a little-endian ELF (EI_DATA is \(value))"
    case .wrongMachine(let machine):
      what =
        "the core is for machine \(machine) (\(ELF.machineName(machine))), not x86-64 (EM_X86_64, 62)"
        + (machine == 3 ? "; QEMU writes i386 cores when the guest was not in long mode" : "")
    case .notCore(let type):
      what = "not a core file: ELF type \(type) (\(ELF.typeName(type))), expected ET_CORE (4)"
    case .overflow(let why):
      what = "impossible size: \(why)"
    case .malformed(let why):
      what = "malformed core: \(why)"
    case .noLoadSegments:
      what = "the core has no PT_LOAD segment with memory in it"
    case .overlappingSegments(let first, let firstRange, let second, let secondRange, let pagingDump):
      what =
        "\(first) at guest physical \(elfHex(firstRange)) overlaps \(second) at \(elfHex(secondRange))"
        + (pagingDump ? "; this looks like a paging dump (dump-guest-memory -p), which mmlab does not read" : "")
    case .cannotWrite(let why):
      what = "cannot write a core: \(why)"
    }
    return "core file \(path): \(what)"
  }
}

/// Sequential writes to a file descriptor, retrying short writes and EINTR.
private struct Output {
  let descriptor: Int32
  let path: String
  var position: UInt64 = 0

  mutating func write(_ bytes: UnsafeRawBufferPointer) throws(CoreFileError) {
    var done = 0
    while done < bytes.count {
      let written = systemWrite(descriptor, bytes.baseAddress! + done, min(bytes.count - done, 1 << 30))
      if written < 0 {
        if errno == EINTR { continue }
        throw CoreFileError(path: path, .systemCall(name: "write", errno: errno))
      }
      if written == 0 { throw CoreFileError(path: path, .systemCall(name: "write", errno: EIO)) }
      done += written
    }
    position += UInt64(bytes.count)
  }

  mutating func write(_ array: [UInt8]) throws(CoreFileError) {
    let result: Result<Void, CoreFileError> = array.withUnsafeBytes { bytes in
      do throws(CoreFileError) {
        try write(bytes)
        return .success(())
      } catch {
        return .failure(error)
      }
    }
    try result.get()
  }

  mutating func zeroes(_ count: Int) throws(CoreFileError) {
    if count > 0 { try write([UInt8](repeating: 0, count: count)) }
  }
}

private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
  #if canImport(Glibc)
    return Glibc.write(descriptor, buffer, count)
  #else
    return Darwin.write(descriptor, buffer, count)
  #endif
}
