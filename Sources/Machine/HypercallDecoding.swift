import GuestABI

/// One hypercall record as the guest left it in its memory, validated: the
/// one place both backends decode `HypercallRequest`.
struct HypercallCall {
  var address: UInt64
  var kind: HypercallKind
  var arg0: UInt64
  var arg1: UInt64
  var arg2: UInt64
  var arg3: UInt64

  init(at address: UInt64, in memory: GuestPhysicalMemory) throws(MachineError) {
    let hex = "0x" + String(address, radix: 16)
    func word(_ offset: Int) -> UInt64? { memory.load(UInt64.self, at: address + UInt64(offset)) }
    guard memory.bytes(at: address, count: HypercallRequest.size) != nil,
      let magic = memory.load(UInt32.self, at: address + UInt64(HypercallRequest.magic)),
      let rawKind = memory.load(UInt32.self, at: address + UInt64(HypercallRequest.kind)),
      let arg0 = word(HypercallRequest.arg0), let arg1 = word(HypercallRequest.arg1),
      let arg2 = word(HypercallRequest.arg2), let arg3 = word(HypercallRequest.arg3)
    else { throw .protocolViolation("hypercall record at \(hex) is not inside guest RAM") }
    guard magic == HypercallRequest.magicValue else {
      throw .protocolViolation(
        "hypercall record at \(hex) has magic 0x\(String(magic, radix: 16)), "
          + "not 0x\(String(HypercallRequest.magicValue, radix: 16))")
    }
    guard let kind = HypercallKind(rawValue: rawKind) else {
      throw .protocolViolation("hypercall record at \(hex) has unknown kind \(rawKind)")
    }
    self.address = address
    self.kind = kind
    (self.arg0, self.arg1, self.arg2, self.arg3) = (arg0, arg1, arg2, arg3)
  }

  /// An exit call's status (0...255).
  func exitStatus() throws(MachineError) -> UInt8 {
    guard arg0 <= UInt64(UInt8.max) else {
      throw .protocolViolation("exit hypercall with status \(arg0); statuses are 0...255")
    }
    return UInt8(arg0)
  }

  /// A checkpoint call's name.
  func checkpointName(in memory: GuestPhysicalMemory) throws(MachineError) -> String {
    String(
      decoding: try memory.checkedBytes(at: arg1, count: arg2, limit: 4096, what: "checkpoint name"), as: UTF8.self)
  }
}

/// What the guest says about itself in calls that do not stop it (debug
/// block, measurements, regions, exceptions), kept alike by both backends.
struct GuestReports {
  var debugBlockAddress: UInt64?
  var measurements: [UInt64: GuestMeasurement] = [:]
  var regions: [UInt64: GuestRegion] = [:]
  var lastException: GuestException?

  /// Records `call` if it is a report; false for the kinds the backend
  /// handles itself (print, checkpoint, exit).
  mutating func record(_ call: HypercallCall, memory: GuestPhysicalMemory) throws(MachineError) -> Bool {
    switch call.kind {
    case .print, .checkpoint, .exit: return false
    case .exception:
      lastException = GuestException(vector: call.arg0, errorCode: call.arg1, cr2: call.arg2, rip: call.arg3)
    case .debugBlock:
      guard memory.bytes(at: call.arg0, count: 1) != nil else {
        throw .protocolViolation("debug block at 0x\(String(call.arg0, radix: 16)) is outside guest RAM")
      }
      debugBlockAddress = call.arg0
    case .measurement:
      measurements[call.arg0] = GuestMeasurement(
        medianTicks: call.arg1, iterations: call.arg2, ticksPerMicrosecond: call.arg3)
    case .region:
      guard call.arg2 <= UInt64(Int.max), memory.bytes(at: call.arg1, count: Int(call.arg2)) != nil else {
        throw .protocolViolation(
          "region \(call.arg0) at 0x\(String(call.arg1, radix: 16)) (\(call.arg2) bytes) is not inside guest RAM")
      }
      regions[call.arg0] = GuestRegion(physicalAddress: call.arg1, size: call.arg2)
    }
    return true
  }
}

extension GuestPhysicalMemory {
  /// `count` bytes at `address`, bounds-checked, at most `limit`.
  func checkedBytes(at address: UInt64, count: UInt64, limit: Int, what: String) throws(MachineError) -> [UInt8] {
    guard count <= UInt64(limit) else {
      throw .protocolViolation("\(what) of \(count) bytes exceeds the limit of \(limit)")
    }
    guard let bytes = bytes(at: address, count: Int(count)) else {
      throw .protocolViolation("\(what) at 0x\(String(address, radix: 16)) (\(count) bytes) is not inside guest RAM")
    }
    return Array(bytes)
  }
}
