import GuestABI
import Testing

@testable import GuestMm

@Suite("System-space views (MmMapViewInSystemSpace): 64 KiB pieces of one window, a fixed set of records")
struct SystemViewSpaceTests {
  let piece = SystemViewLayout.granularity

  func plan(_ size: UInt64, offset: UInt64 = 0, protection: UInt8 = PageProtection.readWrite) -> ViewPlan {
    ViewPlan(offset: offset, size: size, protection: protection, commitSize: 0)
  }

  @Test("views take the lowest free run of whole pieces; a freed run is reused, neighbours untouched")
  func placement() throws {
    var space = SystemViewSpace()
    let a = try space.map(controlArea: 0x100, plan: plan(4096)).get()
    let b = try space.map(controlArea: 0x140, plan: plan(piece + 4096, offset: 2 * piece)).get()
    #expect(a.slot == 0 && a.view.base == SystemViewLayout.base && a.view.pages == 1)
    #expect(b.slot == 1 && b.view.base == SystemViewLayout.base + piece && b.view.pages == 17)
    #expect(b.view.sectionPage(of: b.view.base + 3 * 4096 + 5) == 2 * piece / 4096 + 3)
    #expect(space.slot(containing: b.view.base + 17 * 4096 - 1) == 1)
    #expect(space.slot(containing: b.view.base + 17 * 4096) == nil, "past its last page, inside its last piece")
    #expect(space.unmap(slot: 0) == a.view)
    let c = try space.map(controlArea: 0x180, plan: plan(piece)).get()
    #expect(c.slot == 0 && c.view.base == SystemViewLayout.base, "the freed piece")
    let d = try space.map(controlArea: 0x180, plan: plan(piece)).get()
    #expect(d.view.base == SystemViewLayout.base + 3 * piece, "after b's two pieces")
    #expect(space.unmap(slot: 1) == b.view && space.unmap(slot: 1) == nil)
    #expect(space.views.compactMap { $0?.base } == [SystemViewLayout.base, SystemViewLayout.base + 3 * piece])
  }

  @Test("no run long enough, or no free record, is STATUS_NO_MEMORY with nothing changed")
  func exhaustion() throws {
    var space = SystemViewSpace()
    #expect(throws: Status.noMemory) { try space.map(controlArea: 1, plan: plan(SystemViewLayout.size + 4096)).get() }
    let whole = try space.map(controlArea: 1, plan: plan(SystemViewLayout.size)).get()
    #expect(whole.view.pages == 512)
    #expect(throws: Status.noMemory) { try space.map(controlArea: 1, plan: plan(4096)).get() }
    _ = space.unmap(slot: whole.slot)
    for n in 0..<SystemViewLayout.views {
      #expect(try space.map(controlArea: 1, plan: plan(4096)).get().slot == n)
    }
    let before = space.views
    #expect(throws: Status.noMemory) { try space.map(controlArea: 1, plan: plan(4096)).get() }
    #expect(space.views == before)
  }

  @Test("system space picks the address, reserves nothing and maps read-only or read/write kernel PTEs")
  func refusals() {
    let rw = plan(4096)
    #expect(SystemViewSpace.refusal(of: rw, baseAddress: 0, allocationType: 0) == nil)
    #expect(
      SystemViewSpace.refusal(of: plan(4096, protection: PageProtection.readOnly), baseAddress: 0, allocationType: 0)
        == nil)
    #expect(SystemViewSpace.refusal(of: rw, baseAddress: 0x1_0000, allocationType: 0) == .invalidParameter3)
    #expect(
      SystemViewSpace.refusal(of: rw, baseAddress: 0, allocationType: MemoryAllocationType.reserve.rawValue)
        == .invalidParameter9)
    for protection in [PageProtection.writeCopy, PageProtection.executeRead, PageProtection.noAccess] {
      #expect(
        SystemViewSpace.refusal(of: plan(4096, protection: protection), baseAddress: 0, allocationType: 0)
          == .invalidPageProtection)
    }
  }
}
