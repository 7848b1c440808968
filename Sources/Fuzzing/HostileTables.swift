import Machine
import X86Paging

/// Guest RAM held by the fuzzer: one region at physical 0, zeroed, freed with the object.
public final class FuzzRAM {
  public let memory: GuestPhysicalMemory
  public let bytes: UnsafeMutableRawBufferPointer

  public init(size: Int) {
    bytes = .allocate(byteCount: size, alignment: 4096)
    bytes.initializeMemory(as: UInt8.self, repeating: 0)
    memory = GuestPhysicalMemory(regions: [GuestPhysicalMemory.Region(base: 0, bytes: bytes)])
  }

  deinit { bytes.deallocate() }

  public func store(_ value: UInt64, at address: UInt64) {
    bytes.storeBytes(of: value.littleEndian, toByteOffset: Int(address), as: UInt64.self)
  }
}

/// Page tables built to make a walker do as much as the input allows: the cases of the
/// hostile-input campaign, and random table graphs for the fuzzer. Each is a 4-level
/// hierarchy rooted at `root` in a small RAM, with registers that enable it.
public enum HostileTables {
  public static let root: UInt64 = 0x1000
  /// Present, writable, user.
  static let tableFlags: UInt64 = 0x7

  /// Long-mode registers with CR3 at `root`.
  public static func registers(cr3: UInt64 = root) -> RegisterState {
    var registers = RegisterState()
    registers.cr0 = 0x8000_0011  // PG | ET | PE
    registers.cr3 = cr3
    registers.cr4 = 0x20  // PAE
    registers.efer = 0x500  // LME | LMA
    return registers
  }

  /// Every entry of the PML4 points at the PML4: read at every level, 512^4 leaves.
  public static func selfReferencing(_ ram: FuzzRAM) {
    for index in 0..<512 as Range<UInt64> { ram.store(root | tableFlags, at: root + index * 8) }
  }

  /// One PDPT behind all 512 PML4 entries, full of 1 GiB leaves: 262,144 leaves.
  public static func sharedPDPTOfGigabytePages(_ ram: FuzzRAM) {
    let pdpt = root + 0x1000
    for index in 0..<512 as Range<UInt64> {
      ram.store(pdpt | tableFlags, at: root + index * 8)
      ram.store(index << 30 | 0x87, at: pdpt + index * 8)  // P | W | U | PS
    }
  }

  /// A random graph of tables from `seed`: `tables` pages after the root, each entry at
  /// random present or not, a leaf, a reference to any table (itself, an ancestor, a
  /// shared one), a page outside RAM, or with reserved bits.
  public static func randomGraph(_ ram: FuzzRAM, seed: UInt64, tables: Int = 16) {
    var random = SplitMix64(seed: seed)
    let count = UInt64(max(tables, 1))
    let ramEnd = UInt64(ram.bytes.count)
    for table in 0...count {
      let base = root + table * 0x1000
      guard base + 0x1000 <= ramEnd else { break }
      let density = random.next() % 4  // 0: sparse ... 3: every entry present
      for index in 0..<512 as Range<UInt64> {
        guard random.next() % 4 < density + 1 else { continue }
        ram.store(randomEntry(&random, tables: count, ramEnd: ramEnd), at: base + index * 8)
      }
    }
  }

  static func randomEntry(_ random: inout SplitMix64, tables: UInt64, ramEnd: UInt64) -> UInt64 {
    let target = root + (random.next() % (tables + 1)) * 0x1000
    switch random.next() % 8 {
    case 0: return target | tableFlags  // a table of the graph (possibly itself)
    case 1: return target | tableFlags | 0x80  // PS: a large leaf where the level allows
    case 2: return (random.next() % (1 << 40)) & ~0xFFF | tableFlags  // anywhere, mostly outside RAM
    case 3: return target | tableFlags | (random.next() % 16) << 52 | 0x0008_0000_0000_0000  // reserved bits
    case 4: return random.next()  // anything
    case 5: return (ramEnd - 0x1000) | tableFlags  // the last page
    default: return target | tableFlags
    }
  }
}

/// SplitMix64: a small, seedable generator, so every fuzz case is reproducible from its seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  var state: UInt64
  public init(seed: UInt64) { state = seed }
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
