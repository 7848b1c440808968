#if canImport(GuestABI)
  import GuestABI
#endif

/// NT status codes the memory manager returns (values as NT defines them).
public enum Status: UInt32, Sendable {
  case success = 0
  /// The Mm cannot yet do what Windows does for this request (NT's STATUS_NOT_IMPLEMENTED).
  case notImplemented = 0xC000_0002
  /// NtQueryVirtualMemory: no such MemoryInformationClass.
  case invalidInfoClass = 0xC000_0003
  /// A guard page was touched: the access fails once and the page loses its guard.
  case guardPageViolation = 0x8000_0001
  case accessViolation = 0xC000_0005
  case invalidParameter = 0xC000_000D
  case noMemory = 0xC000_0017
  case conflictingAddresses = 0xC000_0018
  /// A decommit or release ran past the end of its VAD (NT's STATUS_UNABLE_TO_FREE_VM).
  case unableToFreeVm = 0xC000_001A
  /// NtFreeVirtualMemory on a mapped view (views go with NtUnmapViewOfSection).
  case unableToDeleteSection = 0xC000_001B
  case notCommitted = 0xC000_002D
  case invalidPageProtection = 0xC000_0045
  case memoryNotAllocated = 0xC000_00A0
  /// No room for another VAD record (NT: the VAD's pool allocation failed).
  case insufficientResources = 0xC000_009A
  /// A release of a whole VAD (size 0) named an address other than its start.
  case freeVmNotAtBase = 0xC000_009F
  case notSupported = 0xC000_00BB
  /// STATUS_INVALID_PARAMETER_n: the system call's n-th argument is bad.
  case invalidParameter2 = 0xC000_00F0
  case invalidParameter3 = 0xC000_00F1
  case invalidParameter4 = 0xC000_00F2
  case invalidParameter5 = 0xC000_00F3
  case invalidParameter6 = 0xC000_00F4
  case invalidAddress = 0xC000_0141

  public var isSuccess: Bool { rawValue & 0x8000_0000 == 0 }
}
