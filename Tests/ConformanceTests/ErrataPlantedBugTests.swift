import GuestABI
import Testing
import X86Paging

@testable import Conformance

/// For each bundled erratum, a bug next to what it documents that it must
/// not hide: planted on the documented platform, the run fails on exactly the
/// cases the bug changed.
@Suite("Bugs the bundled errata must not hide")
struct ErrataPlantedBugTests {
  static let errata = try! Errata.bundled

  /// Runs `suite` on `platform` with `bug` over the cases `only` selects, and
  /// expects every changed case, and nothing else, to fail.
  func expectCaught(
    _ bug: DocumentedPlatform.Bug, on platform: DocumentedPlatform, _ suite: ConformanceSuite,
    only: ((PagingCase) -> Bool)? = nil, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    var planted = platform
    planted.bug = bug
    let run = planted.run(suite, errata: Self.errata, only: only)
    #expect(run.planted > 0, "\(bug.name): the bug changed nothing", sourceLocation: sourceLocation)
    #expect(run.failed == run.planted, "\(bug.name): \(run.failedFamilies)", sourceLocation: sourceLocation)
  }

  /// The bug: `change` applied to the observation of the cases `when` selects.
  static func bug(
    _ name: String, when: @escaping @Sendable (PagingCase, Observation) -> Bool,
    _ change: @escaping @Sendable (PagingCase, inout Observation) -> Void
  ) -> DocumentedPlatform.Bug {
    DocumentedPlatform.Bug(name: name) { c, observed, _ in
      guard when(c, observed) else { return false }
      change(c, &observed)
      return true
    }
  }

  static func upperHalfUser(_ c: PagingCase) -> Bool { c.upperHalf && c.controls.contains(.userMode) }

  // MARK: pvm-upper-half-user-first-access

  @Test("kvm-pvm: a spurious fault on a later upper-half user access fails")
  func pvmLaterUpperHalfFault() {
    let bug = Self.bug(
      "later upper-half fault",
      when: { c, o in
        Self.upperHalfUser(c) && !o.events.contains(.firstUserUpperHalfAccess)
      }
    ) { _, o in o.attempts[0] = AttemptOutcome(vector: 14, errorCode: 4, faultAddress: o.linearAddress) }
    expectCaught(bug, on: .pvm, .paging, only: Self.upperHalfUser)
  }

  @Test("kvm-pvm: the first upper-half user access faulting another way fails")
  func pvmFirstUpperHalfOtherFault() {
    let bug = Self.bug(
      "first upper-half fault with P set",
      when: { _, o in
        o.events.contains(.firstUserUpperHalfAccess)
      }
    ) { _, o in o.attempts[0].errorCode = 5 }
    expectCaught(bug, on: .pvm, .paging, only: Self.upperHalfUser)
    let dirty = Self.bug(
      "first upper-half fault that also clears D",
      when: { c, o in
        o.events.contains(.firstUserUpperHalfAccess) && c.kind == .read
      }
    ) { _, o in o.finalEntries[3] &= ~PagingAlphabets.dirty }
    expectCaught(dirty, on: .pvm, .paging, only: Self.upperHalfUser)
  }

  // MARK: tcg-1g-rsvd-leaf-accessed

  @Test("qemu-tcg: a successful 1 GiB access that leaves PDPTE.A clear fails")
  func tcgLargeLeafAccessedDropped() {
    let bug = Self.bug(
      "no A on a completed 1 GiB access",
      when: { c, o in
        c.leafLevel == 3 && o.attempts.allSatisfy { $0.vector == nil }
      }
    ) { _, o in o.finalEntries[1] &= ~PagingAlphabets.accessed }
    expectCaught(bug, on: .tcg, .paging, only: { $0.leafLevel == 3 && $0.pdpte & PagingAlphabets.accessed == 0 })
  }

  @Test("qemu-tcg: A set on a 1 GiB leaf whose reserved bit is an address bit fails")
  func tcgLargeLeafAccessedOnAddressBit() {
    let bug = Self.bug(
      "A on a 1 GiB leaf with bit 51",
      when: { c, o in
        c.leafLevel == 3 && c.pdpte & (1 << 51) != 0 && o.finalEntries[0] & PagingAlphabets.accessed != 0
          && o.finalEntries[1] & PagingAlphabets.accessed == 0
      }
    ) { _, o in o.finalEntries[1] |= PagingAlphabets.accessed }
    expectCaught(bug, on: .tcg, .paging, only: { $0.leafLevel == 3 })
  }

