import GuestABI
import Testing
import X86Paging

@testable import Conformance

/// The case space: its size, its determinism, its inverse, what it contains
/// and what it skips.
@Suite struct PagingSpaceTests {
  /// The counts the PagingSpace documentation states, per leaf size.
  @Test func countsPerLeafSizeMatchTheDocumentation() {
    var perLeaf = [1: 0, 2: 0, 3: 0]
    for section in testSpace.sectionSizes { perLeaf[section.leafLevel, default: 0] += section.count }
    #expect(perLeaf[1] == 1_720_192)
    #expect(perLeaf[2] == 145_280)
    #expect(perLeaf[3] == 79_488)
    #expect(testSpace.count == 1_944_960)
    #expect(testSpace.families.count == 276)
    let pku = testSpace.families.filter { $0.contains("pke") }
    #expect(pku.count == 12)
    let canonical = PagingSpace.canonical(features: testFeatures)
    #expect(canonical.count == 440)
    #expect(canonical.families.count == 6)
  }

  /// The same index is the same case, in any order and in any space built
  /// with the same MAXPHYADDR (whatever the features).
  @Test func caseAtIndexIsDeterministic() {
    let other = PagingSpace.paging(maxPhysicalAddressBits: 48, features: CPUFeatures())
    #expect(other.count == testSpace.count)
    for index in stride(from: testSpace.count - 1, through: 0, by: -7919) {
      #expect(testSpace.case(at: index) == other.case(at: index))
      #expect(testSpace.case(at: index) == testSpace.case(at: index))
    }
  }

  /// `index(of:)` inverts `case(at:)` (so no case appears twice), at every
  /// section boundary and on a sample.
  @Test func indexOfInvertsCaseAt() {
    var boundaries: [Int] = []
    var start = 0
    for section in testSpace.sectionSizes {
      boundaries += [start, start + 1, start + section.count - 1]
      start += section.count
    }
    for index in boundaries + Array(stride(from: 0, to: testSpace.count, by: 997)) {
      let c = testSpace.case(at: index)
      #expect(testSpace.index(of: c) == index, "case \(index): \(c.caseDescription)")
    }
    var moved = testSpace.case(at: 12345)
    moved.twice.toggle()
    #expect(testSpace.index(of: moved) != 12345)
    moved.mutation = 1
    #expect(testSpace.index(of: moved) == nil)
  }

  /// Entries hold flags only: bits 0-11, 63, the reserved bits under test
  /// (13, 21, 48, 51) and the protection key's bit 59; never address bits
  /// the guest would OR over. Levels below the leaf are 0.
  @Test func entriesHoldFlagsOnly() {
    let allowed: UInt64 = 0xFFF | Bit.nx | Bit.r13 | Bit.r21 | Bit.r48 | Bit.r51 | 1 << 59
    for index in stride(from: 0, to: testSpace.count, by: 101) {
      let c = testSpace.case(at: index)
      for level in 1...4 {
        let entry = c.entry(level: level)
        #expect(entry & ~allowed == 0, "\(c.caseDescription)")
        if level < c.leafLevel { #expect(entry == 0) }
      }
      #expect(!c.explicitAddress && c.mutation == 0 && c.invalidation == nil)
      #expect(!c.controls.contains(.alignmentCheck) || c.controls.contains(.smap))
    }
  }

  /// The space leaves every case in the lower half (the runner places it),
  /// and `index(of:)` ignores the half.
  @Test func casesAreInTheLowerHalfAndTheHalfIsNotIdentity() {
    for index in stride(from: 0, to: testSpace.count, by: 10_007) {
      var c = testSpace.case(at: index)
      #expect(!c.upperHalf)
      c.upperHalf = true
      #expect(testSpace.index(of: c) == index)
    }
  }

  /// Consecutive cases share controls in long runs: the guest builds one
  /// block per run, so short runs would cost a CR3 load per case.
  @Test func controlsChangeRarely() {
    var changes = 0
    var previous = testSpace.case(at: 0).controls
    for index in stride(from: 0, to: testSpace.count, by: 1) where index % 64 == 0 {
      let controls = testSpace.case(at: index).controls
      if controls != previous { changes += 1 }
      previous = controls
    }
    // One change per controls value per section at most.
    #expect(changes < 1_500)
  }

  /// What the suite exists for, beyond access.c: SMAP with AC both ways, 1 GiB
  /// leaves with reserved bits 13 and 21, flags and reserved bits at every
  /// level, PS in a PML4E, PKE enumerated.
  @Test func spaceCoversTheLevelsAccessCLeavesOut() {
    let expectedPresent: [PagingCase] = [
      pagingCase(pte: Bit.pwu, controls: [.smap, .alignmentCheck], kind: .write),
      pagingCase(pte: Bit.pwu, controls: [.smap], kind: .read, twice: true),
      pagingCase(pdpte: Bit.pwu | Bit.ps | Bit.r13, leafLevel: 3, controls: [.userMode]),
      pagingCase(pdpte: Bit.pwu | Bit.ps | Bit.r21, leafLevel: 3, controls: [.noExecuteEnable], kind: .fetch),
      pagingCase(pdpte: Bit.p | Bit.u | Bit.ps | Bit.nx, leafLevel: 3, controls: [.noExecuteEnable], kind: .fetch),
      pagingCase(pml4e: Bit.p | Bit.ps, controls: [.userMode], kind: .write),
      pagingCase(pml4e: Bit.p | Bit.u | Bit.r51, controls: [.writeProtect]),
      pagingCase(
        pml4e: Bit.p | Bit.u | Bit.a | Bit.nx, pte: Bit.p | Bit.w | Bit.u, controls: [.userMode, .noExecuteEnable],
        kind: .fetch),
      pagingCase(pdpte: Bit.p | Bit.w | Bit.r48, controls: [.smap]),
      pagingCase(
        pdpte: Bit.p | Bit.a, pde: Bit.pwu | Bit.ps, pte: 0, leafLevel: 2, controls: [.writeProtect], kind: .write),
      pagingCase(
        pml4e: Bit.p | Bit.u | Bit.w | Bit.d, pdpte: Bit.p | Bit.w | Bit.u | Bit.ps, leafLevel: 3,
        controls: [.smap, .alignmentCheck]),
      pagingCase(pde: Bit.pwu | Bit.ps | Bit.r13, leafLevel: 2, controls: [.userMode, .smep]),
    ]
    for c in expectedPresent {
      #expect(testSpace.contains(c), "missing: \(c.caseDescription)")
    }
  }

  /// Features decide what is skipped, never what is enumerated.
  @Test func missingFeaturesSkipWithTheirCPUIDBit() {
    let pke = pagingCase(controls: [.protectionKeys, .noExecuteEnable])
    #expect(testSpace.skipReason(for: pke) == "CPU lacks PKU (CPUID.7.0:ECX[3])")
    #expect(testSpace.skipReason(for: pagingCase(controls: [.smap])) == nil)
    let bare = CPUFeatures()
    #expect(testSpace.skipReason(for: pagingCase(controls: [.smep]), features: bare)?.contains("SMEP") == true)
    #expect(testSpace.skipReason(for: pagingCase(controls: [.smap]), features: bare)?.contains("SMAP") == true)
    #expect(testSpace.skipReason(for: pagingCase(controls: [.noExecuteEnable]), features: bare)?.contains("NX") == true)
    #expect(
      testSpace.skipReason(for: pagingCase(pdpte: Bit.pwu | Bit.ps, leafLevel: 3), features: bare)?.contains("1 GiB")
        == true)
    #expect(testSpace.skipReason(for: pagingCase(), features: bare) == nil)
    var skipped = 0
    for index in 0..<testSpace.count where testSpace.case(at: index).controls.contains(.protectionKeys) { skipped += 1 }
    #expect(skipped == 3_072)
  }

