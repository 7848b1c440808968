import Testing
import X86Paging

/// One row of the SDM §4.6 / §4.7 table: registers, the translation's rights, the access,
/// and either nil (allowed) or the exact error code and reason.
struct RightsCase: Sendable, CustomTestStringConvertible {
  var name: String
  var context: PagingContext
  var rights: EffectiveRights
  var access: Access
  var expectedCode: UInt32?
  var expectedReason: FaultReason?
  var testDescription: String { name }
}

private let userRW = EffectiveRights(user: true, writable: true)
private let userRO = EffectiveRights(user: true, writable: false)
private let supervisorRW = EffectiveRights(user: false, writable: true)
private let supervisorRO = EffectiveRights(user: false, writable: false)
private let userXD = EffectiveRights(user: true, writable: true, executeDisable: true)
private let supervisorXD = EffectiveRights(user: false, writable: true, executeDisable: true)
private func key(_ rights: EffectiveRights, _ key: UInt8) -> EffectiveRights {
  var r = rights
  r.protectionKey = key
  return r
}

private let rightsCases: [RightsCase] = [
  // CR0.WP
  RightsCase(
    name: "WP=0 supervisor write to read-only page is allowed", context: makeContext(wp: false),
    rights: supervisorRO, access: .supervisorWrite, expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "WP=1 supervisor write to read-only page faults", context: makeContext(wp: true),
    rights: supervisorRO, access: .supervisorWrite, expectedCode: 0x3, expectedReason: .writeToReadOnlyPage),
  RightsCase(
    name: "WP=0 supervisor write to read-only user page is allowed (SMAP off)",
    context: makeContext(wp: false), rights: userRO, access: .supervisorWrite, expectedCode: nil,
    expectedReason: nil),
  RightsCase(
    name: "user write to read-only page faults with WP=0", context: makeContext(wp: false),
    rights: userRO, access: .userWrite, expectedCode: 0x7, expectedReason: .writeToReadOnlyPage),
  RightsCase(
    name: "user write to read-only page faults with WP=1", context: makeContext(wp: true),
    rights: userRO, access: .userWrite, expectedCode: 0x7, expectedReason: .writeToReadOnlyPage),
  RightsCase(
    name: "user read of read-only user page is allowed", context: makeContext(wp: true),
    rights: userRO, access: .userRead, expectedCode: nil, expectedReason: nil),
  // U/S
  RightsCase(
    name: "user read of supervisor page faults", context: makeContext(), rights: supervisorRW,
    access: .userRead, expectedCode: 0x5, expectedReason: .userAccessToSupervisorPage),
  RightsCase(
    name: "user write to supervisor page faults", context: makeContext(), rights: supervisorRW,
    access: .userWrite, expectedCode: 0x7, expectedReason: .userAccessToSupervisorPage),
  RightsCase(
    name: "user fetch from supervisor page, no NXE/SMEP: no I/D bit", context: makeContext(),
    rights: supervisorRW, access: .userFetch, expectedCode: 0x5,
    expectedReason: .userAccessToSupervisorPage),
  RightsCase(
    name: "user fetch from supervisor page with NXE: I/D bit", context: makeContext(nxe: true),
    rights: supervisorRW, access: .userFetch, expectedCode: 0x15,
    expectedReason: .userAccessToSupervisorPage),
  // XD
  RightsCase(
    name: "NXE=1 user fetch from XD page", context: makeContext(nxe: true), rights: userXD,
    access: .userFetch, expectedCode: 0x15, expectedReason: .executeDisabled),
  RightsCase(
    name: "NXE=1 supervisor fetch from XD page", context: makeContext(nxe: true), rights: supervisorXD,
    access: .supervisorFetch, expectedCode: 0x11, expectedReason: .executeDisabled),
  RightsCase(
    name: "NXE=1 read of XD page is allowed", context: makeContext(nxe: true), rights: userXD,
    access: .userRead, expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "NXE=0: XD not honoured", context: makeContext(nxe: false), rights: userXD,
    access: .userFetch, expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "32-bit paging: NXE does not give I/D", context: makeContext(.bit32, nxe: true),
    rights: supervisorRW, access: .userFetch, expectedCode: 0x5,
    expectedReason: .userAccessToSupervisorPage),
  RightsCase(
    name: "32-bit paging: SMEP gives I/D", context: makeContext(.bit32, smep: true),
    rights: supervisorRW, access: .userFetch, expectedCode: 0x15,
    expectedReason: .userAccessToSupervisorPage),
  RightsCase(
    name: "PAE paging: NXE gives I/D", context: makeContext(.pae, nxe: true), rights: userXD,
    access: .userFetch, expectedCode: 0x15, expectedReason: .executeDisabled),
  // SMEP
  RightsCase(
    name: "SMEP: supervisor fetch from user page", context: makeContext(smep: true), rights: userRW,
    access: .supervisorFetch, expectedCode: 0x11, expectedReason: .supervisorFetchFromUserPage),
  RightsCase(
    name: "no SMEP: supervisor fetch from user page allowed", context: makeContext(), rights: userRW,
    access: .supervisorFetch, expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "SMEP: user fetch from user page allowed", context: makeContext(smep: true), rights: userRW,
    access: .userFetch, expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "SMEP: supervisor fetch from supervisor page allowed", context: makeContext(smep: true),
    rights: supervisorRW, access: .supervisorFetch, expectedCode: nil, expectedReason: nil),
  // SMAP
  RightsCase(
    name: "SMAP AC=0: supervisor read of user page", context: makeContext(smap: true), rights: userRW,
    access: .supervisorRead, expectedCode: 0x1,
    expectedReason: .supervisorAccessToUserPage(implicit: false)),
  RightsCase(
    name: "SMAP AC=0: supervisor write to user page", context: makeContext(smap: true), rights: userRW,
    access: .supervisorWrite, expectedCode: 0x3,
    expectedReason: .supervisorAccessToUserPage(implicit: false)),
  RightsCase(
    name: "SMAP AC=1: explicit supervisor read of user page allowed",
    context: makeContext(smap: true, ac: true), rights: userRW, access: .supervisorRead,
    expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "SMAP AC=1: implicit supervisor read at CPL 0 still faults",
    context: makeContext(smap: true, ac: true), rights: userRW,
    access: .implicitSupervisor(.read, at: .supervisor), expectedCode: 0x1,
    expectedReason: .supervisorAccessToUserPage(implicit: true)),
  RightsCase(
    name: "SMAP AC=1: implicit supervisor write at CPL 3 faults, U/S=0 in the code",
    context: makeContext(smap: true, ac: true), rights: userRW,
    access: .implicitSupervisor(.write, at: .user), expectedCode: 0x3,
    expectedReason: .supervisorAccessToUserPage(implicit: true)),
  RightsCase(
    name: "SMAP off: implicit read at CPL 3 of user page allowed", context: makeContext(),
    rights: userRW, access: .implicitSupervisor(.read, at: .user), expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "implicit access at CPL 3 reaches supervisor pages", context: makeContext(smap: true),
    rights: supervisorRO, access: .implicitSupervisor(.read, at: .user), expectedCode: nil,
    expectedReason: nil),
  RightsCase(
    name: "SMAP AC=1, WP=1: supervisor write to read-only user page",
    context: makeContext(wp: true, smap: true, ac: true), rights: userRO, access: .supervisorWrite,
    expectedCode: 0x3, expectedReason: .writeToReadOnlyPage),
  RightsCase(
    name: "SMAP AC=1, WP=0: supervisor write to read-only user page allowed",
    context: makeContext(wp: false, smap: true, ac: true), rights: userRO, access: .supervisorWrite,
    expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "SMAP does not affect fetches", context: makeContext(smap: true), rights: userRW,
    access: .supervisorFetch, expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "SMAP does not affect user-mode accesses", context: makeContext(smap: true), rights: userRW,
    access: .userWrite, expectedCode: nil, expectedReason: nil),
  // PKU
  RightsCase(
    name: "PKU AD: user read faults with PK",
    context: makeContext(pke: true, pkru: .init(accessDisabled: [5])), rights: key(userRW, 5),
    access: .userRead, expectedCode: 0x25,
    expectedReason: .protectionKeyAccessDisabled(key: 5, supervisorKeys: false)),
  RightsCase(
    name: "PKU AD on another key: allowed",
    context: makeContext(pke: true, pkru: .init(accessDisabled: [5])), rights: key(userRW, 4),
    access: .userRead, expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "PKU AD with CR4.PKE=0: allowed",
    context: makeContext(pke: false, pkru: .init(accessDisabled: [5])), rights: key(userRW, 5),
    access: .userRead, expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "PKU AD: fetches are not subject to keys",
    context: makeContext(pke: true, pkru: .init(accessDisabled: [5])), rights: key(userRW, 5),
    access: .userFetch, expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "PKU AD: supervisor read of user page faults (SMAP off)",
    context: makeContext(pke: true, pkru: .init(accessDisabled: [5])), rights: key(userRW, 5),
    access: .supervisorRead, expectedCode: 0x21,
    expectedReason: .protectionKeyAccessDisabled(key: 5, supervisorKeys: false)),
  RightsCase(
    name: "PKU WD: user read allowed",
    context: makeContext(pke: true, pkru: .init(writeDisabled: [5])), rights: key(userRW, 5),
    access: .userRead, expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "PKU WD: user write faults",
    context: makeContext(pke: true, pkru: .init(writeDisabled: [5])), rights: key(userRW, 5),
    access: .userWrite, expectedCode: 0x27,
    expectedReason: .protectionKeyWriteDisabled(key: 5, supervisorKeys: false)),
  RightsCase(
    name: "PKU WD, WP=0: supervisor write to user page allowed",
    context: makeContext(wp: false, pke: true, pkru: .init(writeDisabled: [5])), rights: key(userRW, 5),
    access: .supervisorWrite, expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "PKU WD, WP=1: supervisor write to user page faults",
    context: makeContext(wp: true, pke: true, pkru: .init(writeDisabled: [5])), rights: key(userRW, 5),
    access: .supervisorWrite, expectedCode: 0x23,
    expectedReason: .protectionKeyWriteDisabled(key: 5, supervisorKeys: false)),
  RightsCase(
    name: "PKU WD and read-only: PK flag set alongside the R/W violation",
    context: makeContext(pke: true, pkru: .init(writeDisabled: [5])), rights: key(userRO, 5),
    access: .userWrite, expectedCode: 0x27, expectedReason: .writeToReadOnlyPage),
  RightsCase(
    name: "PKU does not apply to supervisor pages",
    context: makeContext(pke: true, pkru: .init(accessDisabled: [5])), rights: key(supervisorRW, 5),
    access: .supervisorRead, expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "PKU does not exist under PAE paging",
    context: makeContext(.pae, pke: true, pkru: .init(accessDisabled: [0])), rights: userRW,
    access: .userRead, expectedCode: nil, expectedReason: nil),
  // PKS
  RightsCase(
    name: "PKS AD: supervisor read of supervisor page faults",
    context: makeContext(pks: true, pkrs: .init(accessDisabled: [3])), rights: key(supervisorRW, 3),
    access: .supervisorRead, expectedCode: 0x21,
    expectedReason: .protectionKeyAccessDisabled(key: 3, supervisorKeys: true)),
  RightsCase(
    name: "PKS WD, WP=1: supervisor write faults",
    context: makeContext(wp: true, pks: true, pkrs: .init(writeDisabled: [3])), rights: key(supervisorRW, 3),
    access: .supervisorWrite, expectedCode: 0x23,
    expectedReason: .protectionKeyWriteDisabled(key: 3, supervisorKeys: true)),
  RightsCase(
    name: "PKS WD, WP=0: supervisor write allowed",
    context: makeContext(wp: false, pks: true, pkrs: .init(writeDisabled: [3])), rights: key(supervisorRW, 3),
    access: .supervisorWrite, expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "PKS does not apply to user pages",
    context: makeContext(pks: true, pkrs: .init(accessDisabled: [3])), rights: key(userRW, 3),
    access: .supervisorRead, expectedCode: nil, expectedReason: nil),
  RightsCase(
    name: "PKS with CR4.PKS=0: allowed",
    context: makeContext(pks: false, pkrs: .init(accessDisabled: [3])), rights: key(supervisorRW, 3),
    access: .supervisorRead, expectedCode: nil, expectedReason: nil),
]

