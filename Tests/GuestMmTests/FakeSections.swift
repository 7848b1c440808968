import GuestABI
import GuestMm

/// Sections for `FakeBackend`: control areas by address, each a dictionary of
/// prototype PTEs, with what the view code asked for recorded. The store is a
/// class so that two address spaces (two harnesses) share one section.
struct FakeSections: SectionBackend {
  final class Store {
    var shapes: [UInt64: SectionShape] = [:]
    var prototypes: [UInt64: [UInt64: UInt64]] = [:]
    var views: [UInt64: Int] = [:]
    var decisions: [PrototypeFaultDecision] = []
    /// Frames handed out (section pages and private copies).
    var frames: Set<UInt64> = []
    var copies: [UInt64: UInt64] = [:]
    var nextFrame: UInt64 = 0x8000
    /// The next makeResident fails with this status.
    var failNext: Status?
    var beingDeleted: Set<UInt64> = []
    /// The most pages a commit may take; the ranges commits asked for.
    var commitLimit: UInt64 = .max
    var commits: [ClosedRange<UInt64>] = []
  }
  var store = Store()

  /// The subsection PTE of a file page still in the file.
  static let inFile = SoftwarePTE.prototype(address: 0xFFFF_8800_0000_0800, protection: 4, viaVAD: false).raw

  /// Adds a section of `pages` pages at `controlArea`, its pages in the file or demand zero.
  func add(_ controlArea: UInt64, pages: UInt64, fileBacked: Bool, protection: UInt8 = PageProtection.readWrite) {
    store.shapes[controlArea] = SectionShape(
      pages: pages, fileBacked: fileBacked, fileSize: pages << 12, protection: protection)
    let initial = fileBacked ? Self.inFile : SoftwarePTE.demandZero(protection: protection).raw
    store.prototypes[controlArea] = Dictionary(uniqueKeysWithValues: (0..<pages).map { ($0, initial) })
  }

  func section(_ controlArea: UInt64) -> SectionShape? { store.shapes[controlArea] }

  func prototypePTE(_ controlArea: UInt64, page: UInt64) -> UInt64 { store.prototypes[controlArea]![page]! }

  mutating func makeResident(_ controlArea: UInt64, page: UInt64, _ decision: PrototypeFaultDecision)
    -> Result<UInt64, Status>
  {
    store.decisions.append(decision)
    if let status = store.failNext {
      store.failNext = nil
      return .failure(status)
    }
    switch decision {
    case .shareValid(let pfn): return .success(pfn)
    case .reclaim(let pfn):
      store.prototypes[controlArea]![page] = ProtectionRules.validPTE(frame: pfn, protection: 4, dirty: false)
      return .success(pfn)
    default:
      store.nextFrame += 1
      let pfn = store.nextFrame
      store.frames.insert(pfn)
      store.prototypes[controlArea]![page] = ProtectionRules.validPTE(frame: pfn, protection: 4, dirty: false)
      return .success(pfn)
    }
  }

  mutating func copyPage(_ pfn: UInt64) -> UInt64? {
    store.nextFrame += 1
    store.frames.insert(store.nextFrame)
    store.copies[store.nextFrame] = pfn
    return store.nextFrame
  }

  /// Commits like the guest: zero prototype PTEs become demand zero, unless
  /// more are wanted than `store.commitLimit` allows (commitmentLimit, unchanged).
  mutating func commitPages(_ controlArea: UInt64, first: UInt64, last: UInt64) -> Status {
    store.commits.append(first...last)
    let zero = (first...last).filter { store.prototypes[controlArea]![$0] == 0 }
    guard UInt64(zero.count) <= store.commitLimit else { return .commitmentLimit }
    let protection = store.shapes[controlArea]!.protection
    for page in zero { store.prototypes[controlArea]![page] = SoftwarePTE.demandZero(protection: protection).raw }
    return .success
  }

  mutating func viewMapped(_ controlArea: UInt64) -> Bool {
    guard store.shapes[controlArea] != nil, !store.beingDeleted.contains(controlArea) else { return false }
    store.views[controlArea, default: 0] += 1
    return true
  }

  mutating func viewUnmapped(_ controlArea: UInt64) { store.views[controlArea, default: 0] -= 1 }
}
