import GuestABI
import Machine
import X86Paging

/// One in-use slot of the guest's control-area table (`GuestABI.ControlAreaRecord`),
/// as the guest wrote it. Nothing here is trusted: the validator's section rules
/// judge it, and `MmState.segment(of:)` checks the segment before anything is read
/// through it.
public struct MmControlArea: Sendable, Hashable {
  /// Index of the slot in the table.
  public var slot: Int
  /// Physical address of the record (what a view's VAD names).
  public var address: UInt64
  /// `ControlAreaFlags` as stored (unknown bits kept).
  public var rawFlags: UInt32
  public var sections: UInt32
  public var mappedViews: UInt32
  public var userReferences: UInt32
  public var pfnReferences: UInt32
  /// The protection code the section was created with.
  public var protection: UInt8
  /// The reserved bytes (21-23 and 52-55), zero in a well-formed record.
  public var reserved: UInt64
  public var sizeBytes: UInt64
  public var segmentPages: UInt64
  /// Physical address of the segment's directory page, 0 once the segment is deleted.
  public var segmentDirectory: UInt64
  public var fileFirstCluster: UInt32
  public var fileSize: UInt64

  public init(
    slot: Int, address: UInt64, rawFlags: UInt32, sections: UInt32 = 0, mappedViews: UInt32 = 0,
    userReferences: UInt32 = 0, pfnReferences: UInt32 = 0, protection: UInt8 = 0, reserved: UInt64 = 0,
    sizeBytes: UInt64 = 0, segmentPages: UInt64 = 0, segmentDirectory: UInt64 = 0, fileFirstCluster: UInt32 = 0,
    fileSize: UInt64 = 0
  ) {
    self.slot = slot
    self.address = address
    self.rawFlags = rawFlags
    self.sections = sections
    self.mappedViews = mappedViews
    self.userReferences = userReferences
    self.pfnReferences = pfnReferences
    self.protection = protection
    self.reserved = reserved
    self.sizeBytes = sizeBytes
    self.segmentPages = segmentPages
    self.segmentDirectory = segmentDirectory
    self.fileFirstCluster = fileFirstCluster
    self.fileSize = fileSize
  }

