import GuestABI
import GuestMm
import Testing

/// Physical memory for the database on the host: one buffer, physical
/// address = offset. A broken invariant records its reason and stops the test.
final class BufferMemory: PhysicalMemoryAccess {
  let buffer: UnsafeMutableRawBufferPointer

  init(bytes: Int) {
    buffer = .allocate(byteCount: bytes, alignment: 4096)
    buffer.initializeMemory(as: UInt8.self, repeating: 0xA5)
  }
  deinit { buffer.deallocate() }

  func bytes(at physical: UInt64) -> UnsafeMutableRawPointer {
    precondition(physical < UInt64(buffer.count), "outside the buffer")
    return buffer.baseAddress! + Int(physical)
  }
  func zeroFrame(_ physical: UInt64) { bytes(at: physical).initializeMemory(as: UInt8.self, repeating: 0, count: 4096) }
  func trap(_ function: StaticString, _ reason: StaticString) -> Never { fatalError("\(function): \(reason)") }
  /// The prototype PTE addresses of repurposed section pages, in order.
  var repurposed: [UInt64] = []
  func prototypePageRepurposed(pteAddress: UInt64) { repurposed.append(pteAddress) }
}

/// A database of `pages` records over its own buffer, every page on no list;
/// frames for page tables come after the records.
struct DatabaseFixture {
  let memory: BufferMemory
  let database: PageFrameDatabase<BufferMemory>
  let pages: UInt64

  init(pages: UInt64 = 64) {
    self.pages = pages
    let recordBytes = Int(pages) * PageFrameRecord.size
    let heads = UInt64((recordBytes + 4095) & ~4095)
    memory = BufferMemory(bytes: Int(heads) + 4096 + Int(pages) * 4096)
    database = PageFrameDatabase(
      memory: memory, recordsPhysical: 0, count: pages, headsPhysical: heads, availableCountPhysical: heads + 512)
    database.resetHeads()
    for pfn in 0..<pages {
      let page = database.record(pfn)
      page.clearLinks()
      page.forgetMapping()
      page.shareCount = 0
      page.usage = .general
      page.location = .activeAndValid
    }
  }

  /// The list as its links say, walked forward from the head, checking each back link.
  func walk(_ list: PageLocation) -> [UInt64] {
    var pages: [UInt64] = []
    var previous = PageFrameRecord.noPage
    var next = database.first(list)
    while let pfn = next, pages.count <= Int(self.pages) {
      let page = database.record(pfn)
      #expect(page.previous == previous, "PFN \(pfn)'s back link")
      #expect(page.location == list)
      pages.append(pfn)
      previous = UInt32(pfn)
      next = page.next == PageFrameRecord.noPage ? nil : UInt64(page.next)
    }
    return pages
  }
}

@Suite("The PFN database's lists and accounting (GuestMm), against a model")
struct PageFrameDatabaseTests {
  static let lists: [PageLocation] = [.zeroed, .free, .standby, .modified]

  @Test("random inserts and removes: links, totals and the available count match the model", arguments: [1, 2, 3])
  func listsMatchTheModel(seed: UInt64) {
    let fixture = DatabaseFixture()
    var model: [PageLocation: [UInt64]] = [:]
    var onNoList = Set(0..<fixture.pages)
    var state = seed
    func random(_ bound: Int) -> Int {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int((state >> 33) % UInt64(bound))
    }
    for _ in 0..<2000 {
      let list = Self.lists[random(Self.lists.count)]
      if random(2) == 0, !onNoList.isEmpty {
        let pfn = onNoList.sorted()[random(onNoList.count)]
        fixture.database.insertTail(pfn, into: list)
        model[list, default: []].append(pfn)
        onNoList.remove(pfn)
      } else if let pages = model[list], !pages.isEmpty {
        let pfn = pages[random(pages.count)]
        fixture.database.remove(pfn)
        model[list]!.removeAll { $0 == pfn }
        onNoList.insert(pfn)
        #expect(fixture.database.record(pfn).next == PageFrameRecord.noPage)
      }
    }
    for list in Self.lists {
      #expect(fixture.walk(list) == (model[list] ?? []), "\(list)")
      #expect(fixture.database.total(list) == UInt64(model[list]?.count ?? 0))
    }
    let available = [PageLocation.zeroed, .free, .standby].reduce(0) { $0 + (model[$1]?.count ?? 0) }
    #expect(fixture.database.availableCount == UInt64(available))
    #expect(fixture.database.availablePages == UInt64(available))
  }

  @Test("allocation: a zeroed page from the zeroed list, else a free one zeroed; any page free first")
  func allocationOrder() {
    let fixture = DatabaseFixture(pages: 8)
    fixture.database.insertTail(1, into: .free)
    fixture.database.insertTail(2, into: .zeroed)
    fixture.database.insertTail(3, into: .free)
    #expect(fixture.database.allocatePage(zeroed: false) == 1)
    #expect(fixture.database.allocatePage(zeroed: true) == 2)
    fixture.memory.bytes(at: 3 << 12).storeBytes(of: UInt64.max, as: UInt64.self)
    #expect(fixture.database.allocatePage(zeroed: true) == 3)
    #expect(fixture.memory.bytes(at: 3 << 12).load(as: UInt64.self) == 0, "a free page is zeroed for a zeroed request")
    #expect(fixture.database.allocatePage(zeroed: false) == nil)
    let page = fixture.database.record(3)
    #expect(page.location == .activeAndValid && page.shareCount == 0 && page.referenceCount == 1)
    #expect(fixture.database.availableCount == 0)
  }