  /// The features the guest reports convert one to one.
  @Test func featuresConvertFromTheGuestsWord() {
    let word: ConformanceFeatures = [.noExecute, .smep, .pages1GiB, .pcid]
    #expect(CPUFeatures(word) == CPUFeatures(smep: true, pages1GiB: true, pcid: true, nx: true))
  }

  /// Families name suite, leaf size, CPL, controls and access kind.
  @Test func familyNamesFollowTheScheme() {
    let c = pagingCase(controls: [.userMode, .writeProtect, .noExecuteEnable, .smep], kind: .read)
    #expect(testSpace.family(of: c) == "paging/4k/cpl3/wp,nxe,smep/read")
    #expect(
      testSpace.family(of: pagingCase(pdpte: Bit.pwu | Bit.ps, leafLevel: 3, kind: .fetch))
        == "paging/1g/cpl0/none/fetch")
    let canonical = PagingSpace.canonical(features: testFeatures)
    #expect(canonical.family(of: canonical.case(at: 0)) == "canonical/cpl3/read")
    #expect(Set(testSpace.families).count == testSpace.families.count)
  }

  /// The canonical space: every non-canonical neighbour of both bases, each
  /// access at both CPLs, and controls that must not fault only for reads
  /// and fetches of what the runner maps.
  @Test func canonicalSpaceHasNonCanonicalNeighboursAndMappedControls() {
    let space = PagingSpace.canonical(features: testFeatures)
    var canonicalControls: [PagingCase] = []
    var flips = Set<UInt64>()
    for index in 0..<space.count {
      let c = space.case(at: index)
      #expect(c.explicitAddress && c.pdpte == 0 && c.pde == 0 && c.pte == 0)
      if PagingMode.fourLevel.isCanonical(c.pml4e) {
        canonicalControls.append(c)
        #expect(c.kind != .write)
      } else {
        flips.insert(c.pml4e)
      }
    }
    #expect(flips.count == 36)
    for bit in 48...63 {
      #expect(flips.contains(UserLayout.codeBase ^ 1 << UInt64(bit)))
      #expect(flips.contains(KernelLayout.virtualBase ^ 1 << UInt64(bit)))
    }
    #expect(canonicalControls.count == 8)
    for c in canonicalControls {
      #expect(c.pml4e == ConformanceABI.userTargetAddress, "the one page the runner maps for them, a RET first")
    }
  }

  /// Another MAXPHYADDR moves the reserved address bit.
  @Test func reservedAddressBitFollowsMaxPhysicalAddress() {
    let narrow = PagingSpace.paging(maxPhysicalAddressBits: 36, features: testFeatures)
    #expect(narrow.contains(pagingCase(pte: Bit.pwu | 1 << 36)))
    #expect(!testSpace.contains(pagingCase(pte: Bit.pwu | 1 << 36)))
    let wide = PagingSpace.paging(maxPhysicalAddressBits: 52, features: testFeatures)
    #expect(wide.count < testSpace.count)
  }
}