  /// Decodes the record at the start of `record` (at least `ControlAreaRecord.size` bytes).
  init(slot: Int, address: UInt64, record: UnsafeRawBufferPointer) {
    func u8(_ offset: Int) -> UInt8 { record[offset] }
    func u32(_ offset: Int) -> UInt32 {
      UInt32(littleEndian: record.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    func u64(_ offset: Int) -> UInt64 {
      UInt64(littleEndian: record.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    let reserved =
      UInt64(u8(ControlAreaRecord.reserved21)) | UInt64(u8(ControlAreaRecord.reserved22)) << 8
      | UInt64(u8(ControlAreaRecord.reserved22 + 1)) << 16 | UInt64(u32(ControlAreaRecord.reserved52)) << 24
    self.init(
      slot: slot, address: address, rawFlags: u32(ControlAreaRecord.flags), sections: u32(ControlAreaRecord.sections),
      mappedViews: u32(ControlAreaRecord.mappedViews), userReferences: u32(ControlAreaRecord.userReferences),
      pfnReferences: u32(ControlAreaRecord.pfnReferences), protection: u8(ControlAreaRecord.protection),
      reserved: reserved, sizeBytes: u64(ControlAreaRecord.sizeBytes),
      segmentPages: u64(ControlAreaRecord.segmentPages),
      segmentDirectory: u64(ControlAreaRecord.segmentDirectory),
      fileFirstCluster: u32(ControlAreaRecord.fileFirstCluster), fileSize: u64(ControlAreaRecord.fileSize))
  }

  public var flags: ControlAreaFlags { ControlAreaFlags(rawValue: rawFlags) }
  /// A data section (backed by a file on the FAT volume of disk 0).
  public var isFile: Bool { flags.contains(.file) }
  /// The record's direct-map address: what a file page's subsection PTE (a prototype-format
  /// prototype PTE) names.
  public var virtualAddress: UInt64 { KernelLayout.directMapBase &+ address }
  /// "file" or "pagefile".
  public var kindName: String { isFile ? "file" : "pagefile" }

  /// The flags in words: "in-use file being-deleted reserve", unknown bits in hex.
  public var flagNames: String {
    var names: [String] = []
    let known: [(ControlAreaFlags, String)] = [
      (.inUse, "in-use"), (.file, "file"), (.beingDeleted, "being-deleted"), (.reserve, "reserve"),
    ]
    var rest = rawFlags
    for (flag, name) in known where flags.contains(flag) {
      names.append(name)
      rest &= ~flag.rawValue
    }
    if rest != 0 { names.append(hex(UInt64(rest))) }
    return names.isEmpty ? "none" : names.joined(separator: " ")
  }
}

/// A control area's segment, checked: the directory page and every prototype-PTE page
/// it needs are page-aligned and in guest RAM, and the page count is one the guest can
/// have. Prototype PTEs are read from memory on demand.
public struct MmSegment: Sendable, Hashable {
  /// Physical address of the directory page.
  public var directory: UInt64
  /// Prototype PTEs (pages of the section).
  public var pages: UInt64
  /// Physical address of each prototype-PTE page, in directory order.
  public var prototypePages: [UInt64]

  /// Physical address of section page `page`'s prototype PTE (`page < pages`).
  public func prototypeAddress(_ page: UInt64) -> UInt64 {
    prototypePages[Int(page / SegmentLayout.ptesPerPage)] + (page % SegmentLayout.ptesPerPage) * 8
  }

  /// Direct-map address of section page `page`'s prototype PTE: what view PTEs and PFN records name.
  public func prototypeVirtualAddress(_ page: UInt64) -> UInt64 {
    KernelLayout.directMapBase &+ prototypeAddress(page)
  }

  /// The segment's own pages: the directory, then the prototype-PTE pages.
  public var ownPages: [UInt64] { [directory] + prototypePages }
}

/// Why a segment cannot be read.
public struct SegmentProblem: Error, Sendable, Hashable, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

extension MmState {
  /// The segment of `area`, checked (see `MmSegment`); nil when the segment is
  /// deleted (directory 0), a problem when it cannot be read safely. Reads at most
  /// one directory page, whatever the guest wrote.
  public func segment(of area: MmControlArea) -> Result<MmSegment, SegmentProblem>? {
    let directory = area.segmentDirectory
    guard directory != 0 else { return nil }
    let name = "control area \(area.slot)"
    guard area.segmentPages <= SegmentLayout.maximumPages else {
      return .failure(
        SegmentProblem(
          "\(name) has \(area.segmentPages) segment pages, more than the \(SegmentLayout.maximumPages) a section "
            + "may have"))
    }
    guard directory & 0xFFF == 0, let page = memory.bytes(at: directory, count: 4096) else {
      return .failure(SegmentProblem("\(name)'s segment directory \(hex(directory)) is not a page in guest RAM"))
    }
    let needed = Int(SegmentLayout.prototypePages(for: area.segmentPages))
    var prototypePages: [UInt64] = []
    prototypePages.reserveCapacity(needed)
    for index in 0..<needed {
      let entry = UInt64(littleEndian: page.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
      guard entry != 0, entry & 0xFFF == 0, memory.bytes(at: entry, count: 4096) != nil else {
        return .failure(
          SegmentProblem(
            "\(name)'s segment directory entry \(index) is \(hex(entry)), not a page in guest RAM "
              + "(\(needed) prototype-PTE pages are needed for \(area.segmentPages) pages)"))
      }
      prototypePages.append(entry)
    }
    return .success(MmSegment(directory: directory, pages: area.segmentPages, prototypePages: prototypePages))
  }

  /// The raw prototype PTE of section page `page` (the segment is checked: always in RAM).
  public func prototypePTE(_ segment: MmSegment, _ page: UInt64) -> UInt64 {
    memory.load(UInt64.self, at: segment.prototypeAddress(page)) ?? 0
  }

  /// The in-use control area whose record is at physical address `address`.
  public func controlArea(at address: UInt64) -> MmControlArea? {
    controlAreas.first { $0.address == address }
  }
}