  @Test("qemu-tcg: A set on a 2 MiB leaf with reserved bit 13 fails")
  func tcgMiddleLeafAccessed() {
    let bug = Self.bug(
      "A on a 2 MiB leaf with bit 13",
      when: { c, o in
        c.leafLevel == 2 && c.pde & (1 << 13) != 0 && o.finalEntries[1] & PagingAlphabets.accessed != 0
          && o.finalEntries[2] & PagingAlphabets.accessed == 0
      }
    ) { _, o in o.finalEntries[2] |= PagingAlphabets.accessed }
    expectCaught(bug, on: .tcg, .paging, only: { $0.leafLevel == 2 && $0.kind == .read })
  }

  // MARK: tcg-rsvd-fault-clears-p

  @Test("qemu-tcg: P cleared on a fault that is not a reserved-bit fault fails")
  func tcgPresentClearedOnRightsFault() {
    let bug = Self.bug(
      "P cleared on a rights fault",
      when: { _, o in
        o.attempts.contains { $0.vector == 14 && $0.errorCode & 0x9 == 0x1 }
      }
    ) { _, o in
      for n in o.attempts.indices where o.attempts[n].vector == 14 { o.attempts[n].errorCode &= ~1 }
    }
    expectCaught(bug, on: .tcg, .paging, only: { $0.leafLevel == 2 && $0.kind == .write })
  }

  @Test("qemu-tcg: a reserved-bit fault that also loses W fails")
  func tcgReservedFaultLosesWrite() {
    let bug = Self.bug(
      "RSVD fault without W",
      when: { _, o in
        o.attempts.contains { $0.vector == 14 && $0.errorCode & 0xA == 0xA }
      }
    ) { _, o in
      for n in o.attempts.indices where o.attempts[n].vector == 14 { o.attempts[n].errorCode &= ~2 }
    }
    expectCaught(bug, on: .tcg, .paging, only: { $0.leafLevel == 1 && $0.kind == .write })
  }

  // MARK: control writes

  /// Every CPL 0 write the model refuses and no erratum of `platform` names,
  /// taken: each must fail alone (LA57 in IA-32e mode, the reserved bits no
  /// erratum lists, feature-gated bits on a CPU without the feature).
  func expectUndocumentedWritesCaught(on platform: DocumentedPlatform, atLeast: Int) {
    let controls = platform.suite(.controls) as! ControlsSuite
    let undocumented = (0..<controls.writes.count).map { controls.case(at: $0) }.filter { c in
      !controls.expectedAllowed(c) && Self.errata.skipping(c, platform: platform.name) == nil
        && Self.errata.erratum(for: c, differences: [.noFault], platform: platform.name) == nil
    }
    #expect(undocumented.count >= atLeast, "\(platform.name): \(undocumented.map(controls.describe))")
    for write in undocumented {
      let bug = Self.bug("\(controls.describe(write)) taken", when: { c, _ in c == write }) { _, o in
        o.attempts = [.completed]
      }
      expectCaught(bug, on: platform, .controls)
    }
    let user = Self.bug(
      "a documented write taken at CPL 3",
      when: { c, _ in
        var supervisor = c
        supervisor.controls.remove(.userMode)
        return c.controls.contains(.userMode)
          && Self.errata.erratum(for: supervisor, differences: [.noFault], platform: platform.name) != nil
      }
    ) { _, o in o.attempts = [.completed] }
    expectCaught(user, on: platform, .controls)
  }

  @Test("kvm-pvm: a refused control write no erratum names, taken, fails")
  func pvmUndocumentedWrites() { expectUndocumentedWritesCaught(on: .pvm, atLeast: 8) }

  /// Under TCG that leaves LA57: every other refused write is an erratum.
  @Test("qemu-tcg: a refused control write no erratum names, taken, fails")
  func tcgUndocumentedWrites() { expectUndocumentedWritesCaught(on: .tcg, atLeast: 1) }

  @Test("qemu-tcg: a feature-gated write taken on a CPU without the feature fails (a feature-detection bug)")
  func tcgFeatureGatedWrites() {
    var lacking = DocumentedPlatform.tcg
    lacking.capabilities.features.subtract([.smep, .smap, .protectionKeys, .globalPages])
    for bit: UInt64 in [1 << 20, 1 << 21, 1 << 22, 1 << 7] {
      let bug = Self.bug(
        "CR4 bit \(bit.trailingZeroBitCount) taken without its CPUID bit",
        when: { c, _ in
          c.controlWrite && c.pdpte == ConformanceRegister.cr4.rawValue && c.pde == bit
            && !c.controls.contains(.userMode)
        }
      ) { _, o in o.attempts = [.completed] }
      expectCaught(bug, on: lacking, .controls)
    }
  }
}
