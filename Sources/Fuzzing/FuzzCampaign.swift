import Foundation
import Inspect
import Machine
import X86Paging

/// What a case feeds mmlab.
public enum FuzzFamily: String, CaseIterable, Sendable {
  /// Random graphs of page tables in a 4 MiB core.
  case tables
  /// A seed core (from `dump-core` of a shipped scenario), mutated.
  case core
  /// The guest image, mutated.
  case image
  /// The bundled errata file, mutated.
  case errata
  /// A command line of `mmlab` itself, hostile words and files, run as a process.
  case commandLine
  /// A FAT32 disk image, its boot sector, FATs and first directories mutated, read whole by the host's reader.
  case volume
}

/// One hostile input: the bytes of the file, and the `mmlab` command that reads it (INPUT
/// stands for the file), which reproduces the case from the shell.
public struct FuzzCase: Sendable {
  public var index: Int
  public var family: FuzzFamily
  public var input: [UInt8]
  public var inputExtension: String
  public var command: [String]
  /// What was done to the seed, in words.
  public var mutation: String

  /// The command with INPUT replaced.
  public func command(input path: String) -> [String] { command.map { $0 == "INPUT" ? path : $0 } }
}

/// The seeds a campaign mutates.
public struct FuzzSeeds: Sendable {
  public var cores: [CoreSeed]
  public var image: [UInt8]
  public var errata: [UInt8]
  /// A small FAT32 volume (`mmlab image build --size 34`); empty: volume cases become table cases.
  public var volume: [UInt8]

  public init(cores: [CoreSeed], image: [UInt8], errata: [UInt8], volume: [UInt8] = []) {
    self.cores = cores
    self.image = image
    self.errata = errata
    self.volume = volume
  }

  /// Seeds from a folder: every *.core (read for CR3 and the debug block), `guest.elf`, `errata.json`,
  /// and `volume.img` if there.
  public static func load(folder: String) throws -> FuzzSeeds {
    let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    var cores: [CoreSeed] = []
    for name in names where name.hasSuffix(".core") {
      let path = folder + "/" + name
      let loaded = try CoreFile.read(path: path)
      cores.append(
        CoreSeed(
          name: name, bytes: try InputFile.read(path), cr3: loaded.registers.cr3,
          debugBlock: loaded.debugBlockAddress))
    }
    return FuzzSeeds(
      cores: cores, image: try InputFile.read(folder + "/guest.elf"),
      errata: try InputFile.read(folder + "/errata.json"),
      volume: (try? InputFile.read(folder + "/volume.img", limit: 64 << 20)) ?? [])
  }
}

/// A campaign: case `index` of seed `seed` is always the same case.
public struct FuzzCampaign: Sendable {
  public var seed: UInt64
  public var seeds: FuzzSeeds

  public init(seed: UInt64, seeds: FuzzSeeds) {
    self.seed = seed
    self.seeds = seeds
  }

  /// Families by weight: most cases are the cheap in-process readers.
  static let mix: [(FuzzFamily, UInt64)] = [
    (.tables, 30), (.core, 43), (.image, 10), (.errata, 15), (.commandLine, 2), (.volume, 5),
  ]

  public func family(of index: Int) -> FuzzFamily {
    var random = SplitMix64(seed: seed ^ UInt64(index) &* 0xA24B_AED4_963E_E407)
    var pick = random.next() % Self.mix.reduce(0) { $0 + $1.1 }
    for (family, weight) in Self.mix {
      if pick < weight { return family }
      pick -= weight
    }
    return .core
  }

  public func makeCase(_ index: Int) -> FuzzCase { makeCase(index, family: family(of: index)) }

