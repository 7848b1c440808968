import Testing

@testable import GuestMm

@Suite("Cc's views (VACBs): 256 KiB windows, reused least recently used first")
struct CacheViewsTests {
  let view = CacheViews.viewSize

  @Test("an offset inside a mapped view finds it; another window maps a free slot")
  func hitsAndFreeSlots() {
    var cache = CacheViews(capacity: 2)
    let a = cache.acquire(section: 1, offset: 5000)
    #expect(a == .mapNew(slot: 0, evicting: nil))
    let b = cache.acquire(section: 1, offset: view - 1)
    #expect(b == .mapped(slot: 0), "the same 256 KiB window")
    let c = cache.acquire(section: 1, offset: view)
    #expect(c == .mapNew(slot: 1, evicting: nil))
    #expect(cache.views[0].offset == 0 && cache.views[1].offset == view && cache.views[0].active == 2)
  }

  @Test("with no free slot the least recently used idle view is reused; active ones never are")
  func reuse() {
    var cache = CacheViews(capacity: 2)
    _ = cache.acquire(section: 1, offset: 0)
    _ = cache.acquire(section: 1, offset: view)
    let full = cache.acquire(section: 2, offset: 0)
    #expect(full == .exhausted, "both views are in use")
    let released0 = cache.release(slot: 0)
    let released1 = cache.release(slot: 1)
    #expect(released0 && released1)
    let again = cache.acquire(section: 1, offset: view)  // slot 1 is now the most recent
    #expect(again == .mapped(slot: 1))
    _ = cache.release(slot: 1)
    let reused = cache.acquire(section: 2, offset: 3 * view)
    #expect(reused == .mapNew(slot: 0, evicting: (section: 1, offset: 0)))
    #expect(!cache.release(slot: 5) && cache.release(slot: 0) && !cache.release(slot: 0))
  }

  @Test("dropping a file's views fails while one is in use, then frees every slot of it")
  func drop() {
    var cache = CacheViews(capacity: 3)
    _ = cache.acquire(section: 1, offset: 0)
    _ = cache.acquire(section: 1, offset: view)
    _ = cache.acquire(section: 2, offset: 0)
    _ = cache.release(slot: 0)
    let busy = cache.drop(section: 1)
    #expect(busy == nil)
    #expect(cache.views[0].section == 1, "nothing changed")
    _ = cache.release(slot: 1)
    let dropped = cache.drop(section: 1)
    #expect(dropped == [0, view])
    #expect(cache.views[0].section == nil && cache.views[1].section == nil && cache.views[2].section == 2)
  }
}
