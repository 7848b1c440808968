/// What a backend needs to start the guest: bytes to place in guest physical
/// memory and the PVH entry point. Produced from an ELF by `ELFImage`.
public struct BootImage: Sendable, Equatable {
  /// One PT_LOAD segment: `fileBytes` at `physicalAddress`, then zeroes up to `memorySize`.
  public struct Segment: Sendable, Equatable {
    public var physicalAddress: UInt64
    public var virtualAddress: UInt64
    public var fileBytes: [UInt8]
    public var memorySize: UInt64
    /// PF_R/PF_W/PF_X as in the ELF program header.
    public var flags: UInt32
    public init(physicalAddress: UInt64, virtualAddress: UInt64, fileBytes: [UInt8], memorySize: UInt64, flags: UInt32)
    {
      self.physicalAddress = physicalAddress
      self.virtualAddress = virtualAddress
      self.fileBytes = fileBytes
      self.memorySize = memorySize
      self.flags = flags
    }
  }
  public var segments: [Segment]
  /// 32-bit physical entry point from the Xen PVH note (XEN_ELFNOTE_PHYS32_ENTRY).
  public var pvhEntry: UInt32
  public init(segments: [Segment], pvhEntry: UInt32) {
    self.segments = segments
    self.pvhEntry = pvhEntry
  }
}