  @Test("mappings: share and reference counts follow the PTEs; the last one frees the page")
  func mappings() {
    let fixture = DatabaseFixture(pages: 8)
    let database = fixture.database
    database.addMapping(5, pteAddress: 0xFFFF_F6FB_7DBE_D000, table: 6)
    database.addMapping(5, pteAddress: 0xFFFF_F6FB_7DBE_D008, table: 6)
    let page = database.record(5)
    #expect(page.shareCount == 2 && page.referenceCount == 2)
    #expect(page.pteAddress == 0xFFFF_F6FB_7DBE_D008 && page.pteFrame == 6)
    #expect(database.removeMapping(5) == false)
    #expect(page.shareCount == 1 && page.location == .activeAndValid)
    #expect(database.removeMapping(5) == true)
    #expect(page.shareCount == 0 && page.referenceCount == 0 && page.pteAddress == 0)
    #expect(page.pteFrame == PageFrameRecord.noPage && page.location == .free)
    #expect(fixture.walk(.free) == [5])
  }

  @Test("page tables: labelled with their nonzero entries counted, live entries adjusted, freed when empty")
  func pageTables() {
    let fixture = DatabaseFixture(pages: 8)
    let database = fixture.database
    let frame = fixture.memory.bytes(at: 7 << 12)
    frame.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
    for index in [0, 9, 511] {
      frame.storeBytes(of: UInt64(0x1000 * index | 1), toByteOffset: index * 8, as: UInt64.self)
    }
    frame.storeBytes(of: UInt64(0x2_0000), toByteOffset: 100 * 8, as: UInt64.self)  // a software PTE counts too
    database.labelPageTable(7, pteAddress: 0xFFFF_F6FB_7DBE_D038, parent: 2, owner: 3)
    let table = database.record(7)
    #expect(table.usage == .pageTable && table.location == .activeAndValid && table.owner == 3)
    #expect(database.liveEntries(7) == 4 && table.pteFrame == 2)
    database.adjustLiveEntries(7, by: -4)
    #expect(database.liveEntries(7) == 0)
    database.freePageTable(7)
    #expect(table.usage == .general && table.owner == 0 && fixture.walk(.free) == [7])
  }

  @Test("each field of a record is where GuestABI says")
  func fieldsAtTheirOffsets() {
    let fixture = DatabaseFixture(pages: 2)
    let page = fixture.database.record(1)
    let base = page.bytes
    page.pteAddress = 0x1122_3344_5566_7788
    page.originalPTE = 0x99
    page.workingSetIndex = 0x1234
    page.owner = 0x42
    page.usage = .pageTable
    page.flags = 0x5
    #expect(base.load(fromByteOffset: PageFrameRecord.pteAddress, as: UInt64.self) == 0x1122_3344_5566_7788)
    #expect(base.load(fromByteOffset: PageFrameRecord.originalPTE, as: UInt64.self) == 0x99)
    #expect(base.load(fromByteOffset: PageFrameRecord.workingSetIndex, as: UInt32.self) == 0x1234)
    #expect(base.load(fromByteOffset: PageFrameRecord.owner, as: UInt16.self) == 0x42)
    #expect(base.load(fromByteOffset: PageFrameRecord.usage, as: UInt8.self) == PageUsage.pageTable.rawValue)
    #expect(base.load(fromByteOffset: PageFrameRecord.flags, as: UInt8.self) == 0x5)
    #expect(fixture.database.record(0).bytes + PageFrameRecord.size == base)
  }
}

@Suite("The VAD table names its layout")
struct VadTableLayoutTests {
  @Test("format writes the version and record size; a record's view fields round-trip")
  func headerAndViewFields() {
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)
    defer { bytes.deallocate() }
    bytes.initializeMemory(as: UInt8.self, repeating: 0xEE)
    let table = VadTableView.format(bytes.baseAddress!, byteCount: 4096)
    #expect(bytes.load(fromByteOffset: VadTable.version, as: UInt16.self) == VadTable.currentVersion)
    #expect(bytes.load(fromByteOffset: VadTable.recordSize, as: UInt16.self) == UInt16(VadRecord.size))
    #expect(table.capacity == (4096 - VadTable.headerSize) / VadRecord.size)
    #expect(
      table.insert(
        VadEntry(
          startPage: 0x10, endPage: 0x1F, protection: 2, type: .mapped,
          controlArea: 0xABC000, sectionOffsetPages: 5), at: 0))
    #expect(table[0].controlArea == 0xABC000 && table[0].sectionOffsetPages == 5)
    #expect(bytes.load(fromByteOffset: VadTable.headerSize + VadRecord.reserved, as: UInt64.self) == 0)
  }
}
