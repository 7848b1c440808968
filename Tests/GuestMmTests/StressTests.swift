import GuestABI
import GuestMm
import Testing

/// SplitMix64: the same seed gives the same run.
struct SeededGenerator: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// NT's virtual-memory rules written a second time, as plainly as possible,
/// over page numbers: VADs and, per committed page, its protection and whether
/// a frame is mapped. The stress test holds the real thing to it.
struct Model {
  struct Vad: Equatable {
    var first: UInt64
    var last: UInt64
    var protection: UInt8
  }
  struct Page: Equatable {
    var protection: UInt8
    var mapped: Bool
  }

  let capacity: Int
  var vads: [Vad] = []
  var pages: [UInt64: Page] = [:]

  static let lowestPage = UserAddressSpace.lowest >> 12
  static let endPage = UserAddressSpace.end >> 12
  static let validCodes: Set<UInt8> = [
    1, 2, 3, 4, 6, 9, 10, 11, 12, 14, 0x11, 0x12, 0x13, 0x14, 0x16, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1E,
  ]

  static func grants(_ code: UInt8, _ access: MemoryAccess) -> Bool {
    switch access {
    case .read: return code & 7 != 0
    case .write: return [4, 5, 6, 7].contains(code & 7)
    case .execute: return [2, 3, 6, 7].contains(code & 7)
    }
  }
  static func isGuard(_ code: UInt8) -> Bool { code & 0x18 == 0x10 && code & 7 != 0 }

  func vad(_ page: UInt64) -> Int? { vads.firstIndex { $0.first <= page && page <= $0.last } }

  /// Pages of [base, base + size), or nil.
  static func pages(_ base: UInt64, _ size: UInt64) -> ClosedRange<UInt64>? {
    let (end, wrapped) = base.addingReportingOverflow(size)
    guard size != 0, !wrapped, end <= UserAddressSpace.end else { return nil }
    return (base >> 12)...((end - 1) >> 12)
  }

  mutating func reserve(_ base: UInt64, _ size: UInt64, _ code: UInt8, commit: Bool) -> (Status, UInt64, UInt64) {
    guard size != 0 else { return (.invalidParameter, 0, 0) }
    let start = base == 0 ? UserAddressSpace.lowest : base & ~0xFFFF
    let (end, wrapped) = (base == 0 ? start : base).addingReportingOverflow(size)
    guard !wrapped, start >= UserAddressSpace.lowest, end <= UserAddressSpace.end else {
      return (.invalidParameter, 0, 0)
    }
    guard Self.validCodes.contains(code) else { return (.invalidPageProtection, 0, 0) }
    var first = start >> 12
    let count = (end - 1) >> 12 - first + 1
    if base == 0 {
      var candidate = Self.lowestPage
      for v in vads {
        if v.first >= candidate && v.first - candidate >= count { break }
        candidate = max(candidate, (v.last + 1 + 15) / 16 * 16)
      }
      guard candidate + count <= Self.endPage else { return (.noMemory, 0, 0) }
      first = candidate
    }
    let last = first + count - 1
    if vads.contains(where: { $0.first <= last && first <= $0.last }) { return (.conflictingAddresses, 0, 0) }
    guard vads.count < capacity else { return (.noMemory, 0, 0) }
    vads.append(Vad(first: first, last: last, protection: code))
    vads.sort { $0.first < $1.first }
    if commit { for p in first...last { pages[p] = Page(protection: code, mapped: false) } }
    return (.success, first << 12, count << 12)
  }

  mutating func commit(_ base: UInt64, _ size: UInt64, _ code: UInt8) -> (Status, UInt64, UInt64) {
    if base == 0 { return reserve(0, size, code, commit: true) }
    guard let range = Self.pages(base, size) else { return (.invalidParameter, 0, 0) }
    guard Self.validCodes.contains(code) else { return (.invalidPageProtection, 0, 0) }
    guard let i = vad(range.lowerBound), range.upperBound <= vads[i].last else { return (.conflictingAddresses, 0, 0) }
    for p in range { pages[p] = Page(protection: code, mapped: pages[p]?.mapped ?? false) }
    return (.success, range.lowerBound << 12, UInt64(range.count) << 12)
  }

