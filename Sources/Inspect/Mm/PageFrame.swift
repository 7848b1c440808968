import GuestABI
import X86Paging

/// One decoded PFN database record (`GuestABI.PageFrameRecord`). The guest is
/// hostile input, so the location and usage are kept as the raw bytes; the typed
/// accessors are nil for values no `PageLocation`/`PageUsage` has.
public struct PageFrame: Sendable, Hashable, CustomStringConvertible {
  /// The page frame number the record describes.
  public var pfn: UInt64
  /// Next PFN on the page's list, or `PageFrameRecord.noPage`.
  public var next: UInt32
  /// Previous PFN on the page's list, or `PageFrameRecord.noPage`.
  public var previous: UInt32
  /// Valid PTEs (for a page table: live entries) using the page.
  public var shareCount: UInt32
  /// Share users plus I/O and lock holders.
  public var referenceCount: UInt16
  /// The location byte as stored (`PageLocation` raw value if valid).
  public var rawLocation: UInt8
  /// The flags byte as stored (`PageFrameFlags`).
  public var rawFlags: UInt8
  /// Virtual address (through the self-map) of the PTE or prototype PTE mapping the page; 0 if none.
  public var pteAddress: UInt64
  /// The software PTE to restore when the page leaves memory.
  public var originalPTE: UInt64
  /// PFN of the page table holding the PTE, or `PageFrameRecord.noPage`.
  public var pteFrame: UInt32
  /// Index of the page's working-set entry, or `PageFrameRecord.noPage`.
  public var workingSetIndex: UInt32
  /// Owning process id (0 = the kernel).
  public var owner: UInt16
  /// The usage byte as stored (`PageUsage` raw value if valid).
  public var rawUsage: UInt8
  /// Cache colour.
  public var color: UInt8
  /// The reserved word (zero in a well-formed record).
  public var reserved: UInt32

