import Foundation
import Testing

@Suite("mmlab sections")
struct SectionsCLITests {
  @Test("a bad format or a missing core is a clear message and a non-zero exit")
  func badArguments() throws {
    let format = try MMLabProcess.run(["sections", "--format", "xml"])
    #expect(format.status == 64)
    #expect(format.standardError.contains("xml"), "\(format.standardError)")
    let core = try MMLabProcess.run(["sections", "--core", "/nonexistent/mm.core"])
    #expect(core.status != 0)
    #expect(core.standardError.contains("/nonexistent/mm.core"), "\(core.standardError)")
    let both = try MMLabProcess.run(["sections", "--core", "/nonexistent/mm.core", "--checkpoint", "booted"])
    #expect(both.status == 64)
    #expect(both.standardError.contains("exclude each other"), "\(both.standardError)")
  }

  @Test(
    "a guest with no sections: an empty list, live and from a core, exit 0",
    .enabled(if: BootingCLITests.enabled, "/dev/kvm is not usable here"))
  func noSections() throws {
    let live = try MMLabProcess.run(["sections", "--format", "json"])
    #expect(live.status == 0, "\(live.standardError)")
    let json = try live.json()
    #expect((json["controlAreas"] as? [Any])?.isEmpty == true, "\(live.standardOutput)")
    #expect((json["strayViews"] as? [Any])?.isEmpty == true)
    let text = try MMLabProcess.run(["sections"])
    #expect(text.status == 0, "\(text.standardError)")
    #expect(text.standardOutput.contains("0 control areas"), "\(text.standardOutput)")

    let core = temporaryPath("sections.core")
    defer { try? FileManager.default.removeItem(atPath: core) }
    let written = try MMLabProcess.run(["dump-core", "--out", core])
    #expect(written.status == 0, "\(written.standardError)")
    let fromCore = try MMLabProcess.run(["sections", "--core", core, "--format", "json"])
    #expect(fromCore.status == 0, "\(fromCore.standardError)")
    #expect((try fromCore.json()["controlAreas"] as? [Any])?.isEmpty == true)
  }
}
