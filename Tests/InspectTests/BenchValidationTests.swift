import GuestABI
import Inspect
import Testing
import X86Paging

/// The bench quotes its validation figure only for a clean guest in a realistic state.
@Suite("Bench validation: clean and realistic, or refused")
struct BenchValidationTests {
  /// A synthetic guest with what the bench requires: 3 processes, 2,104 valid leaf PTEs,
  /// 1,100 of 4,096 PFNs zeroed.
  static func realisticGuest(processes: Int = 3) -> SyntheticGuest {
    var options = SyntheticGuest.Options()
    options.ramBytes = 16 << 20
    options.processCount = processes
    options.userPagesPerProcess = 2_100 / processes
    options.zeroedPages = 1_100
    return SyntheticGuest(options)
  }

  /// What the bench's check makes of `guest`.
  static func check(_ guest: SyntheticGuest) throws -> Result<ValidationState, BenchmarkError> {
    try guest.withState { state in
      Result { () throws(BenchmarkError) in
        try BenchmarkReport.requireRealisticCleanState(MmValidator(state: state).validate(), state: state)
      }
    }
  }

  @Test("a clean, realistic guest passes with its figures")
  func realisticPasses() throws {
    let figures = try Self.check(Self.realisticGuest()).get()
    #expect(figures == ValidationState(processes: 3, validLeafPTEs: 2_104, zeroedPages: 1_100, pfns: 4_096))
  }

  @Test("a nonzero byte in a zeroed page is refused, the violation named")
  func plantedViolationRefused() throws {
    let guest = Self.realisticGuest()
    let page = guest.lists[Int(PageLocation.zeroed.rawValue)][10]
    guest.poke(pfn: page, offset: 0x80, 0x5A)
    guard case .failure(let error) = try Self.check(guest) else {
      Issue.record("a dirty zeroed page passed the bench's check")
      return
    }
    guard case .validationNotClean(let count, let first) = error else {
      Issue.record("refused for the wrong reason: \(error)")
      return
    }
    #expect(count == 1)
    #expect(first.map(\.rule) == [.zeroedPageNotZero] && first.first?.pfn == page)
    #expect(error.description.contains("[zeroed-page-not-zero] PFN \(hex(page))"), "\(error)")
  }

  @Test("a small guest is refused, each shortfall named")
  func smallGuestRefused() throws {
    // The default synthetic guest: 2 processes, 4 + 8 valid PTEs, 8 of 1,024 PFNs zeroed.
    let result = try Self.check(SyntheticGuest())
    guard case .failure(.stateNotRealistic(let shortfalls)) = result else {
      Issue.record("a small guest was not refused as unrealistic: \(result)")
      return
    }
    #expect(
      shortfalls == [
        "valid leaf PTEs: 12 (at least \(BenchmarkReport.minimumValidLeafPTEs) needed)",
        "zeroed pages: 8 (at least a quarter of the 1024 PFNs, 256, needed)",
      ])
  }

  @Test("a guest with one process is refused for that alone")
  func oneProcessRefused() throws {
    let result = try Self.check(Self.realisticGuest(processes: 1))
    guard case .failure(.stateNotRealistic(let shortfalls)) = result else {
      Issue.record("a one-process guest was not refused: \(result)")
      return
    }
    #expect(shortfalls == ["processes: 1 (at least \(BenchmarkReport.minimumValidationProcesses) needed)"])
  }

  @Test("the validation guest's command line: a third of RAM zeroed by the boot pass")
  func commandLine() {
    #expect(BenchmarkReport.validationCommandLine(memoryMiB: 1024) == ["mm.zeroed=87381"])
  }
}
