import GuestABI
import GuestMm
import Testing

@Suite struct ProtectionRulesTests {
  @Test func validCodesForPrivateMemory() {
    let valid: Set<UInt8> = [
      1, 2, 3, 4, 6,  // plain
      9, 10, 11, 12, 14,  // no-cache
      0x11, 0x12, 0x13, 0x14, 0x16,  // guard
      0x18,  // no access
      0x19, 0x1A, 0x1B, 0x1C, 0x1E,  // write-combine
    ]
    for code in UInt8(0)...UInt8(0x40) {
      #expect(ProtectionRules.isValidForPrivate(code) == valid.contains(code), "code \(code)")
    }
    #expect(!ProtectionRules.isValidForPrivate(0xFF))
  }

  @Test func accessRights() {
    let readable: [UInt8] = [1, 2, 3, 4, 5, 6, 7]
    let writable: [UInt8] = [4, 5, 6, 7]
    let executable: [UInt8] = [2, 3, 6, 7]
    for base in UInt8(0)...7 {
      for modifier: UInt8 in [0, 8, 0x10, 0x18] {
        let code = base | modifier
        #expect(ProtectionRules.allows(code, .read) == readable.contains(base), "read \(code)")
        #expect(ProtectionRules.allows(code, .write) == writable.contains(base), "write \(code)")
        #expect(ProtectionRules.allows(code, .execute) == executable.contains(base), "execute \(code)")
      }
    }
    #expect(ProtectionRules.isGuard(0x14))
    #expect(!ProtectionRules.isGuard(PageProtection.decommitted))
    #expect(!ProtectionRules.isGuard(0x1C))
    #expect(ProtectionRules.withoutGuard(0x16) == 6)
    #expect(ProtectionRules.withoutGuard(0x1C) == 0x1C)
  }

  @Test func hardwareBitsPerCode() {
    let p = HardwarePTE.present
    let u = HardwarePTE.user
    let w = HardwarePTE.writable
    let nx = HardwarePTE.noExecute
    let a = HardwarePTE.accessed
    let rights: UInt64 = p | u | w | nx | HardwarePTE.cacheDisable | HardwarePTE.writeThrough
    func bits(_ code: UInt8) -> UInt64 {
      ProtectionRules.validPTE(frame: 0x1234, protection: code, dirty: false) & rights
    }
    #expect(bits(readOnly) == p | u | nx)
    #expect(bits(PageProtection.execute) == p | u)
    #expect(bits(PageProtection.executeRead) == p | u)
    #expect(bits(readWrite) == p | u | w | nx)
    #expect(bits(PageProtection.executeReadWrite) == p | u | w)
    #expect(bits(readWrite | PageProtection.noCache) == p | u | w | nx | HardwarePTE.cacheDisable)
    #expect(bits(readWrite | PageProtection.writeCombine) == p | u | w | nx | HardwarePTE.writeThrough)
    #expect(bits(readWrite | PageProtection.guardPage) == p | nx)
    #expect(bits(noAccess) == p | nx)
    let pte = ProtectionRules.validPTE(frame: 0x1234, protection: readWrite, dirty: true)
    #expect(pte & HardwarePTE.frameMask == 0x1234 << 12)
    #expect(pte & (a | HardwarePTE.dirty) == a | HardwarePTE.dirty)
    #expect(ProtectionRules.validPTE(frame: 1, protection: readWrite, dirty: false) & HardwarePTE.dirty == 0)
  }

  @Test func protectionSurvivesValidPTEs() {
    for code in UInt8(0)...0x1F where ProtectionRules.isValidForPrivate(code) {
      let pte = ProtectionRules.validPTE(frame: 77, protection: code, dirty: true)
      #expect(ProtectionRules.protection(ofValid: pte) == code)
      let changed = ProtectionRules.reprotect(valid: pte, to: readOnly)
      #expect(ProtectionRules.protection(ofValid: changed) == readOnly)
      #expect(changed & HardwarePTE.frameMask == 77 << 12)
      #expect(changed & HardwarePTE.dirty != 0, "D survives a protection change")
    }
  }

