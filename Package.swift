// swift-tools-version: 6.1
// mmlab: an x86 page-table and PFN emulator backed by a KVM guest.
// The guest kernel (Guest/) is Embedded Swift; the GuestImageBuilder plugin
// compiles and links it during `swift build`, so no image is ever committed.
import PackageDescription

/// The model and the judge are what the tests spend their time in (the paging
/// space and the errata pins judge millions of cases): built with -O in debug
/// builds as well, which keeps `make test` minutes shorter.
let optimizedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
  name: "mmlab",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "mmlab", targets: ["mmlab"]),
    .executable(name: "mmlab-fuzz", targets: ["mmlab-fuzz"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
  ],
  targets: [
    // Pure model of x86 paging (Intel SDM vol. 3A ch. 4). No I/O. Optimized in debug
    // builds too: the tests walk the conformance space (millions of cases) through it.
    .target(name: "X86Paging", swiftSettings: optimizedInDebug),
    // The guest<->host contract; also compiled into the guest by the plugin.
    .target(name: "GuestABI"),
    // Memory-manager logic with no hardware in it (VADs, the virtual-memory API's rules,
    // fault decisions): compiled into the guest by the plugin, and tested on the host.
    .target(name: "GuestMm", dependencies: ["GuestABI"]),
    // The FAT32 file system over a BlockDevice, no hardware in it: compiled into
    // the guest by the plugin (under the virtio-blk driver later), tested on the host
    // against volumes mkfs.fat and mtools made.
    .target(name: "GuestFs", dependencies: ["GuestABI", "GuestMm"]),
    // linux/kvm.h for Swift: ioctl numbers and structures.
    .target(name: "CKVM"),
    // libvirt's C API (Debian: libvirt-dev), for LibvirtMachine.
    .systemLibrary(name: "CLibvirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
    // The guest kernel image, built from Guest/ by the plugin, shipped as a resource.
    .target(
      name: "GuestImage",
      plugins: [.plugin(name: "GuestImageBuilder")]
    ),
    .plugin(name: "GuestImageBuilder", capability: .buildTool()),
    // The Machine protocol and its backends.
    .target(
      name: "Machine",
      dependencies: [
        "CKVM", "CLibvirt", "GuestABI", "X86Paging",
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    // Reads guest state through a Machine or a core file; reports.
    .target(
      name: "Inspect",
      dependencies: ["Machine", "X86Paging", "GuestABI", "GuestImage"]
    ),
    // Conformance suites: cases as data, the X86Paging oracle, errata, the
    // runner that drives the guest, and the reporters.
    .target(
      name: "Conformance",
      dependencies: ["Machine", "Inspect", "X86Paging", "GuestABI", "GuestImage", "Reporting", "Script"],
      resources: [.copy("Errata")],
      swiftSettings: optimizedInDebug
    ),
    // JUnit XML and TAP 13 documents, for every command that reports tests.
    .target(name: "Reporting"),
    // The script language: parse and check scripts of NT calls, encode them
    // for the guest, judge what came back.
    .target(
      name: "Script", dependencies: ["GuestABI", "GuestMm", "Machine", "Inspect", "Reporting", "GuestImage"],
      exclude: ["Schema"]),
    .executableTarget(
      name: "mmlab",
      dependencies: [
        "Conformance", "Inspect", "Machine", "X86Paging", "GuestImage", "Script", "GuestABI",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    // Hostile inputs: page tables built to make walkers work, mutations of cores, guest
    // images, errata and command lines, and the runner of `make fuzz` (a process per case).
    .target(name: "Fuzzing", dependencies: ["Machine", "X86Paging", "Inspect", "GuestABI", "Conformance"]),
    .executableTarget(
      name: "mmlab-fuzz",
      dependencies: ["Fuzzing", .product(name: "ArgumentParser", package: "swift-argument-parser")]
    ),
    .testTarget(name: "X86PagingTests", dependencies: ["X86Paging"]),
    .testTarget(
      name: "FuzzTests",
      dependencies: [
        "Fuzzing", "Inspect", "Machine", "X86Paging", "Conformance",
        .product(name: "PropertyBased", package: "swift-property-based"),
      ]
    ),
    .testTarget(name: "MachineTests", dependencies: ["Machine", "GuestABI", "X86Paging"]),
    .testTarget(name: "CLITests", dependencies: ["GuestABI"]),
    .testTarget(name: "GuestMmTests", dependencies: ["GuestMm", "GuestABI"]),
    .testTarget(name: "GuestFsTests", dependencies: ["GuestFs", "GuestMm", "GuestABI"]),
    .testTarget(name: "InspectTests", dependencies: ["Inspect", "Machine", "X86Paging", "GuestABI"]),
    .testTarget(name: "ConformanceTests", dependencies: ["Conformance", "X86Paging", "GuestABI", "Reporting"]),
    .testTarget(name: "ScriptTests", dependencies: ["Script", "GuestABI", "GuestMm"]),
    .testTarget(
      name: "IntegrationTests",
      dependencies: ["Machine", "Inspect", "GuestImage", "X86Paging", "GuestABI", "Conformance", "Script"]
    ),
  ]
)