  /// Decodes the record at the start of `record` (at least `PageFrameRecord.size` bytes).
  public init?(pfn: UInt64, record: UnsafeRawBufferPointer) {
    guard record.count >= PageFrameRecord.size else { return nil }
    func u8(_ offset: Int) -> UInt8 { record[offset] }
    func u16(_ offset: Int) -> UInt16 {
      UInt16(littleEndian: record.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    func u32(_ offset: Int) -> UInt32 {
      UInt32(littleEndian: record.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    func u64(_ offset: Int) -> UInt64 {
      UInt64(littleEndian: record.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    self.pfn = pfn
    next = u32(PageFrameRecord.next)
    previous = u32(PageFrameRecord.previous)
    shareCount = u32(PageFrameRecord.shareCount)
    referenceCount = u16(PageFrameRecord.referenceCount)
    rawLocation = u8(PageFrameRecord.location)
    rawFlags = u8(PageFrameRecord.flags)
    pteAddress = u64(PageFrameRecord.pteAddress)
    originalPTE = u64(PageFrameRecord.originalPTE)
    pteFrame = u32(PageFrameRecord.pteFrame)
    workingSetIndex = u32(PageFrameRecord.workingSetIndex)
    owner = u16(PageFrameRecord.owner)
    rawUsage = u8(PageFrameRecord.usage)
    color = u8(PageFrameRecord.color)
    reserved = u32(PageFrameRecord.reserved)
  }

  /// The page's location, or nil if the byte is no `PageLocation`.
  public var location: PageLocation? { PageLocation(rawValue: rawLocation) }
  /// What the page is used for, or nil if the byte is no `PageUsage`.
  public var usage: PageUsage? { PageUsage(rawValue: rawUsage) }
  /// The flags (unknown bits kept).
  public var flags: PageFrameFlags { PageFrameFlags(rawValue: rawFlags) }
  /// The next PFN on the list, nil at the end.
  public var nextPFN: UInt64? { next == PageFrameRecord.noPage ? nil : UInt64(next) }
  /// The previous PFN on the list, nil at the start.
  public var previousPFN: UInt64? { previous == PageFrameRecord.noPage ? nil : UInt64(previous) }
  /// The PFN of the page table holding the PTE, nil if unset.
  public var pteFramePFN: UInt64? { pteFrame == PageFrameRecord.noPage ? nil : UInt64(pteFrame) }
  /// The working-set index, nil if unset.
  public var workingSetEntry: UInt32? { workingSetIndex == PageFrameRecord.noPage ? nil : workingSetIndex }
  /// `originalPTE` decoded in the software formats.
  public var originalSoftwarePTE: SoftwarePTE { SoftwarePTE(raw: originalPTE) }
  /// Physical address of the page.
  public var physicalAddress: UInt64 { pfn << 12 }

  public var description: String {
    let location = self.location.map { "\($0)" } ?? "location \(rawLocation)?"
    let usage = self.usage.map { "\($0)" } ?? "usage \(rawUsage)?"
    func pfnText(_ value: UInt32) -> String { value == PageFrameRecord.noPage ? "-" : hex(UInt64(value)) }
    return "PFN \(hex(pfn)): \(location), \(usage), share \(shareCount), ref \(referenceCount), "
      + "flags \(hex(UInt64(rawFlags))), PTE \(hex(pteAddress)), frame \(pfnText(pteFrame)), "
      + "links \(pfnText(previous))<->\(pfnText(next)), owner \(owner), original PTE \(hex(originalPTE))"
  }
}

/// One page-list head (`GuestABI.PageListHead`) as the guest wrote it.
public struct PageListHeadState: Sendable, Hashable {
  /// The list (zeroed ... bad).
  public var location: PageLocation
  /// First PFN, or `PageFrameRecord.noPage` when empty.
  public var first: UInt32
  /// Last PFN, or `PageFrameRecord.noPage` when empty.
  public var last: UInt32
  /// Pages on the list, as the guest counts them.
  public var total: UInt64

  public init(location: PageLocation, first: UInt32, last: UInt32, total: UInt64) {
    self.location = location
    self.first = first
    self.last = last
    self.total = total
  }
}

/// A kernel virtual range whose mappings the PFN database does not account per PTE.
public struct MmDebugWindow: Sendable, Hashable, CustomStringConvertible {
  public var start: UInt64
  public var length: UInt64
  /// The kind as stored.
  public var rawKind: UInt32

  public init(start: UInt64, length: UInt64, rawKind: UInt32) {
    self.start = start
    self.length = length
    self.rawKind = rawKind
  }

  /// The kind, or nil if the guest wrote an unknown one.
  public var kind: DebugWindowKind? { DebugWindowKind(rawValue: rawKind) }
  /// One past the last byte (wraps for a window that ends at the top of the space).
  public var end: UInt64 { start &+ length }
  /// True if `virtualAddress` is in the window (no overflow even for hostile values).
  @inlinable public func contains(_ virtualAddress: UInt64) -> Bool { virtualAddress &- start < length }

  public var description: String {
    let kind = self.kind.map { "\($0)" } ?? "kind \(rawKind)?"
    return "\(kind) \(hex(start))-\(hex(end))"
  }
}

/// One used slot of the guest's process table (`GuestABI.ProcessRecord`).
public struct MmProcess: Sendable, Hashable {
  /// Index of the slot in the table.
  public var slot: Int
  /// Process id (nonzero).
  public var id: UInt32
  public var flags: UInt32
  /// Physical address of the PML4.
  public var root: UInt64
  /// Physical address of the VAD tree's root node, or 0.
  public var vadRoot: UInt64
  /// Physical address of the working-set list, or 0.
  public var workingSet: UInt64

  public init(slot: Int, id: UInt32, flags: UInt32, root: UInt64, vadRoot: UInt64, workingSet: UInt64) {
    self.slot = slot
    self.id = id
    self.flags = flags
    self.root = root
    self.vadRoot = vadRoot
    self.workingSet = workingSet
  }
}

extension PageLocation {
  /// The name used in reports: "zeroed", "free", "standby", "modified",
  /// "modified-no-write", "bad", "active", "transition".
  public var reportName: String {
    switch self {
    case .zeroed: "zeroed"
    case .free: "free"
    case .standby: "standby"
    case .modified: "modified"
    case .modifiedNoWrite: "modified-no-write"
    case .bad: "bad"
    case .activeAndValid: "active"
    case .transition: "transition"
    }
  }
}
