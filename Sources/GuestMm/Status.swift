#if canImport(GuestABI)
  import GuestABI
#endif

/// NT status codes the memory manager returns (values as NT defines them).
public enum Status: UInt32, Sendable {
  case success = 0
  /// A guard page was touched: the access fails once and the page loses its guard.
  case guardPageViolation = 0x8000_0001
  case accessViolation = 0xC000_0005
  case invalidParameter = 0xC000_000D
  case noMemory = 0xC000_0017
  case conflictingAddresses = 0xC000_0018
  /// A decommit or release ran past the end of its VAD (NT's STATUS_UNABLE_TO_FREE_VM).
  case unableToFreeVm = 0xC000_001A
  case notCommitted = 0xC000_002D
  case invalidPageProtection = 0xC000_0045
  case memoryNotAllocated = 0xC000_00A0
  /// A release of a whole VAD (size 0) named an address other than its start.
  case freeVmNotAtBase = 0xC000_009F
  case notSupported = 0xC000_00BB
  case invalidAddress = 0xC000_0141

  public var isSuccess: Bool { rawValue & 0x8000_0000 == 0 }
}