  /// The VAD and pages a decommit or release works on, or the status refusing it.
  func freeRange(_ base: UInt64, _ size: UInt64) -> (Status, Int, ClosedRange<UInt64>) {
    guard base < UserAddressSpace.end else { return (.invalidParameter, 0, 0...0) }
    var range = (base >> 12)...(base >> 12)
    if size != 0 {
      guard let asked = Self.pages(base, size) else { return (.invalidParameter, 0, 0...0) }
      range = asked
    }
    guard let i = vad(range.lowerBound) else { return (.memoryNotAllocated, 0, 0...0) }
    if size == 0 { return (.success, i, range.lowerBound...vads[i].last) }
    guard range.upperBound <= vads[i].last else { return (.unableToFreeVm, 0, 0...0) }
    return (.success, i, range)
  }

  mutating func decommit(_ base: UInt64, _ size: UInt64) -> (Status, UInt64, UInt64) {
    let (status, _, range) = freeRange(base, size)
    guard status == .success else { return (status, 0, 0) }
    for p in range { pages[p] = nil }
    return (.success, range.lowerBound << 12, UInt64(range.count) << 12)
  }

  mutating func release(_ base: UInt64, _ size: UInt64) -> (Status, UInt64, UInt64) {
    let (status, i, range) = freeRange(base, size)
    guard status == .success else { return (status, 0, 0) }
    let v = vads[i]
    if size == 0 && range.lowerBound != v.first { return (.freeVmNotAtBase, 0, 0) }
    let split = range.lowerBound > v.first && range.upperBound < v.last
    if split && vads.count == capacity { return (.noMemory, 0, 0) }
    for p in range { pages[p] = nil }
    vads.remove(at: i)
    if range.lowerBound > v.first {
      vads.append(Vad(first: v.first, last: range.lowerBound - 1, protection: v.protection))
    }
    if range.upperBound < v.last {
      vads.append(Vad(first: range.upperBound + 1, last: v.last, protection: v.protection))
    }
    vads.sort { $0.first < $1.first }
    return (.success, range.lowerBound << 12, UInt64(range.count) << 12)
  }

  mutating func protect(_ base: UInt64, _ size: UInt64, _ code: UInt8) -> (Status, UInt8) {
    guard let range = Self.pages(base, size) else { return (.invalidParameter, 0) }
    guard Self.validCodes.contains(code) else { return (.invalidPageProtection, 0) }
    guard let i = vad(range.lowerBound), range.upperBound <= vads[i].last else { return (.conflictingAddresses, 0) }
    guard range.allSatisfy({ pages[$0] != nil }) else { return (.notCommitted, 0) }
    let old = pages[range.lowerBound]!.protection
    for p in range { pages[p]!.protection = code }
    return (.success, old)
  }

  mutating func fault(_ address: UInt64, _ access: MemoryAccess) -> FaultResolution {
    guard address >= UserAddressSpace.lowest, address < UserAddressSpace.end, var p = pages[address >> 12] else {
      return .accessViolation
    }
    defer { pages[address >> 12] = p }
    let accessible = p.protection & 7 != 0 && !Self.isGuard(p.protection)
    if p.mapped && accessible && Self.grants(p.protection, access) { return .resolved(.alreadyValid) }
    guard Self.grants(p.protection, access) else { return .accessViolation }
    if Self.isGuard(p.protection) {
      p.protection &= 7
      return .guardPage
    }
    guard !p.mapped else { return .accessViolation }
    p.mapped = true
    return .resolved(.demandZero)
  }
}