  @Test func protectionOfForeignValidPTEs() {
    let p = HardwarePTE.present | HardwarePTE.user
    #expect(ProtectionRules.protection(ofValid: p | HardwarePTE.noExecute) == readOnly)
    #expect(ProtectionRules.protection(ofValid: p) == PageProtection.executeRead)
    #expect(ProtectionRules.protection(ofValid: p | HardwarePTE.writable | HardwarePTE.noExecute) == readWrite)
    #expect(ProtectionRules.protection(ofValid: p | HardwarePTE.writable) == PageProtection.executeReadWrite)
    #expect(ProtectionRules.protection(ofValid: p | HardwarePTE.cacheDisable) == PageProtection.executeRead | 8)
    #expect(ProtectionRules.protection(ofValid: HardwarePTE.present) == noAccess)
  }

  @Test func hardwareAllowsFollowsTheMMU() {
    let ro = ProtectionRules.validPTE(frame: 1, protection: readOnly, dirty: false)
    #expect(ProtectionRules.hardwareAllows(ro, .read, userMode: true))
    #expect(!ProtectionRules.hardwareAllows(ro, .write, userMode: true))
    #expect(!ProtectionRules.hardwareAllows(ro, .execute, userMode: true))
    let hidden = ProtectionRules.validPTE(frame: 1, protection: noAccess, dirty: false)
    #expect(!ProtectionRules.hardwareAllows(hidden, .read, userMode: true))
    #expect(ProtectionRules.hardwareAllows(hidden, .read, userMode: false))
    #expect(!ProtectionRules.hardwareAllows(0, .read, userMode: false))
  }
}

@Suite struct VadTableTests {
  @Test func layoutAndBinarySearch() {
    let harness = Harness(records: 4)
    let vads = harness.vm.vads
    #expect(vads.capacity == 4)
    #expect(harness.table.load(fromByteOffset: VadTable.capacity, as: UInt32.self) == 4)
    #expect(vads.count == 0)
    for (i, start) in [UInt64(0x50), 0x10, 0x30].enumerated() {
      let at = vads.firstIndex(startingAfter: start)
      #expect(vads.insert(VadEntry(startPage: start, endPage: start + 7, protection: UInt8(i + 1)), at: at))
    }
    #expect(harness.vads.map(\.startPage) == [0x10, 0x30, 0x50])
    #expect(harness.table.load(fromByteOffset: VadTable.count, as: UInt32.self) == 3)
    let second = harness.table + VadTable.headerSize + VadRecord.size
    #expect(second.load(fromByteOffset: VadRecord.startPage, as: UInt64.self) == 0x30)
    #expect(second.load(fromByteOffset: VadRecord.endPage, as: UInt64.self) == 0x37)
    #expect(second.load(fromByteOffset: VadRecord.protection, as: UInt8.self) == 3)
    #expect(vads.index(containing: 0x0F) == nil)
    #expect(vads.index(containing: 0x10) == 0)
    #expect(vads.index(containing: 0x17) == 0)
    #expect(vads.index(containing: 0x18) == nil)
    #expect(vads.index(containing: 0x37) == 1)
    #expect(vads.index(containing: 0x57) == 2)
    #expect(vads.index(containing: 0x58) == nil)
    vads.remove(at: 0)
    #expect(harness.vads.map(\.startPage) == [0x30, 0x50])
    #expect(vads.insert(VadEntry(startPage: 0x70, endPage: 0x70, protection: 1), at: 2))
    #expect(vads.insert(VadEntry(startPage: 0x80, endPage: 0x80, protection: 1), at: 3))
    #expect(!vads.insert(VadEntry(startPage: 0x90, endPage: 0x90, protection: 1), at: 4), "full")
    let reattached = VadTableView(attachingTo: harness.table, byteCount: harness.tableBytes)
    #expect(reattached.count == 4)
    #expect(reattached[3].startPage == 0x80)
  }
}
