import GuestABI

/// Why a ring or a descriptor chain cannot be served: the driver broke the
/// virtio contract, and the device stops trusting the queue (it sets
/// DEVICE_NEEDS_RESET) rather than guess.
public enum VirtqueueFault: Error, Equatable, CustomStringConvertible {
  case ringOutsideMemory(what: String, address: UInt64)
  case ringMisaligned(what: String, address: UInt64)
  case badQueueSize(Int)
  case indexJumped(available: UInt16, lastSeen: UInt16, queueSize: Int)
  case headOutOfRange(UInt16)
  case nextOutOfRange(descriptor: UInt16, next: UInt16)
  case chainTooLong(head: UInt16)
  case bufferOutsideMemory(descriptor: UInt16, address: UInt64, length: UInt32)
  case indirectNotNegotiated(descriptor: UInt16)
  case readableAfterWritable(descriptor: UInt16)
  /// The chain cannot be a block request (no room for the header or the status byte).
  case malformedRequest(head: UInt16, reason: String)

  public var description: String {
    switch self {
    case .ringOutsideMemory(let what, let address):
      "the \(what) at 0x\(String(address, radix: 16)) is not inside guest RAM"
    case .ringMisaligned(let what, let address):
      "the \(what) at 0x\(String(address, radix: 16)) is not aligned as virtio 2.7 requires"
    case .badQueueSize(let size): "queue size \(size) is not a power of two within the device's maximum"
    case .indexJumped(let available, let lastSeen, let size):
      "avail.idx moved from \(lastSeen) to \(available), more than the queue's \(size) entries"
    case .headOutOfRange(let head): "a chain head \(head) is past the descriptor table"
    case .nextOutOfRange(let descriptor, let next): "descriptor \(descriptor) names next \(next), past the table"
    case .chainTooLong(let head): "the chain at \(head) is longer than the queue (a loop)"
    case .bufferOutsideMemory(let descriptor, let address, let length):
      "descriptor \(descriptor) names \(length) bytes at 0x\(String(address, radix: 16)), not all in guest RAM"
    case .indirectNotNegotiated(let descriptor):
      "descriptor \(descriptor) is indirect, which the device did not offer"
    case .readableAfterWritable(let descriptor):
      "descriptor \(descriptor) is device-readable after a device-writable one"
    case .malformedRequest(let head, let reason): "the request at \(head) is malformed: \(reason)"
    }
  }
}

/// One buffer of a descriptor chain, already checked to lie in guest RAM.
struct ChainSegment {
  var bytes: UnsafeMutableRawBufferPointer
  /// VIRTQ_DESC_F_WRITE: the device writes it.
  var deviceWritable: Bool
}

/// A split virtqueue (virtio 2.7) seen from the device: the three ring
/// addresses the driver programmed, and how far the device has consumed the
/// available ring. Every index and address the guest wrote is checked here
/// before it is used; nothing is cached between calls, so a driver rewriting
/// its rings is seen as it is.
struct SplitVirtqueue {
  var size: Int
  var descriptors: UInt64 = 0
  var available: UInt64 = 0
  var used: UInt64 = 0
  var enabled = false
  /// The next avail.ring slot the device reads.
  var lastAvailable: UInt16 = 0

  init(size: Int) { self.size = size }

  /// Checks the queue size and that each ring lies, aligned, in guest RAM (at queue_enable).
  func check(in memory: GuestPhysicalMemory, maximumSize: Int) throws(VirtqueueFault) {
    guard size > 0, size <= maximumSize, size & (size - 1) == 0 else { throw .badQueueSize(size) }
    let rings: [(String, UInt64, Int, UInt64)] = [
      ("descriptor table", descriptors, size * Virtio.Ring.descriptorSize, Virtio.Ring.descriptorAlignment),
      ("available ring", available, Virtio.Ring.availableSize(queueSize: size), Virtio.Ring.availableAlignment),
      ("used ring", used, Virtio.Ring.usedSize(queueSize: size), Virtio.Ring.usedAlignment),
    ]
    for (what, address, length, alignment) in rings {
      guard address % alignment == 0 else { throw .ringMisaligned(what: what, address: address) }
      guard memory.mutableBytes(at: address, count: length) != nil else {
        throw .ringOutsideMemory(what: what, address: address)
      }
    }
  }

  /// The chain heads the driver made available since the last call, in order.
  mutating func takeAvailable(in memory: GuestPhysicalMemory) throws(VirtqueueFault) -> [UInt16] {
    let index = try load(UInt16.self, at: available + 2, what: "available ring", in: memory)
    let pending = Int(index &- lastAvailable)
    guard pending <= size else { throw .indexJumped(available: index, lastSeen: lastAvailable, queueSize: size) }
    var heads: [UInt16] = []
    heads.reserveCapacity(pending)
    for _ in 0..<pending {
      let slot = available + 4 + 2 * UInt64(Int(lastAvailable) % size)
      heads.append(try load(UInt16.self, at: slot, what: "available ring", in: memory))
      lastAvailable &+= 1
    }
    return heads
  }

  /// The buffers of the chain at `head`: readable ones first, then writable
  /// ones, each inside guest RAM; at most `size` descriptors.
  func chain(at head: UInt16, in memory: GuestPhysicalMemory) throws(VirtqueueFault) -> [ChainSegment] {
    guard Int(head) < size else { throw .headOutOfRange(head) }
    var segments: [ChainSegment] = []
    var current = head
    var sawWritable = false
    while true {
      guard segments.count < size else { throw .chainTooLong(head: head) }
      let entry = descriptors + UInt64(current) * UInt64(Virtio.Ring.descriptorSize)
      let address = try load(UInt64.self, at: entry, what: "descriptor table", in: memory)
      let length = try load(UInt32.self, at: entry + 8, what: "descriptor table", in: memory)
      let flags = try load(UInt16.self, at: entry + 12, what: "descriptor table", in: memory)
      let next = try load(UInt16.self, at: entry + 14, what: "descriptor table", in: memory)
      guard flags & Virtio.Ring.indirect == 0 else { throw .indirectNotNegotiated(descriptor: current) }
      let writable = flags & Virtio.Ring.write != 0
      guard writable || !sawWritable else { throw .readableAfterWritable(descriptor: current) }
      sawWritable = sawWritable || writable
      guard let bytes = memory.mutableBytes(at: address, count: Int(length)) else {
        throw .bufferOutsideMemory(descriptor: current, address: address, length: length)
      }
      segments.append(ChainSegment(bytes: bytes, deviceWritable: writable))
      guard flags & Virtio.Ring.next != 0 else { return segments }
      guard Int(next) < size else { throw .nextOutOfRange(descriptor: current, next: next) }
      current = next
    }
  }

  /// Returns the chain at `head` to the driver, `written` bytes written into its buffers.
  func complete(_ head: UInt16, written: UInt32, in memory: GuestPhysicalMemory) throws(VirtqueueFault) {
    let index = try load(UInt16.self, at: used + 2, what: "used ring", in: memory)
    let slot = used + 4 + 8 * UInt64(Int(index) % size)
    guard memory.store(UInt32(head), at: slot), memory.store(written, at: slot + 4),
      memory.store(index &+ 1, at: used + 2)
    else { throw .ringOutsideMemory(what: "used ring", address: used) }
  }

  private func load<T: FixedWidthInteger>(
    _ type: T.Type, at address: UInt64, what: String, in memory: GuestPhysicalMemory
  )
    throws(VirtqueueFault) -> T
  {
    guard let value = memory.load(type, at: address) else { throw .ringOutsideMemory(what: what, address: address) }
    return value
  }
}
