#if canImport(GuestABI)
  import GuestABI
#endif

/// What the PFN database needs from the machine: its bytes by physical
/// address (the guest reaches them through its direct map, or the boot
/// identity map while building; host tests through a buffer), frames zeroed,
/// and a stop for a broken invariant ("function: reason").
public protocol PhysicalMemoryAccess {
  func bytes(at physical: UInt64) -> UnsafeMutableRawPointer
  func zeroFrame(_ physical: UInt64)
  func trap(_ function: StaticString, _ reason: StaticString) -> Never
  /// A standby section page whose prototype PTE is at `pteAddress` was taken
  /// for another use (its prototype PTE holds its original PTE again): its
  /// section has one page fewer in memory.
  func prototypePageRepurposed(pteAddress: UInt64)
}

extension PhysicalMemoryAccess {
  /// Memory with no sections has no section page to hear of.
  public func prototypePageRepurposed(pteAddress: UInt64) {}
}

/// A typed view of one PFN record (GuestABI `PageFrameRecord`): each field
/// read and written over the shared layout, so the host decodes the same bytes.
public struct PageFrame {
  public let bytes: UnsafeMutableRawPointer

  public init(bytes: UnsafeMutableRawPointer) { self.bytes = bytes }

  public var next: UInt32 {
    get { bytes.load(fromByteOffset: PageFrameRecord.next, as: UInt32.self) }
    nonmutating set { bytes.storeBytes(of: newValue, toByteOffset: PageFrameRecord.next, as: UInt32.self) }
  }
  public var previous: UInt32 {
    get { bytes.load(fromByteOffset: PageFrameRecord.previous, as: UInt32.self) }
    nonmutating set { bytes.storeBytes(of: newValue, toByteOffset: PageFrameRecord.previous, as: UInt32.self) }
  }
  /// Valid PTEs using the page, or for a page table its live entries.
  public var shareCount: UInt32 {
    get { bytes.load(fromByteOffset: PageFrameRecord.shareCount, as: UInt32.self) }
    nonmutating set { bytes.storeBytes(of: newValue, toByteOffset: PageFrameRecord.shareCount, as: UInt32.self) }
  }
  public var referenceCount: UInt16 {
    get { bytes.load(fromByteOffset: PageFrameRecord.referenceCount, as: UInt16.self) }
    nonmutating set { bytes.storeBytes(of: newValue, toByteOffset: PageFrameRecord.referenceCount, as: UInt16.self) }
  }
  /// The raw location byte (`PageLocation`, or a bad value a reader reports).
  public var rawLocation: UInt8 {
    get { bytes.load(fromByteOffset: PageFrameRecord.location, as: UInt8.self) }
    nonmutating set { bytes.storeBytes(of: newValue, toByteOffset: PageFrameRecord.location, as: UInt8.self) }
  }
  public var location: PageLocation {
    get { PageLocation(rawValue: rawLocation) ?? .bad }
    nonmutating set { rawLocation = newValue.rawValue }
  }
  public var flags: UInt8 {
    get { bytes.load(fromByteOffset: PageFrameRecord.flags, as: UInt8.self) }
    nonmutating set { bytes.storeBytes(of: newValue, toByteOffset: PageFrameRecord.flags, as: UInt8.self) }
  }
  /// `flags`, typed.
  public var frameFlags: PageFrameFlags {
    get { PageFrameFlags(rawValue: flags) }
    nonmutating set { flags = newValue.rawValue }
  }
  /// The self-map address of the PTE mapping the page; 0 when none.
  public var pteAddress: UInt64 {
    get { bytes.load(fromByteOffset: PageFrameRecord.pteAddress, as: UInt64.self) }
    nonmutating set { bytes.storeBytes(of: newValue, toByteOffset: PageFrameRecord.pteAddress, as: UInt64.self) }
  }
  public var originalPTE: UInt64 {
    get { bytes.load(fromByteOffset: PageFrameRecord.originalPTE, as: UInt64.self) }
    nonmutating set { bytes.storeBytes(of: newValue, toByteOffset: PageFrameRecord.originalPTE, as: UInt64.self) }
  }
  /// The PFN of the page table holding that PTE, or `PageFrameRecord.noPage`.
  public var pteFrame: UInt32 {
    get { bytes.load(fromByteOffset: PageFrameRecord.pteFrame, as: UInt32.self) }
    nonmutating set { bytes.storeBytes(of: newValue, toByteOffset: PageFrameRecord.pteFrame, as: UInt32.self) }
  }
  public var workingSetIndex: UInt32 {
    get { bytes.load(fromByteOffset: PageFrameRecord.workingSetIndex, as: UInt32.self) }
    nonmutating set { bytes.storeBytes(of: newValue, toByteOffset: PageFrameRecord.workingSetIndex, as: UInt32.self) }
  }
  public var owner: UInt16 {
    get { bytes.load(fromByteOffset: PageFrameRecord.owner, as: UInt16.self) }
    nonmutating set { bytes.storeBytes(of: newValue, toByteOffset: PageFrameRecord.owner, as: UInt16.self) }
  }
  public var usage: PageUsage {
    get { PageUsage(rawValue: bytes.load(fromByteOffset: PageFrameRecord.usage, as: UInt8.self)) ?? .hole }
    nonmutating set { bytes.storeBytes(of: newValue.rawValue, toByteOffset: PageFrameRecord.usage, as: UInt8.self) }
  }

  /// A record that names no list, PTE or working-set entry (the rest as it was).
  public func clearLinks() {
    next = PageFrameRecord.noPage
    previous = PageFrameRecord.noPage
    pteFrame = PageFrameRecord.noPage
    workingSetIndex = PageFrameRecord.noPage
  }

  /// Clears what the record says about the PTE that mapped the page and its owner.
  public func forgetMapping() {
    pteAddress = 0
    pteFrame = PageFrameRecord.noPage
    owner = 0
    referenceCount = 0
  }
}