/// Problems with the implementation's own invariants: VADs sorted, disjoint,
/// private and in the user half; every nonzero PTE inside a VAD and in a
/// known form; committed counts right; no page leaked.
func invariantProblems(_ harness: Harness) -> [String] {
  var problems: [String] = []
  let vads = harness.vads
  for (i, vad) in vads.enumerated() {
    if vad.startPage > vad.endPage || vad.startPage < Model.lowestPage || vad.endPage >= Model.endPage {
      problems.append("VAD \(i) out of bounds")
    }
    if i > 0 && vads[i - 1].endPage >= vad.startPage {
      problems.append("VADs \(i - 1) and \(i) unsorted or overlapping")
    }
    if vad.type != .private { problems.append("VAD \(i) not private") }
  }
  // The working set heard of exactly the valid PTEs, with their frames.
  let validFrames = harness.backend.ptes.filter { $0.value & 1 != 0 }.mapValues { FakeBackend.frame($0) }
  if harness.backend.workingSet.valid != validFrames {
    problems.append(
      "the working set knows \(harness.backend.workingSet.valid.count) valid pages, the PTEs \(validFrames.count)")
  }
  problems += harness.backend.workingSet.contradictions
  var uncounted = vads.map { $0.isCommittedAtReservation ? Int($0.pageCount) : 0 }
  for (pageNumber, pte) in harness.backend.ptes {
    guard let i = harness.vm.vads.index(containing: pageNumber) else {
      problems.append("PTE \(pte) at page \(pageNumber) outside every VAD")
      continue
    }
    let lazy = vads[i].isCommittedAtReservation
    switch SoftwarePTE(raw: pte) {
    case .valid(let raw):
      let code = ProtectionRules.protection(ofValid: raw)
      if !ProtectionRules.isValidForPrivate(code) || ProtectionRules.reprotect(valid: raw, to: code) != raw {
        problems.append("valid PTE \(raw) at page \(pageNumber) with inconsistent rights")
      }
      if !lazy { uncounted[i] += 1 }
    case .demandZero(let code) where code == PageProtection.decommitted && lazy:
      uncounted[i] -= 1
    case .demandZero(let code) where ProtectionRules.isValidForPrivate(code):
      if !lazy { uncounted[i] += 1 }
    default:
      problems.append("unexpected PTE \(pte) at page \(pageNumber)")
    }
  }
  for (i, vad) in vads.enumerated() where Int(vad.committedPages) != uncounted[i] {
    problems.append("VAD \(i) says \(vad.committedPages) committed, PTEs say \(uncounted[i])")
  }
  return problems + harness.backend.accountingProblems()
}

/// What `query` should say about one page.
struct ExpectedPage: Equatable {
  var state: MemoryState
  var protection: UInt8
  var allocationBase: UInt64
  var allocationProtection: UInt8

  init(state: MemoryState, protection: UInt8, allocationBase: UInt64, allocationProtection: UInt8) {
    (self.state, self.protection) = (state, protection)
    (self.allocationBase, self.allocationProtection) = (allocationBase, allocationProtection)
  }

  init(_ info: MemoryBasicInformation) {
    self.init(
      state: info.state, protection: info.protection, allocationBase: info.allocationBase,
      allocationProtection: info.allocationProtection)
  }
}

/// The model's view of every page of `window`.
func expectedPages(_ model: Model, window: Range<UInt64>) -> [ExpectedPage] {
  let first = window.lowerBound >> 12
  let last = window.upperBound >> 12 - 1
  let free = ExpectedPage(
    state: .free, protection: PageProtection.inaccessible, allocationBase: 0, allocationProtection: 0)
  var pages = Array(repeating: free, count: Int(last - first + 1))
  for vad in model.vads where vad.last >= first && vad.first <= last {
    let reserved = ExpectedPage(
      state: .reserved, protection: 0, allocationBase: vad.first << 12, allocationProtection: vad.protection)
    for p in max(vad.first, first)...min(vad.last, last) { pages[Int(p - first)] = reserved }
  }
  for (p, page) in model.pages where p >= first && p <= last {
    pages[Int(p - first)].state = .committed
    pages[Int(p - first)].protection = page.protection
  }
  return pages
}

/// Differences between the implementation and the model, seen through `query`
/// over the window (every page, and runs that stop where the state changes),
/// the VAD list and which pages are mapped.
func modelDifferences(_ harness: Harness, _ model: Model, window: Range<UInt64>) -> [String] {
  var differences: [String] = []
  let vads = harness.vads.map { Model.Vad(first: $0.startPage, last: $0.endPage, protection: $0.protection) }
  if vads != model.vads { differences.append("VADs \(vads) != model \(model.vads)") }
  let expected = expectedPages(model, window: window)
  let firstInWindow = window.lowerBound >> 12
  var address = window.lowerBound
  while address < window.upperBound {
    let (status, info) = harness.vm.query(address)
    guard status == .success, info.baseAddress == address, info.regionSize > 0 else {
      return differences + ["query(\(address)) = \(status), \(info)"]
    }
    let run = Int(address >> 12 - firstInWindow)..<Int(address >> 12 - firstInWindow + info.regionSize >> 12)
    for i in run.clamped(to: expected.indices) where expected[i] != ExpectedPage(info) {
      return differences + ["page \(firstInWindow + UInt64(i)): query says \(info), model \(expected[i])"]
    }
    if run.upperBound < expected.count, expected[run.upperBound] == expected[run.upperBound - 1] {
      differences.append("run at \(address) stops early")
    }
    address += info.regionSize
  }
  for (p, page) in model.pages where window.contains(p << 12) {
    if (harness.pte(p << 12) & 1 == 1) != page.mapped { differences.append("page \(p) mapped \(!page.mapped)") }
  }
  for (p, pte) in harness.backend.ptes where pte & 1 == 1 && model.pages[p]?.mapped != true {
    differences.append("page \(p) mapped, model says not")
  }
  return differences
}