@Suite("Access rights (SDM 4.6) and error codes (SDM 4.7)")
struct AccessRightsTests {
  @Test(arguments: rightsCases)
  func rule(_ row: RightsCase) {
    let result = checkAccess(row.access, rights: row.rights, context: row.context)
    if let code = row.expectedCode {
      guard case .denied(let errorCode, let reason) = result else {
        Issue.record("expected a fault, got \(result)")
        return
      }
      #expect(errorCode.rawValue == code, "error code \(errorCode)")
      #expect(reason == row.expectedReason)
    } else {
      #expect(result == .allowed)
    }
  }

  @Test func errorCodeBuilderBits() {
    let context = makeContext(nxe: true)
    #expect(PageFaultErrorCode(.notPresent, access: .userWrite, rights: nil, context: context).rawValue == 0x6)
    #expect(PageFaultErrorCode(.notPresent, access: .supervisorRead, rights: nil, context: context).rawValue == 0x0)
    #expect(PageFaultErrorCode(.reservedBit, access: .supervisorRead, rights: nil, context: context).rawValue == 0x9)
    #expect(PageFaultErrorCode(.notPresent, access: .userFetch, rights: nil, context: context).rawValue == 0x14)
    #expect(PageFaultErrorCode(.notPresent, access: .userFetch, rights: nil, context: makeContext()).rawValue == 0x4)
    // PK is never set without a translation (not-present / RSVD).
    let pk = makeContext(pke: true, pkru: .init(accessDisabled: [0]))
    #expect(PageFaultErrorCode(.reservedBit, access: .userRead, rights: userRW, context: pk).rawValue == 0xD)
    #expect(PageFaultErrorCode(.accessRights, access: .userRead, rights: userRW, context: pk).rawValue == 0x25)
    #expect("\(PageFaultErrorCode(rawValue: 0x27))" == "0x27 (P W U PK)")
  }

  @Test func protectionKeyRightsLayout() {
    let rights = ProtectionKeyRights(accessDisabled: [1], writeDisabled: [15])
    #expect(rights.rawValue == (1 << 2) | (1 << 31))
    #expect(rights.accessDisabled(1) && !rights.writeDisabled(1))
    #expect(rights.writeDisabled(15) && !rights.accessDisabled(15))
    #expect(!rights.accessDisabled(0))
  }
}
