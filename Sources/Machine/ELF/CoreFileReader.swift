#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Reading cores: the file mapped, its headers and notes checked, its loads
// as guest physical memory.
extension CoreFile {
  /// Maps the core at `path` (private, copy-on-write: writes to its memory never
  /// reach the file) and reads its PT_LOADs and register notes. Reads cores written
  /// by `write` and by QEMU's `dump-guest-memory` without paging. PT_LOADs with
  /// p_filesz 0 are skipped; bytes past p_filesz are not part of the returned memory.
  public static func read(path: String) throws(CoreFileError) -> LoadedCore {
    let descriptor: Int32
    let size: Int
    do { (descriptor, size) = try InputFile.open(path) } catch {
      throw CoreFileError(path: path, error.kind == .missing ? .fileMissing : .notAFile(error))
    }
    defer { close(descriptor) }
    guard size > 0 else { throw CoreFileError(path: path, .notELF(firstBytes: [])) }
    guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, descriptor, 0),
      base != UnsafeMutableRawPointer(bitPattern: -1)
    else { throw CoreFileError(path: path, .systemCall(name: "mmap", errno: errno)) }
    let mapping = UnsafeMutableRawBufferPointer(start: base, count: size)
    do {
      let parsed = try parse(mapping, path: path)
      return LoadedCore(path: path, mapping: mapping, parsed: parsed)
    } catch {
      munmap(base, size)
      throw error
    }
  }

  struct Parsed {
    var memory: GuestPhysicalMemory
    var registers: RegisterState
    var source: LoadedCore.RegisterSource?
    var cpuCount: Int
    var debugBlockAddress: UInt64?
  }

  static func parse(_ mapping: UnsafeMutableRawBufferPointer, path: String) throws(CoreFileError) -> Parsed {
    let bytes = ELFBytes(UnsafeRawBufferPointer(mapping))
    let file: ELFFile
    do { file = try ELFFile.parse(bytes) } catch { throw CoreFileError(path: path, problem: error) }
    guard file.type == ELF.typeCore else { throw CoreFileError(path: path, .notCore(type: file.type)) }
    guard file.machine == ELF.machineX86_64 else { throw CoreFileError(path: path, .wrongMachine(file.machine)) }

    // Notes first: they come before the memory in the file, so a truncation is named where it starts.
    var notes: [ELFNote] = []
    do throws(ELFProblem) {
      for header in file.programHeaders where header.type == ELF.programNote {
        let container = "PT_NOTE (program header \(header.index))"
        let span = try bytes.span(offset: header.offset, size: header.fileSize, what: container)
        notes += try ELFFile.notes(in: span, alignment: header.alignment, of: bytes, container: container)
      }
    } catch { throw CoreFileError(path: path, problem: error) }

    var regions: [GuestPhysicalMemory.Region] = []
    var names: [String] = []
    var pagingDump = false
    var loadNumber = 0
    do throws(ELFProblem) {
      for header in file.programHeaders where header.type == ELF.programLoad {
        loadNumber += 1
        let name = "PT_LOAD \(loadNumber) (program header \(header.index), physical \(elfHex(header.physicalAddress)))"
        guard header.fileSize <= header.memorySize else {
          throw .malformed(
            "\(name) has more file bytes (\(elfHex(header.fileSize))) than memory bytes (\(elfHex(header.memorySize)))")
        }
        guard header.fileSize > 0 else { continue }  // QEMU writes these for ranges it did not dump
        let span = try bytes.span(offset: header.offset, size: header.fileSize, what: name)
        let (_, overflow) = header.physicalAddress.addingReportingOverflow(header.fileSize)
        if overflow { throw .overflow("\(name) with size \(elfHex(header.fileSize)) runs past physical address 2^64") }
        if header.virtualAddress != 0 && header.virtualAddress != header.physicalAddress { pagingDump = true }
        regions.append(
          GuestPhysicalMemory.Region(
            base: header.physicalAddress, bytes: UnsafeMutableRawBufferPointer(rebasing: mapping[span])))
        names.append(name)
      }
    } catch { throw CoreFileError(path: path, problem: error) }
    guard !regions.isEmpty else { throw CoreFileError(path: path, .noLoadSegments) }

    let byStart = regions.indices.sorted { regions[$0].base < regions[$1].base }
    var reaching = byStart[0]
    for index in byStart.dropFirst() {
      if regions[index].base < regions[reaching].end {
        let (first, second) = reaching < index ? (reaching, index) : (index, reaching)
        throw CoreFileError(
          path: path,
          .overlappingSegments(
            first: names[first], firstRange: regions[first].base..<regions[first].end,
            second: names[second], secondRange: regions[second].base..<regions[second].end, pagingDump: pagingDump))
      }
      if regions[index].end > regions[reaching].end { reaching = index }
    }

    let (registers, source, cpuCount, debugBlock) = try CoreLayout.registers(from: notes, bytes, path: path)
    return Parsed(
      memory: GuestPhysicalMemory(regions: regions), registers: registers, source: source, cpuCount: cpuCount,
      debugBlockAddress: debugBlock)
  }
}

/// A core file mapped into this process. Its `memory` points into the mapping,
/// which lives as long as this object: keep the `LoadedCore` alive while using it.
/// The mapping is private: writes to `memory` change this process's copy only.
public final class LoadedCore: @unchecked Sendable {
  /// Where the registers came from.
  public enum RegisterSource: Sendable, Equatable {
    /// mmlab's own note: every `RegisterState` field, EFER included.
    case mmlab
    /// QEMU's QEMUCPUState note: general, control and segment registers, no EFER.
    case qemu
    /// The NT_PRSTATUS note: general registers and CS only (CRs and EFER are 0).
    case prstatus
  }

  public let path: String
  /// Guest physical memory: one region per PT_LOAD, at its p_paddr.
  public let memory: GuestPhysicalMemory
  /// The first vCPU's registers (zero if the core has no register note).
  public let registers: RegisterState
  /// Which note `registers` came from; nil if none.
  public let registerSource: RegisterSource?
  /// True only if `registers.efer` was recorded (the MMLAB note); otherwise efer is 0.
  public var eferKnown: Bool { registerSource == .mmlab }
  /// True if CR0, CR2, CR3 and CR4 were recorded (MMLAB or QEMU note).
  public var controlRegistersKnown: Bool { registerSource == .mmlab || registerSource == .qemu }
  /// Physical address of the guest's debug block, if the core's MMLAB note recorded one.
  public let debugBlockAddress: UInt64?
  /// How many vCPUs the core describes (count of NT_PRSTATUS notes, or of the notes `registers` came from).
  public let cpuCount: Int

  private let mapping: UnsafeMutableRawBufferPointer

  init(path: String, mapping: UnsafeMutableRawBufferPointer, parsed: CoreFile.Parsed) {
    self.path = path
    self.mapping = mapping
    self.memory = parsed.memory
    self.registers = parsed.registers
    self.registerSource = parsed.source
    self.cpuCount = parsed.cpuCount
    self.debugBlockAddress = parsed.debugBlockAddress
  }

  deinit {
    if let base = mapping.baseAddress { munmap(base, mapping.count) }
  }
}