  /// Case `index` as if it were of `family` (the property tests pick the family).
  public func makeCase(_ index: Int, family: FuzzFamily) -> FuzzCase {
    var random = SplitMix64(seed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
    switch family {
    case .tables: return tablesCase(index, &random)
    case .core: return coreCase(index, &random)
    case .image:
      let bytes = Mutations.bytes(seeds.image, random: &random, region: 0..<min(seeds.image.count, 4096))
      return FuzzCase(
        index: index, family: .image, input: bytes, inputExtension: "elf",
        command: ["run", "--image", "INPUT", "--timeout", "1"], mutation: "ELF header, program headers or notes")
    case .errata:
      let bytes = Mutations.bytes(seeds.errata, random: &random)
      return FuzzCase(
        index: index, family: .errata, input: bytes, inputExtension: "json",
        command: ["conformance", "--suite", "controls", "--filter", "cpl0/cr4/pke-set", "--errata", "INPUT"],
        mutation: "errata bytes")
    case .commandLine: return CommandLineCases.make(index, &random, core: coreCase(index, &random))
    case .volume: return volumeCase(index, &random)
    }
  }

  /// The seed volume with its metadata mutated: the reserved sectors, the FATs and
  /// the first clusters (the root and the first directories) live in its first MiB.
  func volumeCase(_ index: Int, _ random: inout SplitMix64) -> FuzzCase {
    guard !seeds.volume.isEmpty else { return tablesCase(index, &random) }
    let bytes = Mutations.bytes(seeds.volume, random: &random, region: 0..<min(seeds.volume.count, 1 << 20))
    return FuzzCase(
      index: index, family: .volume, input: bytes, inputExtension: "img", command: ["image", "ls", "INPUT"],
      mutation: "boot sector, FAT or directory bytes")
  }

  func tablesCase(_ index: Int, _ random: inout SplitMix64) -> FuzzCase {
    let ram = FuzzRAM(size: 4 << 20)
    let kind = random.next() % 8
    switch kind {
    case 0: HostileTables.selfReferencing(ram)
    case 1: HostileTables.sharedPDPTOfGigabytePages(ram)
    default: HostileTables.randomGraph(ram, seed: random.next(), tables: 1 + Int(random.next() % 64))
    }
    let bytes = CoreBytes.make(ram: ram, registers: HostileTables.registers())
    return FuzzCase(
      index: index, family: .tables, input: bytes, inputExtension: "core", command: Self.coreCommand(&random),
      mutation: ["self-referencing tables", "a shared PDPT of 1 GiB pages"][safe: Int(kind)] ?? "a random table graph")
  }

  func coreCase(_ index: Int, _ random: inout SplitMix64) -> FuzzCase {
    guard !seeds.cores.isEmpty else { return tablesCase(index, &random) }
    let seed = seeds.cores[Int(random.next() % UInt64(seeds.cores.count))]
    let (bytes, what) = seed.mutate(&random)
    return FuzzCase(
      index: index, family: .core, input: bytes, inputExtension: "core", command: Self.coreCommand(&random),
      mutation: "\(seed.name): \(what)")
  }

  /// A command that reads a core: a dump, the PFN database, or one translation. One dump
  /// in sixteen lists up to the default --max-leaves; the others stop sooner, which finds
  /// the same decoding faults at a fraction of the output.
  static func coreCommand(_ random: inout SplitMix64) -> [String] {
    let limit = random.next() % 16 == 0 ? [] : ["--max-leaves", String(1 + random.next() % 65536)]
    switch random.next() % 8 {
    case 0: return ["dump-pagetables", "--core", "INPUT"] + limit
    case 1: return ["dump-pagetables", "--core", "INPUT", "--leaves"] + limit
    case 2: return ["dump-pagetables", "--core", "INPUT", "--leaves", "--format", "json"] + limit
    case 3: return ["dump-pagetables", "--core", "INPUT", "--software", "--format", "json"] + limit
    case 4: return ["pfn", "--core", "INPUT"]
    case 5: return ["pfn", "--core", "INPUT", "--format", random.next() % 2 == 0 ? "json" : "svg"]
    case 6: return ["pfn", "--core", "INPUT", "--pfn", String(random.next() % 4096)]
    default: return ["translate", hex(Mutations.interestingValue(&random)), "--core", "INPUT"]
    }
  }
}

extension Array {
  subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}

/// A core file's bytes, made in memory through a scratch file (the writer streams to a path).
enum CoreBytes {
  static func make(ram: FuzzRAM, registers: RegisterState) -> [UInt8] {
    let path = NSTemporaryDirectory() + "mmlab-fuzz-\(getpid())-scratch.core"
    defer { unlink(path) }
    do {
      try CoreFile.write(memory: ram.memory, registers: registers, to: path)
      return try InputFile.read(path)
    } catch {
      preconditionFailure("CoreBytes.make: cannot write a scratch core: \(error)")
    }
  }
}
