#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Which hypervisor answers and how it virtualizes the guest's paging, detected
/// at run time from sysfs, /proc/cpuinfo and KVM itself (never assumed).
///
/// All fields are plain stored values so reports can emit them as they are
/// (`jsonObject`, or `Codable`).
public struct Platform: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
  /// The KVM implementation behind /dev/kvm, from the modules in /sys/module.
  public enum Hypervisor: String, Sendable, Equatable, Hashable, Codable {
    /// kvm_intel: VMX.
    case kvmIntel = "kvm-intel"
    /// kvm_amd: SVM.
    case kvmAMD = "kvm-amd"
    /// kvm_pvm: software virtualization without VMX/SVM (shadow paging only).
    case kvmPVM = "kvm-pvm"
    /// QEMU's own emulator (TCG), no KVM at all.
    case qemuTCG = "qemu-tcg"
    /// No known KVM module is loaded (or sysfs is not readable).
    case unknown
  }

  /// How the guest's page tables reach the CPU.
  public enum GuestPaging: String, Sendable, Equatable, Hashable, Codable {
    /// Intel EPT: the CPU walks the guest's tables, then the EPT tables.
    case ept = "EPT"
    /// AMD NPT: the CPU walks the guest's tables, then the nested tables.
    case npt = "NPT"
    /// KVM keeps shadow page tables derived from the guest's, which it write-protects.
    case shadow
    /// An emulator's software MMU (QEMU TCG).
    case softwareMMU = "software-mmu"
    case unknown

    /// True for EPT and NPT, where a guest page fault never leaves the guest.
    public var isTwoDimensional: Bool { self == .ept || self == .npt }

    /// Words for a report: "shadow paging", "two-dimensional paging: EPT".
    public var phrase: String {
      switch self {
      case .ept, .npt: "two-dimensional paging: \(rawValue)"
      case .shadow: "shadow paging"
      case .softwareMMU: "QEMU's software MMU"
      case .unknown: "paging virtualization unknown"
      }
    }
  }

  public var hypervisor: Hypervisor
  public var guestPaging: GuestPaging
  /// The KVM modules found in /sys/module (e.g. ["kvm", "kvm_pvm"]).
  public var kvmModules: [String]
  /// /sys/module/kvm/parameters/tdp_mmu, when present.
  public var tdpMMU: Bool?
  /// KVM_GET_API_VERSION, when /dev/kvm could be opened.
  public var kvmAPIVersion: Int?
  /// The first "model name" of /proc/cpuinfo.
  public var hostCPUModel: String?
  /// MAXPHYADDR as the guest sees it: KVM_GET_SUPPORTED_CPUID leaf 0x80000008 EAX[7:0].
  public var guestMaxPhysicalAddressBits: Int?
  /// Linear-address width as the guest sees it: leaf 0x80000008 EAX[15:8].
  public var guestLinearAddressBits: Int?
  /// The emulator between mmlab and KVM, when there is one: "QEMU 7.2.22 via
  /// libvirt qemu:///system". nil for KVMMachine, which drives /dev/kvm itself.
  public var emulator: String?

  public init(
    hypervisor: Hypervisor, guestPaging: GuestPaging, kvmModules: [String] = [], tdpMMU: Bool? = nil,
    kvmAPIVersion: Int? = nil, hostCPUModel: String? = nil, guestMaxPhysicalAddressBits: Int? = nil,
    guestLinearAddressBits: Int? = nil
  ) {
    self.hypervisor = hypervisor
    self.guestPaging = guestPaging
    self.kvmModules = kvmModules
    self.tdpMMU = tdpMMU
    self.kvmAPIVersion = kvmAPIVersion
    self.hostCPUModel = hostCPUModel
    self.guestMaxPhysicalAddressBits = guestMaxPhysicalAddressBits
    self.guestLinearAddressBits = guestLinearAddressBits
  }

  /// "kvm-pvm (shadow paging), KVM API 12, AMD EPYC, MAXPHYADDR 48"
  public var description: String {
    var parts = ["\(hypervisor.rawValue) (\(guestPaging.phrase))"]
    if let emulator { parts.insert(emulator, at: 0) }
    if let kvmAPIVersion { parts.append("KVM API \(kvmAPIVersion)") }
    if let hostCPUModel { parts.append(hostCPUModel) }
    if let guestMaxPhysicalAddressBits { parts.append("MAXPHYADDR \(guestMaxPhysicalAddressBits)") }
    return parts.joined(separator: ", ")
  }

  /// The fields as JSON-ready values (absent ones left out).
  public var jsonObject: [String: Any] {
    var object: [String: Any] = [
      "hypervisor": hypervisor.rawValue,
      "guestPaging": guestPaging.rawValue,
      "twoDimensionalPaging": guestPaging.isTwoDimensional,
      "kvmModules": kvmModules,
      "description": description,
    ]
    if let tdpMMU { object["tdpMMU"] = tdpMMU }
    if let kvmAPIVersion { object["kvmAPIVersion"] = kvmAPIVersion }
    if let hostCPUModel { object["hostCPUModel"] = hostCPUModel }
    if let guestMaxPhysicalAddressBits { object["guestMaxPhysicalAddressBits"] = guestMaxPhysicalAddressBits }
    if let guestLinearAddressBits { object["guestLinearAddressBits"] = guestLinearAddressBits }
    if let emulator { object["emulator"] = emulator }
    return object
  }

  // MARK: Detection

  /// Detects the platform from the files under `sysfsRoot` and `procRoot`
  /// (injectable for tests) and the figures only KVM knows, passed in by the
  /// caller that has /dev/kvm open: the API version and the guest's address
  /// sizes (from CPUID leaf 0x80000008, see `addressSizes(leaf80000008EAX:)`).
  public static func detect(
    sysfsRoot: String = "/sys", procRoot: String = "/proc", kvmAPIVersion: Int?,
    guestAddressSizes: (physical: Int, linear: Int)?
  ) -> Platform {
    let moduleDirectory = sysfsRoot + "/module/"
    let known = ["kvm", "kvm_intel", "kvm_amd", "kvm_pvm"]
    let modules = known.filter { isDirectory(moduleDirectory + $0) }

    func parameter(_ module: String, _ name: String) -> String? {
      readFile(moduleDirectory + module + "/parameters/" + name)?.trimmingWhitespace()
    }

    let hypervisor: Hypervisor
    let paging: GuestPaging
    // kvm_pvm first: it is the one that can be loaded where VMX/SVM are absent,
    // and where it is loaded it is what /dev/kvm belongs to on these hosts.
    if modules.contains("kvm_pvm") {
      hypervisor = .kvmPVM
      paging = .shadow
    } else if modules.contains("kvm_intel") {
      hypervisor = .kvmIntel
      paging = parameter("kvm_intel", "ept").map { parseBool($0) == true ? .ept : .shadow } ?? .unknown
    } else if modules.contains("kvm_amd") {
      hypervisor = .kvmAMD
      paging = parameter("kvm_amd", "npt").map { parseBool($0) == true ? .npt : .shadow } ?? .unknown
    } else {
      hypervisor = .unknown
      paging = .unknown
    }

    return Platform(
      hypervisor: hypervisor, guestPaging: paging, kvmModules: modules,
      tdpMMU: parameter("kvm", "tdp_mmu").flatMap(parseBool), kvmAPIVersion: kvmAPIVersion,
      hostCPUModel: cpuModel(procRoot: procRoot), guestMaxPhysicalAddressBits: guestAddressSizes?.physical,
      guestLinearAddressBits: guestAddressSizes?.linear)
  }

  /// MAXPHYADDR (EAX[7:0]) and the linear-address width (EAX[15:8]) of CPUID leaf 0x80000008.
  public static func addressSizes(leaf80000008EAX eax: UInt32) -> (physical: Int, linear: Int) {
    (Int(eax & 0xFF), Int((eax >> 8) & 0xFF))
  }

  /// The first "model name" in `procRoot`/cpuinfo.
  static func cpuModel(procRoot: String) -> String? {
    guard let text = readFile(procRoot + "/cpuinfo") else { return nil }
    for line in text.split(separator: "\n") {
      let parts = line.split(separator: ":", maxSplits: 1)
      guard parts.count == 2, parts[0].trimmingWhitespace() == "model name" else { continue }
      let model = parts[1].trimmingWhitespace()
      if !model.isEmpty { return model }
    }
    return nil
  }

  /// sysfs booleans: "Y"/"N" for bool parameters, "1"/"0" for int ones.
  static func parseBool(_ text: String) -> Bool? {
    switch text.lowercased() {
    case "y", "yes", "1", "true": true
    case "n", "no", "0", "false": false
    default: nil
    }
  }

  static func isDirectory(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
  }

  /// A small text file (sysfs attribute, /proc/cpuinfo); nil if unreadable.
  static func readFile(_ path: String, limit: Int = 1 << 20) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16384)
    while bytes.count < limit {
      // SAFETY: read(2) writes at most `chunk.count` bytes into the buffer.
      let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if count < 0, errno == EINTR { continue }
      guard count > 0 else { break }
      bytes.append(contentsOf: chunk[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

extension StringProtocol {
  fileprivate func trimmingWhitespace() -> String {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
    guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
      return ""
    }
    return String(self[first...last])
  }
}

#if os(Linux)
  extension Platform {
    /// Detects the platform, asking `kvm` (or a /dev/kvm opened here, if it can
    /// be) for the API version and the guest's address sizes.
    public static func detect(kvm: KVMSystem? = nil, sysfsRoot: String = "/sys", procRoot: String = "/proc") -> Platform
    {
      let system = kvm ?? (try? KVMSystem())
      let version = (try? system?.getAPIVersion()).flatMap { $0 }.map(Int.init)
      let cpuid = (try? system?.getSupportedCPUID()).flatMap { $0 }
      return detect(
        sysfsRoot: sysfsRoot, procRoot: procRoot, kvmAPIVersion: version,
        guestAddressSizes: cpuid.flatMap(addressSizes(from:)))
    }

    /// Address sizes from leaf 0x80000008 of KVM_GET_SUPPORTED_CPUID, if present.
    public static func addressSizes(from cpuid: [CPUIDEntry]) -> (physical: Int, linear: Int)? {
      guard let leaf = cpuid.first(where: { $0.function == 0x8000_0008 }) else { return nil }
      return addressSizes(leaf80000008EAX: leaf.eax)
    }
  }
#endif
