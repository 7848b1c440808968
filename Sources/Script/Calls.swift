import GuestABI

/// What a parameter of a call holds, which decides how its JSON is read.
public enum ParameterKind: Sendable, Equatable {
  /// A process: a name an earlier CreateProcess gave with "as", or a raw
  /// handle value (a number), so a script can pass a bad one on purpose.
  case handle
  /// A process as `handle` takes it, or "System": system space, where NtMapViewOfSection
  /// maps a view as MmMapViewInSystemSpace does, NtUnmapViewOfSection unmaps it and Touch
  /// accesses it at CPL 0.
  case processOrSystem
  /// An address, size or count: an integer, "0x…", "64KiB", "$alias+0x1000".
  case number
  /// MEM_* flags joined by "|", or numbers.
  case memoryFlags
  /// PAGE_* values joined by "|", or numbers.
  case protection
  /// read, write or execute.
  case access
  /// MemoryBasicInformation, or a number.
  case informationClass
  /// A file: a name an earlier NtCreateFile or NtOpenFile gave with "as", or a raw handle value.
  case fileHandle
  /// An NT object name, e.g. "\\??\\C:\\docs\\readme.txt" (a string, at most 1024 bytes of UTF-8).
  case objectName
  /// An ACCESS_MASK: FILE_READ_DATA, GENERIC_READ, ... joined by "|", or numbers.
  case fileAccess
  /// FILE_SHARE_* joined by "|", or numbers.
  case shareAccess
  /// FILE_OPEN, FILE_CREATE, ... or a number.
  case createDisposition
  /// FILE_* create options joined by "|", or numbers.
  case createOptions
  /// FileStandardInformation, FileEndOfFileInformation, or a number.
  case fileInformationClass
  /// A section: a name an earlier NtCreateSection or NtOpenSection gave with "as", or a raw handle value.
  case sectionHandle
  /// A section's name ("\\BaseNamedObjects\\shared"), or null for none.
  case sectionName
  /// SECTION_* access rights or GENERIC_* joined by "|", or numbers.
  case sectionAccess
  /// SEC_* attributes joined by "|", or numbers.
  case sectionAttributes
  /// ViewShare, ViewUnmap, or a number.
  case inheritDisposition
  /// SectionBasicInformation, SectionImageInformation, or a number.
  case sectionInformationClass
}

/// How an out-parameter's value reads in a report.
public enum OutputKind: Sendable, Equatable {
  case number
  case protection
  case regionState
  case regionType
  case handle
  /// IO_STATUS_BLOCK.Information of a create: FILE_CREATED, FILE_OPENED, ...
  case createResult
  case boolean
  /// SEC_* attributes.
  case sectionAttributes
}

/// One call of the script language: its parameters under NT's names (in the
/// order the guest takes them) and its out-parameters.
public struct CallSpec: Sendable, Equatable {
  public var name: String
  public var call: ScriptCall
  public var inputs: [(name: String, kind: ParameterKind)]
  public var outputs: [(name: String, kind: OutputKind)]

  public static func == (a: CallSpec, b: CallSpec) -> Bool { a.call == b.call }

  /// Whether a failure of the call must leave the Mm as it was (NT's system
  /// calls do; a Touch or a pattern is a run of accesses that stops at a
  /// fault, keeping what the accesses before it did).
  public var failsAtomically: Bool {
    switch call {
    // A non-cached write that fails half-way (the disk is full after some clusters) keeps what it wrote, as NT's does.
    case .touch, .writePattern, .checkPattern, .checkpoint, .writeFile: false
    // A flush that fails half-way has written the pages before the failure.
    case .flushVirtualMemory, .ccFlushCache: false
    default: true
    }
  }

  /// The index of out-parameter `name`, or nil.
  public func outputIndex(_ name: String) -> Int? { outputs.firstIndex { $0.name == name } }
}

