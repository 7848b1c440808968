import GuestArch

/// The raw disk benchmark (`GuestCommandLine.benchDisk`): sequential reads,
/// then writes, of the first disk through its driver in requests of
/// `DiskBenchLayout`'s two sizes, each request timed; reports the median
/// ticks per request (`MeasurementKind.diskRead64K` ...). The data lands in,
/// and leaves from, the physically contiguous buffer the boot pass set aside.
func measureDiskCosts(buffer: UInt64) {
  guard !DiskSystem.disks.isEmpty else { kernelPanic("measureDiskCosts", "bench.disk without a disk") }
  let sizes: [(UInt64, MeasurementKind, MeasurementKind)] = [
    (DiskBenchLayout.smallRequest, .diskRead64K, .diskWrite64K),
    (DiskBenchLayout.largeRequest, .diskRead1M, .diskWrite1M),
  ]
  for (size, readKind, writeKind) in sizes {
    for (write, kind) in [(false, readKind), (true, writeKind)] {
      let (ticks, count) = timeSequentialPass(write: write, requestBytes: size, buffer: buffer)
      Hypercall.call(.measurement, kind.rawValue, ticks, count, 0)
    }
  }
}

/// One pass over min(span, disk) bytes from sector 0; median ticks per request and the request count.
private func timeSequentialPass(write: Bool, requestBytes: UInt64, buffer: UInt64) -> (UInt64, UInt64) {
  let diskBytes = DiskSystem.disks[0].sectorCount * UInt64(Virtio.BlockRequest.sectorSize)
  let requests = min(DiskBenchLayout.span, diskBytes) / requestBytes
  guard requests > 0 else { return (0, 0) }
  var samples: [UInt64] = []
  samples.reserveCapacity(Int(requests))
  let sectorsPerRequest = requestBytes / UInt64(Virtio.BlockRequest.sectorSize)
  var disk = DiskSystem.disks[0]  // a local copy: no array access per request at CPL 0
  for request in 0..<requests {
    let start = arch_rdtsc()
    let status = disk.transfer(
      write: write, sector: request &* sectorsPerRequest, physical: buffer,
      bytes: UInt32(truncatingIfNeeded: requestBytes))
    let elapsed = arch_rdtsc() &- start
    guard status == Virtio.BlockRequest.statusOK else { kernelPanic("measureDiskCosts", "a request failed") }
    samples.append(elapsed)
  }
  DiskSystem.disks[0] = disk
  samples.sort()
  return (samples[samples.count / 2], requests)
}
