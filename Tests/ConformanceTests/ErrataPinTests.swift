import Foundation
import GuestABI
import Testing

@testable import Conformance

/// Every bundled erratum matches exactly the cases pinned in ErrataPins.swift,
/// per platform, suite and family, on the platform as its errata describe it
/// (the model plus the documented deviations, no boot), over the whole case
/// space. A change to an erratum, to the case space or to the judge that
/// widens or narrows what an erratum excuses shows here first.
@Suite("What each bundled erratum matches")
struct ErrataPinTests {
  static let errata = try! Errata.bundled
  static let platforms = [DocumentedPlatform.pvm, .tcg]

  @Test("each erratum matches its pinned cases per family, and nothing else fails", arguments: platforms)
  func pinned(_ platform: DocumentedPlatform) {
    var matched: [String: [String: Int]] = [:]
    var skips: [String: Int] = [:]
    for suite in [ConformanceSuite.paging, .canonical, .tlb, .controls] {
      let run = platform.run(suite, errata: Self.errata)
      #expect(run.failedFamilies.isEmpty, "\(platform.name) \(suite): \(run.failedFamilies)")
      matched.merge(run.matched) { $0.merging($1, uniquingKeysWith: +) }
      skips.merge(run.skippedByErratum(Self.errata), uniquingKeysWith: +)
    }
    let pinned = pinnedErrata[platform.name] ?? [:]
    #expect(Set(matched.keys) == Set(pinned.keys), "\(platform.name)")
    for (erratum, families) in pinned {
      #expect(matched[erratum] == families, "\(platform.name) \(erratum)")
    }
    #expect(skips == pinnedSkips[platform.name] ?? [:])
  }

  /// What each erratum's conditions on the case select: a condition dropped
  /// or widened changes this even where the documented platform's results
  /// stay the same (an earlier erratum may already explain those cases).
  @Test("each erratum's case conditions select the pinned number of cases", arguments: platforms)
  func candidates(_ platform: DocumentedPlatform) {
    let found = platform.candidates(Self.errata)
    #expect(found == pinnedCandidates[platform.name] ?? [:])
  }

  @Test("every bundled erratum is pinned, and only bundled ones are")
  func everyErratumIsPinned() {
    for erratum in Self.errata.errata {
      let pins =
        erratum.skip
        ? pinnedSkips[erratum.platform]?[erratum.id] : pinnedErrata[erratum.platform]?[erratum.id]?.values.reduce(0, +)
      #expect((pins ?? 0) > 0, "\(erratum.id) is not pinned")
    }
    let ids = Set(Self.errata.errata.map(\.id))
    for (_, errata) in pinnedErrata { #expect(Set(errata.keys).isSubset(of: ids)) }
    for (_, errata) in pinnedSkips { #expect(Set(errata.keys).isSubset(of: ids)) }
  }
}

extension DocumentedPlatform: CustomTestStringConvertible {
  var testDescription: String { name }
}