/// Random operations over a 6 MiB window (three page tables) at the bottom of
/// the user half, with a small VAD table and moments of page shortage.
struct StressRun {
  var random: SeededGenerator
  let harness = Harness(records: 12)
  var model = Model(capacity: 12)
  let windowPages: UInt64 = 0x600
  var window: Range<UInt64> { UserAddressSpace.lowest..<(UserAddressSpace.lowest + windowPages << 12) }
  var counts: [String: Int] = [:]

  init(seed: UInt64) { random = SeededGenerator(state: seed) }

  mutating func roll(_ n: UInt64) -> UInt64 { random.next() % n }

  mutating func address() -> UInt64 {
    switch roll(100) {
    case 0..<3: return 0
    case 3..<5: return 0xFFFF_8000_0000_0000 + roll(64) << 12
    case 5..<7: return UserAddressSpace.end - (1 + roll(3)) << 12
    case 7..<50 where !model.vads.isEmpty:
      let vad = model.vads[Int(roll(UInt64(model.vads.count)))]
      return (vad.first + roll(vad.last - vad.first + 1)) << 12 + (roll(6) == 0 ? roll(0x1000) : 0)
    default: return UserAddressSpace.lowest + roll(windowPages) << 12 + (roll(8) == 0 ? roll(0x1000) : 0)
    }
  }

  mutating func size() -> UInt64 {
    switch roll(100) {
    case 0..<6: return 0
    case 6..<12: return 1 + roll(0x3000)
    case 12..<75: return (1 + roll(16)) << 12
    default: return (17 + roll(1100)) << 12
    }
  }

  mutating func protection() -> UInt8 {
    let valid = Array(Model.validCodes).sorted()
    let invalid: [UInt8] = [0, 5, 7, 8, 0x10, 0x15, 0x0D, 0x20]
    return roll(10) == 0 ? invalid[Int(roll(UInt64(invalid.count)))] : valid[Int(roll(UInt64(valid.count)))]
  }

  /// One random operation, checked against the model; returns what went wrong.
  /// In a moment of shortage (few pages left) an operation that needs pages
  /// may say noMemory where the model succeeds; it must then change nothing.
  mutating func step() -> [String] {
    let tight = roll(5) == 0
    harness.backend.limit = tight ? harness.backend.inUse + (roll(4) == 0 ? 1 : 0) : Int.max
    defer { harness.backend.limit = Int.max }
    let before = harness.snapshot()
    var next = model
    var outcome: Outcome
    switch roll(100) {
    case 0..<14: outcome = reserve(&next)
    case 14..<34: outcome = commit(&next)
    case 34..<44: outcome = decommit(&next)
    case 44..<54: outcome = release(&next)
    case 54..<70: outcome = protect(&next)
    default: outcome = fault(&next)
    }
    counts[String(outcome.label.prefix { $0 != "(" }), default: 0] += 1
    if outcome.ranOut && tight {
      outcome.agrees = true
      next = model
      counts["shortage", default: 0] += 1
    }
    var problems: [String] = outcome.agrees ? [] : ["status: " + outcome.label]
    if !outcome.succeeded && harness.snapshot() != before { problems.append("refused call changed state") }
    model = next
    problems += invariantProblems(harness)
    problems += modelDifferences(harness, model, window: window)
    return problems.isEmpty ? [] : ["after " + outcome.label] + problems
  }

