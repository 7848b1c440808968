import GuestArch

/// Disk `index` as GuestFs's `BlockDevice`: buffers are kernel addresses (the
/// image and its heap, the direct map) or user addresses of the current
/// process whose pages the caller made resident (NtReadFile and NtWriteFile
/// probe and fault them in first, as MmProbeAndLockPages does). Each transfer
/// goes to the device as physically contiguous segments, straight into or out
/// of the buffer. CPL 0.
struct DiskBlockDevice: BlockDevice {
  let index: Int
  /// Room for one request's segments.
  private let segments: UnsafeMutablePointer<PhysicalSegment>

  init(index: Int) {
    self.index = index
    segments = UnsafeMutablePointer<PhysicalSegment>.allocate(capacity: VirtioBlockDisk.maximumSegments)
  }

  var sectorCount: UInt64 { DiskSystem.disks[index].sectorCount }

  mutating func read(sector: UInt64, count: Int, into buffer: UnsafeMutableRawPointer) -> Status {
    transfer(write: false, sector: sector, count: count, UInt64(UInt(bitPattern: buffer)))
  }

  mutating func write(sector: UInt64, count: Int, from buffer: UnsafeRawPointer) -> Status {
    transfer(write: true, sector: sector, count: count, UInt64(UInt(bitPattern: buffer)))
  }

  mutating func flush() -> Status {
    guard DiskSystem.disks[index].canFlush else { return .success }
    return Self.status(DiskSystem.disks[index].flush())
  }

  /// Splits [address, address + count sectors) into segments and sends as many requests as they need.
  private mutating func transfer(write: Bool, sector: UInt64, count: Int, _ address: UInt64) -> Status {
    guard count > 0 else { return .success }
    guard sector <= sectorCount, UInt64(count) <= sectorCount - sector else { return .invalidParameter }
    if write, DiskSystem.disks[index].readOnly { return .mediaWriteProtected }
    var done: UInt64 = 0
    let total = UInt64(count) * 512
    while done < total {
      var used = 0
      var bytes: UInt64 = 0
      // Whole sectors per request, a page (or a contiguous run) per segment.
      while done + bytes < total, used < VirtioBlockDisk.maximumSegments {
        let at = address &+ done &+ bytes
        let piece = min(4096 - (at & 0xFFF), total - done - bytes)
        guard let physical = Self.physical(at) else { kernelPanic("DiskBlockDevice", "a buffer page is not resident") }
        if used > 0, segments[used - 1].physical &+ UInt64(segments[used - 1].bytes) == physical {
          segments[used - 1].bytes &+= UInt32(piece)
        } else {
          segments[used] = PhysicalSegment(physical: physical, bytes: UInt32(piece))
          used += 1
        }
        bytes += piece
      }
      bytes -= bytes % 512  // a request ends on a sector
      guard bytes > 0 else { kernelPanic("DiskBlockDevice", "a sector spans more segments than a request holds") }
      trimSegments(&used, to: bytes)
      let answer = DiskSystem.disks[index].transfer(
        write: write, sector: sector + done / 512, segments: UnsafePointer(segments), count: used)
      guard answer == Virtio.BlockRequest.statusOK else { return Self.status(answer) }
      done += bytes
    }
    return .success
  }

  /// Drops segment bytes past `bytes` (the request was cut back to a sector boundary).
  private func trimSegments(_ used: inout Int, to bytes: UInt64) {
    var left = bytes
    for n in 0..<used {
      if left == 0 {
        used = n
        return
      }
      if UInt64(segments[n].bytes) > left { segments[n].bytes = UInt32(left) }
      left -= UInt64(segments[n].bytes)
    }
  }

  /// The physical address of a kernel or (current process) user address; nil where nothing valid maps it.
  static func physical(_ address: UInt64) -> UInt64? {
    if address >= KernelLayout.virtualBase, address < arch_kernel_end() { return kernelPhysical(address) }
    if address >= KernelLayout.directMapBase, address - KernelLayout.directMapBase < 1 << 40 {
      return address - KernelLayout.directMapBase
    }
    if address >= KernelLayout.deviceWindowBase, address - KernelLayout.deviceWindowBase < KernelLayout.deviceWindowSize
    {
      return IoMapping.physical(address)
    }
    guard address < UserAddressSpace.end else { return nil }
    var level = 4  // the upper levels first: a missing table would fault the PTE's self-map load
    while level > 1 {
      if arch_load64(KernelLayout.selfMapEntryAddress(of: address, level: level)) & 1 == 0 { return nil }
      level -= 1
    }
    let pte = arch_load64(KernelLayout.selfMapEntryAddress(of: address, level: 1))
    guard pte & HardwarePTE.present != 0 else { return nil }
    return (pte & HardwarePTE.frameMask) | (address & 0xFFF)
  }

  static func status(_ answer: UInt8?) -> Status {
    switch answer {
    case Virtio.BlockRequest.statusOK?: return .success
    case Virtio.BlockRequest.statusUnsupported?: return .notSupported
    default: return .ioDeviceError
    }
  }
}
