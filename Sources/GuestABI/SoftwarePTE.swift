// The software formats of a not-present x86-64 PTE (P = 0), NT's layout:
//
//   prototype:   bit 10 = 1; bits 11-15 protection; bits 16-63 prototype PTE
//                address (sign-extended); all-ones address = "ask the VAD"
//   transition:  bit 10 = 0, bit 11 = 1; bits 5-9 protection; bits 12-47 PFN
//   page file:   bits 10, 11 = 0; bits 1-4 page-file number; bits 5-9
//                protection; bits 32-63 page-file offset (nonzero)
//   demand zero: as page file with offset 0 and protection nonzero
//   zero:        the whole PTE is 0: not committed here, ask the VAD
//
// Hardware-valid PTEs leave bits 9-11 to software: 9 copy-on-write,
// 10 prototype, 11 write (NT's use).

/// A decoded software PTE.
public enum SoftwarePTE: Equatable, Sendable {
  /// P = 1: the hardware's format.
  case valid(UInt64)
  /// Points at a prototype PTE (`address`), or at the VAD when `viaVAD`.
  case prototype(address: UInt64, protection: UInt8, viaVAD: Bool)
  /// The page is still in memory on the standby or modified list.
  case transition(pfn: UInt64, protection: UInt8)
  /// The page's contents are in page file `file` at page offset `offset`.
  case pageFile(file: UInt8, offset: UInt64, protection: UInt8)
  /// Committed; the first touch gets a zeroed page.
  case demandZero(protection: UInt8)
  /// All zero: nothing committed here (the VAD says more).
  case zero

  static let prototypeBit: UInt64 = 1 << 10
  static let transitionBit: UInt64 = 1 << 11
  /// The prototype-address value meaning "look the prototype up through the VAD".
  public static let prototypeViaVAD: UInt64 = 0xFFFF_FFFF_FFFF

  /// Decodes `raw` in the order the fault handler dispatches.
  public init(raw: UInt64) {
    if raw & 1 != 0 {
      self = .valid(raw)
    } else if raw == 0 {
      self = .zero
    } else if raw & Self.prototypeBit != 0 {
      let field = raw >> 16
      let address = UInt64(bitPattern: Int64(bitPattern: raw) >> 16)
      self = .prototype(
        address: address, protection: UInt8((raw >> 11) & 0x1F), viaVAD: field == Self.prototypeViaVAD)
    } else if raw & Self.transitionBit != 0 {
      self = .transition(pfn: (raw >> 12) & 0xF_FFFF_FFFF, protection: UInt8((raw >> 5) & 0x1F))
    } else if raw >> 32 != 0 {
      self = .pageFile(file: UInt8((raw >> 1) & 0xF), offset: raw >> 32, protection: UInt8((raw >> 5) & 0x1F))
    } else {
      self = .demandZero(protection: UInt8((raw >> 5) & 0x1F))
    }
  }

  /// The raw PTE. `init(raw:)` of the result gives back the same case (for
  /// in-range fields; `valid` is passed through as is).
  public var raw: UInt64 {
    switch self {
    case .valid(let raw): return raw
    case .zero: return 0
    case .prototype(let address, let protection, let viaVAD):
      let field = viaVAD ? Self.prototypeViaVAD : (address & 0xFFFF_FFFF_FFFF)
      return (field << 16) | (UInt64(protection & 0x1F) << 11) | Self.prototypeBit
    case .transition(let pfn, let protection):
      return ((pfn & 0xF_FFFF_FFFF) << 12) | Self.transitionBit | (UInt64(protection & 0x1F) << 5)
    case .pageFile(let file, let offset, let protection):
      return (offset << 32) | (UInt64(protection & 0x1F) << 5) | (UInt64(file & 0xF) << 1)
    case .demandZero(let protection):
      return UInt64(protection & 0x1F) << 5
    }
  }
}

/// NT protection codes (5 bits): the low 3 bits are the access, +8 no-cache,
/// +0x10 guard, +0x18 write-combine.
public enum PageProtection {
  public static let noAccess: UInt8 = 0
  public static let readOnly: UInt8 = 1
  public static let execute: UInt8 = 2
  public static let executeRead: UInt8 = 3
  public static let readWrite: UInt8 = 4
  public static let writeCopy: UInt8 = 5
  public static let executeReadWrite: UInt8 = 6
  public static let executeWriteCopy: UInt8 = 7
  public static let noCache: UInt8 = 0x8
  public static let guardPage: UInt8 = 0x10
  public static let writeCombine: UInt8 = 0x18
}