  /// One operation's result next to the model's.
  struct Outcome {
    var label: String
    /// The implementation and the model agree.
    var agrees: Bool
    /// The implementation succeeded (it may have changed state).
    var succeeded: Bool
    /// The implementation said noMemory where the model succeeded.
    var ranOut = false
  }

  mutating func reserve(_ next: inout Model) -> Outcome {
    let base = roll(3) == 0 ? 0 : address() & ~0xFFFF
    let (size, code, commit) = (size(), protection(), roll(3) == 0)
    let got = harness.vm.reserve(base: base, size: size, protection: code, commit: commit)
    let want = next.reserve(base, size, code, commit: commit)
    let label = "reserve(\(base), \(size), \(code), commit: \(commit)) = \(got) want \(want)"
    return Outcome(label: label, agrees: got == want, succeeded: got.status == .success)
  }

  mutating func commit(_ next: inout Model) -> Outcome {
    let (base, size, code) = (address(), size(), protection())
    let got = harness.vm.commit(base: base, size: size, protection: code)
    let want = next.commit(base, size, code)
    let label = "commit(\(base), \(size), \(code)) = \(got) want \(want)"
    return Outcome(
      label: label, agrees: got == want, succeeded: got.status == .success,
      ranOut: got.status == .noMemory && want.0 == .success)
  }

  mutating func decommit(_ next: inout Model) -> Outcome {
    let (base, size) = (address(), size())
    let got = harness.vm.decommit(base: base, size: size)
    let want = next.decommit(base, size)
    let label = "decommit(\(base), \(size)) = \(got) want \(want)"
    return Outcome(
      label: label, agrees: got == want, succeeded: got.status == .success,
      ranOut: got.status == .noMemory && want.0 == .success)
  }

  mutating func release(_ next: inout Model) -> Outcome {
    let pick = roll(2) == 0 && !model.vads.isEmpty
    let base = pick ? model.vads[Int(roll(UInt64(model.vads.count)))].first << 12 : address()
    let size = pick ? 0 : size()
    let got = harness.vm.release(base: base, size: size)
    let want = next.release(base, size)
    let label = "release(\(base), \(size)) = \(got) want \(want)"
    return Outcome(label: label, agrees: got == want, succeeded: got.status == .success)
  }

  mutating func protect(_ next: inout Model) -> Outcome {
    let (base, size, code) = (address(), size(), protection())
    let got = harness.vm.protect(base: base, size: size, protection: code)
    let want = next.protect(base, size, code)
    let label = "protect(\(base), \(size), \(code)) = \(got) want \(want)"
    let agrees = got.status == want.0 && (got.status != .success || got.oldProtection == want.1)
    return Outcome(
      label: label, agrees: agrees, succeeded: got.status == .success,
      ranOut: got.status == .noMemory && want.0 == .success)
  }

  mutating func fault(_ next: inout Model) -> Outcome {
    let address = address()
    let access = [MemoryAccess.read, .write, .execute][Int(roll(3))]
    let got = harness.vm.resolveFault(address, access: access, userMode: true)
    let want = next.fault(address, access)
    let label = "fault(\(address), \(access)) = \(got) want \(want)"
    return Outcome(
      label: label, agrees: got == want, succeeded: got.status.isSuccess || got == .guardPage,
      ranOut: got == .noMemory && want != .accessViolation)
  }
}

extension Model: Equatable {}

@Suite struct StressTests {
  @Test(arguments: [UInt64(1), 0x5EED, 0xC0FF_EE00_1234])
  func seededRandomOperations(seed: UInt64) {
    var run = StressRun(seed: seed)
    for step in 0..<3000 {
      let problems = run.step()
      if !problems.isEmpty {
        Issue.record(Comment(rawValue: "seed \(seed) step \(step):\n" + problems.prefix(8).joined(separator: "\n")))
        return
      }
    }
    // The run must have exercised every path, including refusals and shortages.
    for name in ["reserve", "commit", "decommit", "release", "protect", "fault"] {
      #expect(run.counts[name, default: 0] > 100, "\(name) ran \(run.counts[name, default: 0]) times")
    }
    #expect(
      run.counts["shortage", default: 0] > 10, "refused for want of pages \(run.counts["shortage", default: 0]) times")
    #expect(run.harness.backend.freedPages > 50)
    #expect(run.harness.backend.freedTables > 5)
  }
}