extension CallSpec {
  /// Every call a script may make. Adding calls is fine; renaming one or
  /// changing its meaning breaks scripts users keep.
  public static let all: [CallSpec] =
    [
      CallSpec(name: "CreateProcess", call: .createProcess, inputs: [], outputs: [("ProcessHandle", .handle)]),
      CallSpec(
        name: "NtAllocateVirtualMemory", call: .allocateVirtualMemory,
        inputs: [
          ("ProcessHandle", .handle), ("BaseAddress", .number), ("ZeroBits", .number), ("RegionSize", .number),
          ("AllocationType", .memoryFlags), ("Protect", .protection),
        ], outputs: [("BaseAddress", .number), ("RegionSize", .number)]),
      CallSpec(
        name: "NtFreeVirtualMemory", call: .freeVirtualMemory,
        inputs: [
          ("ProcessHandle", .handle), ("BaseAddress", .number), ("RegionSize", .number), ("FreeType", .memoryFlags),
        ],
        outputs: [("BaseAddress", .number), ("RegionSize", .number)]),
      CallSpec(
        name: "NtProtectVirtualMemory", call: .protectVirtualMemory,
        inputs: [
          ("ProcessHandle", .handle), ("BaseAddress", .number), ("RegionSize", .number), ("NewProtect", .protection),
        ], outputs: [("BaseAddress", .number), ("RegionSize", .number), ("OldProtect", .protection)]),
      CallSpec(
        name: "NtQueryVirtualMemory", call: .queryVirtualMemory,
        inputs: [("ProcessHandle", .handle), ("BaseAddress", .number), ("MemoryInformationClass", .informationClass)],
        outputs: [
          ("BaseAddress", .number), ("AllocationBase", .number), ("AllocationProtect", .protection),
          ("RegionSize", .number), ("State", .regionState), ("Protect", .protection), ("Type", .regionType),
        ]),
      CallSpec(
        name: "Touch", call: .touch,
        inputs: [("ProcessHandle", .processOrSystem), ("Address", .number), ("Pages", .number), ("Access", .access)],
        outputs: [("FaultAddress", .number), ("PagesDone", .number)]),
      CallSpec(
        name: "WritePattern", call: .writePattern,
        inputs: [("ProcessHandle", .handle), ("Address", .number), ("Size", .number), ("Seed", .number)],
        outputs: []),
      CallSpec(
        name: "CheckPattern", call: .checkPattern,
        inputs: [("ProcessHandle", .handle), ("Address", .number), ("Size", .number), ("Seed", .number)],
        outputs: [("FirstMismatch", .number)]),
      CallSpec(name: "Checkpoint", call: .checkpoint, inputs: [], outputs: []),
    ] + fileCalls + sectionCalls

  /// NT's file calls on the guest's FAT volume (non-cached: sector-aligned
  /// offsets, lengths and buffers). ProcessHandle names the calling process,
  /// whose memory holds Buffer.
  public static let fileCalls: [CallSpec] = [
    CallSpec(
      name: "NtCreateFile", call: .createFile,
      inputs: [
        ("ProcessHandle", .handle), ("DesiredAccess", .fileAccess), ("ObjectName", .objectName),
        ("FileAttributes", .number), ("ShareAccess", .shareAccess), ("CreateDisposition", .createDisposition),
        ("CreateOptions", .createOptions),
      ], outputs: [("FileHandle", .handle), ("Information", .createResult)]),
    CallSpec(
      name: "NtOpenFile", call: .openFile,
      inputs: [
        ("ProcessHandle", .handle), ("DesiredAccess", .fileAccess), ("ObjectName", .objectName),
        ("ShareAccess", .shareAccess), ("OpenOptions", .createOptions),
      ], outputs: [("FileHandle", .handle), ("Information", .createResult)]),
    CallSpec(
      name: "NtReadFile", call: .readFile,
      inputs: [
        ("ProcessHandle", .handle), ("FileHandle", .fileHandle), ("Buffer", .number), ("Length", .number),
        ("ByteOffset", .number),
      ], outputs: [("Information", .number)]),
    CallSpec(
      name: "NtWriteFile", call: .writeFile,
      inputs: [
        ("ProcessHandle", .handle), ("FileHandle", .fileHandle), ("Buffer", .number), ("Length", .number),
        ("ByteOffset", .number),
      ], outputs: [("Information", .number)]),
    CallSpec(
      name: "NtQueryInformationFile", call: .queryInformationFile,
      inputs: [
        ("ProcessHandle", .handle), ("FileHandle", .fileHandle), ("FileInformationClass", .fileInformationClass),
      ],
      outputs: [
        ("AllocationSize", .number), ("EndOfFile", .number), ("NumberOfLinks", .number),
        ("DeletePending", .boolean), ("Directory", .boolean),
      ]),
    CallSpec(
      name: "NtSetInformationFile", call: .setInformationFile,
      inputs: [
        ("ProcessHandle", .handle), ("FileHandle", .fileHandle), ("FileInformationClass", .fileInformationClass),
        ("EndOfFile", .number),
      ], outputs: []),
    CallSpec(
      name: "NtFlushBuffersFile", call: .flushBuffersFile,
      inputs: [("ProcessHandle", .handle), ("FileHandle", .fileHandle)], outputs: []),
    CallSpec(
      name: "NtClose", call: .close, inputs: [("ProcessHandle", .handle), ("Handle", .fileHandle)], outputs: []),
  ]

