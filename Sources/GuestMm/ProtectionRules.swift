#if canImport(GuestABI)
  import GuestABI
#endif

// Protection codes, in one place: which codes the virtual-memory API accepts,
// what each allows, and the hardware bits a valid PTE gets for it.
//
// A code is 5 bits: the low 3 the access (PageProtection.readOnly ...), bits 3-4
// a modifier: 0 none, 0x08 no-cache, 0x10 guard, 0x18 write-combine. Access 0
// combines with one modifier only: 0x18 is NT's no-access code (MM_NOACCESS) and
// 0x10 its decommitted marker (MM_DECOMMIT). A bare 0 (NT's zero access) can sit
// in no PTE: a demand-zero PTE with protection 0 is the all-zero PTE.

extension PageProtection {
  /// No access (NT's MM_NOACCESS, zero access + the write-combine bits): the
  /// code reserve, commit and protect take for "no access". A bare 0 is rejected.
  public static let inaccessible: UInt8 = 0x18
  /// The protection a decommitted page's PTE carries inside a VAD committed at
  /// reservation, where a zero PTE would mean "committed" (NT's MM_DECOMMIT).
  public static let decommitted: UInt8 = 0x10
}

/// What a faulting instruction tried to do.
public enum MemoryAccess: UInt8, Sendable {
  case read, write, execute
}

/// The rules of protection codes and their hardware form.
public enum ProtectionRules {
  /// Whether reserve, commit or protect of private memory accepts `code`: a
  /// nonzero access with any modifier, or `inaccessible`. Write-copy codes are
  /// refused for private memory, as NT does; codes above 0x1F do not exist.
  public static func isValidForPrivate(_ code: UInt8) -> Bool {
    guard code <= 0x1F else { return false }
    let access = code & 7
    if access == 0 { return code == PageProtection.inaccessible }
    return access != PageProtection.writeCopy && access != PageProtection.executeWriteCopy
  }

  /// Whether `code` grants `access` (guard aside). Execute-only pages are
  /// readable, as on NT (x86 has no execute-only pages); write-copy allows writes.
  public static func allows(_ code: UInt8, _ access: MemoryAccess) -> Bool {
    let bits = code & 7
    switch access {
    case .read: return bits != 0
    case .write: return bits >= PageProtection.readWrite
    case .execute:
      return bits == PageProtection.execute || bits == PageProtection.executeRead
        || bits == PageProtection.executeReadWrite || bits == PageProtection.executeWriteCopy
    }
  }

  /// Whether `code` is a guard page (guard modifier on a nonzero access).
  public static func isGuard(_ code: UInt8) -> Bool {
    code & 0x18 == PageProtection.guardPage && code & 7 != 0
  }

  /// `code` without its guard modifier.
  public static func withoutGuard(_ code: UInt8) -> UInt8 {
    isGuard(code) ? code & 7 : code
  }

  /// A valid user PTE for `frame` with `code`'s rights; A set, D when `dirty`.
  public static func validPTE(frame: UInt64, protection code: UInt8, dirty: Bool) -> UInt64 {
    (frame << 12) & HardwarePTE.frameMask | rightsBits(code) | HardwarePTE.accessed
      | (dirty ? HardwarePTE.dirty : 0)
  }

  /// `pte` (valid) with `code`'s rights in place of its own; frame, A and D kept.
  public static func reprotect(valid pte: UInt64, to code: UInt8) -> UInt64 {
    pte & (HardwarePTE.frameMask | HardwarePTE.accessed | HardwarePTE.dirty) | rightsBits(code)
  }

  /// The hardware rights of `code`, with P and the code itself. Guard and
  /// no-access pages that stay valid lose U (user accesses fault, the frame and
  /// its contents stay; NT would park the page in transition instead).
  static func rightsBits(_ code: UInt8) -> UInt64 {
    let stored = UInt64(code & 0x1F) << HardwarePTE.protectionShift
    if code & 7 == 0 || isGuard(code) { return HardwarePTE.present | HardwarePTE.noExecute | stored }
    var bits = HardwarePTE.present | HardwarePTE.user | stored
    let access = code & 7
    if access == PageProtection.readWrite || access == PageProtection.executeReadWrite {
      bits |= HardwarePTE.writable
    }
    if access == PageProtection.writeCopy || access == PageProtection.executeWriteCopy {
      bits |= HardwarePTE.copyOnWrite
    }
    if !allows(code, .execute) { bits |= HardwarePTE.noExecute }
    if code & 0x18 == PageProtection.noCache { bits |= HardwarePTE.cacheDisable }
    if code & 0x18 == PageProtection.writeCombine { bits |= HardwarePTE.writeThrough }
    return bits
  }

  /// The protection code of a valid PTE: the stored code, or for a PTE written
  /// elsewhere (no code stored) the closest code its hardware bits give.
  public static func protection(ofValid pte: UInt64) -> UInt8 {
    let stored = UInt8((pte & HardwarePTE.protectionMask) >> HardwarePTE.protectionShift)
    if stored != 0 { return stored }
    if pte & HardwarePTE.user == 0 { return PageProtection.inaccessible }
    let executable = pte & HardwarePTE.noExecute == 0
    var code: UInt8
    if pte & HardwarePTE.writable != 0 {
      code = executable ? PageProtection.executeReadWrite : PageProtection.readWrite
    } else {
      code = executable ? PageProtection.executeRead : PageProtection.readOnly
    }
    if pte & HardwarePTE.cacheDisable != 0 { code |= PageProtection.noCache }
    if pte & HardwarePTE.writeThrough != 0 { code |= PageProtection.writeCombine }
    return code
  }

  /// Whether the MMU lets `access` through the valid `pte` (CR0.WP set, NX on).
  public static func hardwareAllows(_ pte: UInt64, _ access: MemoryAccess, userMode: Bool) -> Bool {
    if pte & HardwarePTE.present == 0 { return false }
    if userMode && pte & HardwarePTE.user == 0 { return false }
    switch access {
    case .read: return true
    case .write: return pte & HardwarePTE.writable != 0
    case .execute: return pte & HardwarePTE.noExecute == 0
    }
  }
}
