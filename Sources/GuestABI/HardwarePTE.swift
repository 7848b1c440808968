/// The x86-64 page-table entry bits the guest writes (Intel SDM vol. 3A,
/// 4.5, tables 4-15 to 4-20), defined once for the guest's kernel, GuestMm's
/// rules and the host. The paging model (X86Paging) has its own typed form.
public enum HardwarePTE {
  public static let present: UInt64 = 1 << 0
  public static let writable: UInt64 = 1 << 1
  public static let user: UInt64 = 1 << 2
  /// PWT: write-combining through the PAT entry NT programs for it (PAT index 1).
  public static let writeThrough: UInt64 = 1 << 3
  public static let cacheDisable: UInt64 = 1 << 4
  public static let accessed: UInt64 = 1 << 5
  public static let dirty: UInt64 = 1 << 6
  /// PS in a PDE or PDPTE: the entry maps a 2 MiB or 1 GiB page.
  public static let pageSize: UInt64 = 1 << 7
  public static let global: UInt64 = 1 << 8
  /// Software bit 9: copy-on-write (NT's use).
  public static let copyOnWrite: UInt64 = 1 << 9
  public static let noExecute: UInt64 = 1 << 63
  /// Physical address bits 12-51.
  public static let frameMask: UInt64 = 0x000F_FFFF_FFFF_F000
  /// Bits 52-56, which the MMU ignores, hold the page's protection code while
  /// the PTE is valid (hardware bits cannot tell execute from execute-read).
  public static let protectionShift: UInt64 = 52
  public static let protectionMask: UInt64 = 0x1F << 52
}