  /// NT's section calls. NtClose closes a section handle too. A view's
  /// SectionHandle must be one the mapping process holds: two processes share a
  /// section by opening the same file, or a named section with NtOpenSection.
  public static let sectionCalls: [CallSpec] = [
    CallSpec(
      name: "NtCreateSection", call: .createSection,
      inputs: [
        ("ProcessHandle", .handle), ("DesiredAccess", .sectionAccess), ("ObjectName", .sectionName),
        ("MaximumSize", .number), ("SectionPageProtection", .protection),
        ("AllocationAttributes", .sectionAttributes), ("FileHandle", .fileHandle),
      ], outputs: [("SectionHandle", .handle)]),
    CallSpec(
      name: "NtOpenSection", call: .openSection,
      inputs: [("ProcessHandle", .handle), ("DesiredAccess", .sectionAccess), ("ObjectName", .objectName)],
      outputs: [("SectionHandle", .handle)]),
    CallSpec(
      name: "NtMapViewOfSection", call: .mapViewOfSection,
      inputs: [
        ("ProcessHandle", .processOrSystem), ("SectionHandle", .sectionHandle), ("BaseAddress", .number),
        ("ZeroBits", .number), ("CommitSize", .number), ("SectionOffset", .number), ("ViewSize", .number),
        ("InheritDisposition", .inheritDisposition), ("AllocationType", .memoryFlags), ("Win32Protect", .protection),
      ], outputs: [("BaseAddress", .number), ("ViewSize", .number)]),
    CallSpec(
      name: "NtUnmapViewOfSection", call: .unmapViewOfSection,
      inputs: [("ProcessHandle", .processOrSystem), ("BaseAddress", .number)], outputs: []),
    CallSpec(
      name: "NtFlushVirtualMemory", call: .flushVirtualMemory,
      inputs: [("ProcessHandle", .handle), ("BaseAddress", .number), ("RegionSize", .number)],
      outputs: [("BaseAddress", .number), ("RegionSize", .number)]),
    CallSpec(
      name: "NtQuerySection", call: .querySection,
      inputs: [
        ("ProcessHandle", .handle), ("SectionHandle", .sectionHandle),
        ("SectionInformationClass", .sectionInformationClass),
      ],
      outputs: [("BaseAddress", .number), ("AllocationAttributes", .sectionAttributes), ("MaximumSize", .number)]),
    CallSpec(
      name: "NtExtendSection", call: .extendSection,
      inputs: [("ProcessHandle", .handle), ("SectionHandle", .sectionHandle), ("NewSectionSize", .number)],
      outputs: [("NewSectionSize", .number)]),
    // Cc's routines, on a file handle: Length 0 is the whole file (NT's NULL FileOffset).
    CallSpec(
      name: "CcFlushCache", call: .ccFlushCache,
      inputs: [("ProcessHandle", .handle), ("FileHandle", .fileHandle), ("FileOffset", .number), ("Length", .number)],
      outputs: [("Information", .number)]),
    CallSpec(
      name: "CcPurgeCacheSection", call: .ccPurgeCacheSection,
      inputs: [("ProcessHandle", .handle), ("FileHandle", .fileHandle), ("FileOffset", .number), ("Length", .number)],
      outputs: [("Purged", .boolean)]),
  ]

  /// Calls for mmlab's own tests, read only with `--test-hooks` (and served
  /// only by a guest told so): TestChangeThenFail commits memory in the
  /// process and then fails, which the host must report.
  public static let testOnly: [CallSpec] = [
    CallSpec(name: "TestChangeThenFail", call: .testChangeThenFail, inputs: [("ProcessHandle", .handle)], outputs: [])
  ]

  /// The call named `name` (test-only calls with `testCalls`), or nil.
  public static func named(_ name: String, testCalls: Bool = false) -> CallSpec? {
    all.first { $0.name == name } ?? (testCalls ? testOnly.first { $0.name == name } : nil)
  }
}

/// The access a Touch makes.
public enum TouchAccess: String, CaseIterable, Sendable {
  case read, write, execute

  /// Its code in the step record.
  public var code: UInt64 {
    switch self {
    case .read: 0
    case .write: 1
    case .execute: 2
    }
  }
}
