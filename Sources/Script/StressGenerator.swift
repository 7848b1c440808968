import GuestABI
import GuestMm

/// `mmlab script --generate stress`: seeded random NT calls across three
/// processes (reserve, commit, decommit, release, protect, query, user-mode
/// touches) in a 2 MiB window per process, so calls keep meeting earlier
/// ones. Every step carries the status GuestMm's model predicts on the host,
/// so a run judges the guest against the model; a failing seed is a file
/// that replays.
public struct StressGenerator {
  public var seed: UInt64
  public var steps: Int
  /// Pages each process commits and touches first, at `heapBase`, where the
  /// random calls never reach: working sets of a realistic size at the end.
  public var residentPages: UInt64
  /// The script's guest RAM, in MiB.
  public var memoryMiB: Int

  public init(seed: UInt64, steps: Int, residentPages: UInt64 = 0, memoryMiB: Int = 64) {
    self.seed = seed
    self.steps = steps
    self.residentPages = residentPages
    self.memoryMiB = memoryMiB
  }

  /// Where the resident heaps start (below the random window, which they must not reach).
  public static let heapBase: UInt64 = 0x2000_0000
  /// The largest resident heap: 256 MiB, so it ends below the window.
  public static let residentPageLimit: UInt64 = (windowBase - heapBase) >> 12

  /// The window each process's calls fall in.
  static let windowBase: UInt64 = 0x4000_0000
  static let processes = ["P0", "P1", "P2"]
  static let protections: [(name: String, value: UInt32)] = [
    ("PAGE_READONLY", 0x02), ("PAGE_READWRITE", 0x04), ("PAGE_EXECUTE_READ", 0x20),
    ("PAGE_READWRITE|PAGE_GUARD", 0x104),
  ]

  /// The script, as JSON text (one step a line).
  public func script() -> String {
    var random = SplitMix(seed: seed)
    let models = Self.processes.map { _ in ModelProcess() }
    var lines = Self.processes.map { #"{"call": "CreateProcess", "as": "\#($0)"}"# }
    if residentPages > 0 {
      for (name, model) in zip(Self.processes, models) { lines += heap(process: name, model: model) }
    }
    let quarter = max(1, steps / 4)
    for n in 1...max(1, steps) {
      let which = Int(random.below(3))
      lines.append(step(&random, process: Self.processes[which], model: models[which]))
      if n % quarter == 0 { lines.append(#"{"call": "Checkpoint", "name": "stress-\#(n)"}"#) }
    }
    return "{\"memory\": \(memoryMiB),\n \"steps\": [\n  " + lines.joined(separator: ",\n  ") + "]}\n"
  }

  /// The resident heap's two steps: commit it, then write every page from user mode.
  func heap(process: String, model: ModelProcess) -> [String] {
    let bytes = min(residentPages, Self.residentPageLimit) << 12
    let allocated = model.memory.ntAllocateVirtualMemory(
      baseAddress: Self.heapBase, zeroBits: 0, regionSize: bytes, allocationType: 0x3000, protect: 0x04
    ).status
    let touched = model.touch(Self.heapBase, pages: bytes >> 12, write: true)
    return [
      #"{"call": "NtAllocateVirtualMemory", "ProcessHandle": "\#(process)", "BaseAddress": "\#(hex(Self.heapBase))", "ZeroBits": 0, "RegionSize": "\#(hex(bytes))", "AllocationType": "MEM_RESERVE|MEM_COMMIT", "Protect": "PAGE_READWRITE", "expect": "\#(NtNames.describeStatus(allocated.rawValue))"}"#,
      #"{"call": "Touch", "ProcessHandle": "\#(process)", "Address": "\#(hex(Self.heapBase))", "Pages": \#(bytes >> 12), "Access": "write", "expect": "\#(NtNames.describeStatus(touched.rawValue))"}"#,
    ]
  }

  /// One random call on `process`, as a JSON object with the model's status.
  func step(_ random: inout SplitMix, process: String, model: ModelProcess) -> String {
    let base = Self.windowBase + random.below(32) * 0x1_0000
    let size = (random.below(8) + 1) * 4096
    let protection = Self.protections[Int(random.below(UInt64(Self.protections.count)))]
    let head = #""ProcessHandle": "\#(process)", "BaseAddress": "\#(hex(base))""#
    func call(_ name: String, _ rest: String, _ status: Status) -> String {
      #"{"call": "\#(name)", \#(head), \#(rest), "expect": "\#(NtNames.describeStatus(status.rawValue))"}"#
    }
    switch random.below(8) {
    case 0, 1:
      let (type, name, bytes) =
        random.below(2) == 0
        ? (MemoryAllocationType.reserve.rawValue, "MEM_RESERVE", size * 4)
        : (MemoryAllocationType.commit.rawValue, "MEM_COMMIT", size)
      let status = model.memory.ntAllocateVirtualMemory(
        baseAddress: base, zeroBits: 0, regionSize: bytes, allocationType: type, protect: protection.value
      ).status
      return call(
        "NtAllocateVirtualMemory",
        #""ZeroBits": 0, "RegionSize": "\#(hex(bytes))", "AllocationType": "\#(name)", "Protect": "\#(protection.name)""#,
        status)
    case 2:
      let status = model.memory.ntFreeVirtualMemory(baseAddress: base, regionSize: size, freeType: 0x4000).status
      return call("NtFreeVirtualMemory", #""RegionSize": "\#(hex(size))", "FreeType": "MEM_DECOMMIT""#, status)
    case 3:
      let status = model.memory.ntFreeVirtualMemory(baseAddress: base, regionSize: 0, freeType: 0x8000).status
      return call("NtFreeVirtualMemory", #""RegionSize": 0, "FreeType": "MEM_RELEASE""#, status)
    case 4:
      let status = model.memory.ntProtectVirtualMemory(
        baseAddress: base, regionSize: size, newProtect: protection.value
      ).status
      return call(
        "NtProtectVirtualMemory", #""RegionSize": "\#(hex(size))", "NewProtect": "\#(protection.name)""#, status)
    case 5:
      let status = model.memory.ntQueryVirtualMemory(baseAddress: base, informationClass: 0).status
      return call("NtQueryVirtualMemory", #""MemoryInformationClass": "MemoryBasicInformation""#, status)
    default:
      let (access, name): (MemoryAccess, String) = [(.read, "read"), (.write, "write"), (.execute, "execute")][
        Int(random.below(3))]
      let status = model.touch(base, pages: size / 4096, access: access)
      return
        #"{"call": "Touch", "ProcessHandle": "\#(process)", "Address": "\#(hex(base))", "Pages": \#(size / 4096), "Access": "\#(name)", "expect": "\#(NtNames.describeStatus(status.rawValue))"}"#
    }
  }

  func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16, uppercase: true) }
}

/// SplitMix64: the same seed gives the same script on every machine.
struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  /// SplitMix64's next output: the same mix as the guest's pattern words.
  mutating func next() -> UInt64 {
    defer { state &+= 0x9E37_79B9_7F4A_7C15 }
    return ScriptPattern.word(seed: state, address: 0)
  }
  mutating func below(_ bound: UInt64) -> UInt64 { next() % bound }
}
