import GuestABI
import Inspect
import Machine
import Script
import Testing

/// The guest `mmlab bench` times its validation on: booted for real, at the bench's size.
@Suite("The bench's validation guest", .enabled(if: BootingTests.enabled, BootingTests.reason))
struct BenchValidationGuestTests {
  @Test("ends the generated stress script clean and realistic; a dirty zeroed page planted in it is refused by name")
  func realisticCleanAndRefusesAPlantedViolation() throws {
    var options = BootOptions(memoryMiB: BenchmarkReport.validationMemoryMiB)
    options.timeoutSeconds = 60
    let snapshot = try BenchValidationGuest.boot(options)
    let state = try ScenarioValidation.state(of: snapshot)
    let figures = try BenchmarkReport.requireRealisticCleanState(
      try ScenarioValidation.validate(snapshot), state: state)
    #expect(figures.processes == 3)
    #expect(figures.validLeafPTEs >= 3 * Int(BenchmarkReport.validationResidentPages))
    #expect(figures.zeroedPages >= figures.pfns / 4 && figures.pfns == 262_144)

    let page = UInt64(try #require(state.listHead(.zeroed)).last)
    #expect(snapshot.memory.store(UInt8(0x77), at: page << 12 + 0xFFF))
    #expect {
      try BenchmarkReport.requireRealisticCleanState(try ScenarioValidation.validate(snapshot), state: state)
    } throws: { error in
      guard case .validationNotClean(1, let first) = error as? BenchmarkError else { return false }
      return first.first?.rule == .zeroedPageNotZero && first.first?.pfn == page
    }
  }
}
