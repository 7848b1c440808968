import GuestABI
import X86Paging

@testable import Conformance

/// The platform the suites target: MAXPHYADDR 48, 4-level paging, no PKU,
/// no LA57, 1 GiB pages.
let testMaxPhysicalAddressBits = 48
/// A target page below 1 GiB, as the guest's runner reports one.
let testTarget: UInt64 = 0x0123_4000
let testFeatures = CPUFeatures(smep: true, smap: true, pku: false, la57: false, pages1GiB: true, pcid: true, nx: true)
let testSpace = PagingSpace.paging(maxPhysicalAddressBits: testMaxPhysicalAddressBits, features: testFeatures)
let testOracle = PagingOracle(
  maxPhysicalAddressBits: testMaxPhysicalAddressBits, features: testFeatures, targetPhysical: testTarget)

/// Entry flag bits, spelled out so tests read like the SDM.
enum Bit {
  static let p: UInt64 = 1 << 0
  static let w: UInt64 = 1 << 1
  static let u: UInt64 = 1 << 2
  static let a: UInt64 = 1 << 5
  static let d: UInt64 = 1 << 6
  static let ps: UInt64 = 1 << 7
  static let nx: UInt64 = 1 << 63
  static let r13: UInt64 = 1 << 13
  static let r21: UInt64 = 1 << 21
  static let r48: UInt64 = 1 << 48
  static let r51: UInt64 = 1 << 51
  static let pwu: UInt64 = p | w | u
}

/// A paging case with upper levels P W U unless given.
func pagingCase(
  pml4e: UInt64 = Bit.pwu, pdpte: UInt64 = Bit.pwu, pde: UInt64 = Bit.pwu, pte: UInt64 = Bit.pwu, leafLevel: Int = 1,
  controls: ConformanceControls = [], kind: ConformanceAccessKind = .read, twice: Bool = false
) -> PagingCase {
  PagingCase(
    pml4e: pml4e, pdpte: leafLevel > 3 ? 0 : pdpte, pde: leafLevel > 2 ? 0 : pde, pte: leafLevel > 1 ? 0 : pte,
    leafLevel: leafLevel, controls: controls, kind: kind, twice: twice)
}

/// The model's prediction for `c` at block slot 3 (lower half) or 259 (upper).
func predicted(_ c: PagingCase) -> Prediction {
  testOracle.predict(c, linearAddress: testOracle.linearAddress(of: c, slot: c.upperHalf ? 259 : 3))
}

/// The first attempt's vector and error code, nil vector for completion.
func firstOutcome(_ c: PagingCase) -> (vector: UInt32?, errorCode: UInt32) {
  let attempt = predicted(c).attempts[0]
  return (attempt.vector, attempt.errorCode)
}
