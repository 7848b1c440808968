import GuestABI
import Inspect
import Machine
import Testing
import X86Paging

private func sectionGuest() -> SyntheticGuest {
  var options = SyntheticGuest.Options()
  options.sections = true
  return SyntheticGuest(options)
}

private func decode(_ guest: SyntheticGuest) -> Result<MmState, MmDecodeError> {
  withExtendedLifetime(guest) {
    do throws(MmDecodeError) {
      return .success(try MmState(memory: guest.memory, debugBlockAddress: guest.debugBlock))
    } catch {
      return .failure(error)
    }
  }
}

@Suite("Sections: decoding control areas, segments and views")
struct SectionDecodingTests {
  @Test("control areas decode as the guest wrote them; free slots are skipped")
  func controlAreas() throws {
    let guest = sectionGuest()
    try guest.withState { state in
      #expect(state.controlAreaSlots == ControlAreaTable.slots)
      let file = try #require(state.controlAreas.first)
      #expect(file.slot == 0 && file.isFile && file.flagNames == "in-use file")
      #expect(file.sections == 1 && file.mappedViews == 4 && file.userReferences == 4 && file.pfnReferences == 3)
      #expect(file.segmentPages == 4 && file.fileSize == UInt64(SectionModel.fileSize))
      #expect(file.fileFirstCluster == TinyFatVolume.fileFirstCluster)
      let segment = try #require(try state.segment(of: file)?.get())
      #expect(segment.prototypePages == [guest.sections.filePrototypes])
      #expect(segment.prototypeVirtualAddress(3) == KernelLayout.directMapBase + guest.sections.filePrototype(3))
      #expect(state.prototypePTE(segment, 0) == guest.sections.fileResident[0]! << 12 | 1)
      let views = state.views().views
      #expect(views.map(\.process) == [1, 1, 2])
      #expect(views[0].controlArea == file.address && views[0].pageCount == 4)
    }
  }

  @Test("a version-1 block (88 bytes) decodes, with no control areas whatever follows it")
  func versionOne() throws {
    let guest = sectionGuest()
    guest.setDebugBlock32(DebugBlock.version, 1)
    guest.setDebugBlock32(DebugBlock.size, UInt32(MmState.firstBlockSize))
    guest.setDebugBlock32(DebugBlock.controlAreaSlots, .max)
    let state = try decode(guest).get()
    #expect(state.controlAreas.isEmpty && state.controlAreaSlots == 0)
  }

  @Test("a control-area table too big, of foreign records or outside RAM is a decode error")
  func tableErrors() throws {
    let cases: [(SyntheticGuest) -> Void] = [
      { $0.setDebugBlock32(DebugBlock.controlAreaSlots, 100_000) },
      { $0.setDebugBlock32(DebugBlock.controlAreaRecordSize, 16) },
      { $0.setDebugBlock64(DebugBlock.controlAreasPhysical, 0x9_F000) },
    ]
    let guests = cases.map { corrupt in
      let guest = sectionGuest()
      corrupt(guest)
      return guest
    }
    let errors = guests.map { guest -> MmDecodeError? in
      if case .failure(let error) = decode(guest) { return error }
      return nil
    }
    #expect(errors[0] == .tooManyControlAreas(count: 100_000, limit: MmState.maxControlAreas))
    #expect(errors[1] == .controlAreaRecordSize(found: 16, expected: ControlAreaRecord.size))
    #expect(errors[2] == .controlAreaTableOutsideMemory(address: 0x9_F000, count: UInt32(ControlAreaTable.slots)))
    #expect(errors.allSatisfy { $0 != nil && !$0!.description.isEmpty })
  }

  @Test("a segment directory outside RAM, or too many pages, is a structure violation, never a read outside")
  func hostileSegments() throws {
    for (field, value) in [
      (ControlAreaRecord.segmentDirectory, UInt64(1) << 40), (ControlAreaRecord.segmentDirectory, 0x10_0008),
      (ControlAreaRecord.segmentPages, UInt64.max), (ControlAreaRecord.segmentPages, SegmentLayout.maximumPages + 1),
    ] {
      let guest = sectionGuest()
      #expect(guest.memory.store(value, at: guest.sections.record(SectionModel.fileSlot) + UInt64(field)))
      let report = try guest.validate()
      #expect(report.countsByRule[.controlAreaStructure] == 1, "\(report.text)")
    }
    // A directory entry naming a page outside RAM.
    let guest = sectionGuest()
    guest.setEntry(guest.sections.fileDirectory, 1 << 45)
    let report = try guest.validate()
    #expect(report.countsByRule[.controlAreaStructure] == 1, "\(report.text)")
  }

  @Test("every control-area field of random bytes: the validation ends with violations, no crash")
  func randomAreas() throws {
    var random = SyntheticGuest.Random(seed: 13)
    for _ in 0..<20 {
      let guest = sectionGuest()
      let table = guest.sections.table
      for offset in stride(from: UInt64(0), to: UInt64(ControlAreaTable.slots * ControlAreaRecord.size), by: 8) {
        guest.setEntry(table + offset, random.next() & (random.next() | 0xFFFF_FFFF_0000_0007))
      }
      _ = try guest.validate()
    }
  }
}
