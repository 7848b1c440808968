// The core's notes: NT_PRSTATUS, QEMU's CPU state and mmlab's own (see
// CoreFile), written from and read back into `RegisterState`.
extension CoreLayout {
  static func notes(_ registers: RegisterState, debugBlockAddress: UInt64?) -> [UInt8] {
    var notes = LittleEndianBytes()
    notes.note(name: "CORE", type: prstatusType, descriptor: prstatus(registers))
    notes.note(name: "QEMU", type: qemuType, descriptor: qemuState(registers))
    notes.note(name: "MMLAB", type: mmlabType, descriptor: mmlabState(registers, debugBlockAddress: debugBlockAddress))
    return notes.bytes
  }

  static func prstatus(_ r: RegisterState) -> [UInt8] {
    var d = LittleEndianBytes()
    d.zeroes(prstatusPID)
    d.u32(1)  // pr_pid: vCPU index + 1, as QEMU numbers them
    d.zeroes(prstatusRegisters - d.bytes.count)
    for register in UserRegister.allCases {
      let value: UInt64
      switch register {
      case .r15: value = r.r15
      case .r14: value = r.r14
      case .r13: value = r.r13
      case .r12: value = r.r12
      case .rbp: value = r.rbp
      case .rbx: value = r.rbx
      case .r11: value = r.r11
      case .r10: value = r.r10
      case .r9: value = r.r9
      case .r8: value = r.r8
      case .rax: value = r.rax
      case .rcx: value = r.rcx
      case .rdx: value = r.rdx
      case .rsi: value = r.rsi
      case .rdi: value = r.rdi
      case .rip: value = r.rip
      case .cs: value = UInt64(r.cs)
      case .eflags: value = r.rflags
      case .rsp: value = r.rsp
      case .origRAX, .ss, .fsBase, .gsBase, .ds, .es, .fs, .gs: value = 0
      }
      d.u64(value)
    }
    d.zeroes(prstatusSize - d.bytes.count)  // pr_fpvalid and padding
    return d.bytes
  }

  static func qemuState(_ r: RegisterState) -> [UInt8] {
    var d = LittleEndianBytes()
    d.u32(qemuVersion)
    d.u32(UInt32(qemuSize))
    for value in [
      r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15,
      r.rip, r.rflags,
    ] {
      d.u64(value)
    }
    // CS is the only segment RegisterState has; its flags are synthesized from CPL and EFER.LMA.
    var flags = descriptorPresent | descriptorCode | UInt32(r.cpl & 3) << descriptorDPLShift
    if r.efer & eferLMA != 0 { flags |= descriptorLong }
    d.u32(UInt32(r.cs))
    d.u32(0xFFFF_FFFF)  // limit
    d.u32(flags)
    d.u32(0)
    d.u64(0)
    d.zeroes(9 * qemuSegmentSize)  // ds es fs gs ss ldt tr gdt idt
    for value in [r.cr0, 0, r.cr2, r.cr3, r.cr4] { d.u64(value) }
    d.u64(0)  // kernel_gs_base
    return d.bytes
  }

  static func mmlabState(_ r: RegisterState, debugBlockAddress: UInt64?) -> [UInt8] {
    var d = LittleEndianBytes()
    d.u32(mmlabVersion)
    d.u32(UInt32(mmlabSize))
    for value in [
      r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15,
      r.rip, r.rflags, r.cr0, r.cr2, r.cr3, r.cr4, r.efer,
    ] {
      d.u64(value)
    }
    d.u16(r.cs)
    d.u8(r.cpl)
    d.zeroes(5)
    d.u64(debugBlockAddress ?? 0)
    return d.bytes
  }

  /// The first vCPU's registers from the best note there is: MMLAB, else QEMU, else NT_PRSTATUS.
  static func registers(from notes: [ELFNote], _ bytes: ELFBytes, path: String) throws(CoreFileError) -> (
    RegisterState, LoadedCore.RegisterSource?, Int, UInt64?
  ) {
    let mmlab = notes.filter { $0.isOwned(by: "MMLAB") && $0.type == mmlabType }
    let qemu = notes.filter { $0.isOwned(by: "QEMU") && $0.type == qemuType }
    let prstatus = notes.filter { $0.isOwned(by: "CORE") && $0.type == prstatusType }
    func malformed(_ why: String) -> CoreFileError { CoreFileError(path: path, .malformed(why)) }

    if let note = mmlab.first {
      let at = note.descriptor.lowerBound
      guard note.descriptor.count >= 8 else {
        throw malformed("the MMLAB note is \(note.descriptor.count) bytes; it needs at least 8")
      }
      let version = bytes.u32(at)
      let size = Int(bytes.u32(at + 4))
      guard version >= 1, size >= mmlabVersion1Size, size <= note.descriptor.count else {
        throw malformed(
          "the MMLAB note has version \(version) and size \(size) in a \(note.descriptor.count)-byte descriptor; expected version 1 or later and at least \(mmlabVersion1Size) bytes"
        )
      }
      var r = RegisterState()
      let u64s = (0..<23).map { bytes.u64(at + 8 + 8 * $0) }
      (r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp) = (
        u64s[0], u64s[1], u64s[2], u64s[3], u64s[4], u64s[5], u64s[6], u64s[7]
      )
      (r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15) = (
        u64s[8], u64s[9], u64s[10], u64s[11], u64s[12], u64s[13], u64s[14], u64s[15]
      )
      (r.rip, r.rflags, r.cr0, r.cr2, r.cr3, r.cr4, r.efer) = (
        u64s[16], u64s[17], u64s[18], u64s[19], u64s[20], u64s[21], u64s[22]
      )
      r.cs = bytes.u16(at + 192)
      r.cpl = bytes.u8(at + 194)
      let debugBlock = version >= 2 && size >= mmlabSize ? bytes.u64(at + mmlabVersion1Size) : 0
      return (r, .mmlab, max(mmlab.count, prstatus.count), debugBlock == 0 ? nil : debugBlock)
    }

    if let note = qemu.first {
      let at = note.descriptor.lowerBound
      guard note.descriptor.count >= qemuMinimumSize else {
        throw malformed(
          "the QEMU note is \(note.descriptor.count) bytes; QEMUCPUState needs at least \(qemuMinimumSize)")
      }
      let version = bytes.u32(at)
      guard version == qemuVersion else {
        throw malformed("the QEMU note has QEMUCPUState version \(version); mmlab reads version 1")
      }
      var r = RegisterState()
      let u64s = (0..<18).map { bytes.u64(at + 8 + 8 * $0) }
      (r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp) = (
        u64s[0], u64s[1], u64s[2], u64s[3], u64s[4], u64s[5], u64s[6], u64s[7]
      )
      (r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15) = (
        u64s[8], u64s[9], u64s[10], u64s[11], u64s[12], u64s[13], u64s[14], u64s[15]
      )
      (r.rip, r.rflags) = (u64s[16], u64s[17])
      let selector = bytes.u32(at + qemuSegments)
      let flags = bytes.u32(at + qemuSegments + 8)
      r.cs = UInt16(truncatingIfNeeded: selector)
      // In long and protected mode CPL is CS.DPL; without descriptor flags, use the selector's RPL.
      r.cpl = UInt8(flags & descriptorPresent != 0 ? (flags >> descriptorDPLShift) & 3 : selector & 3)
      r.cr0 = bytes.u64(at + qemuControlRegisters)
      r.cr2 = bytes.u64(at + qemuControlRegisters + 16)
      r.cr3 = bytes.u64(at + qemuControlRegisters + 24)
      r.cr4 = bytes.u64(at + qemuControlRegisters + 32)
      return (r, .qemu, max(qemu.count, prstatus.count), nil)
    }

    if let note = prstatus.first {
      let at = note.descriptor.lowerBound + prstatusRegisters
      let needed = prstatusRegisters + UserRegister.allCases.count * 8
      guard note.descriptor.count >= needed else {
        throw malformed(
          "the NT_PRSTATUS note is \(note.descriptor.count) bytes; x86-64's elf_prstatus needs at least \(needed)")
      }
      func value(_ register: UserRegister) -> UInt64 { bytes.u64(at + 8 * register.rawValue) }
      var r = RegisterState()
      (r.rax, r.rbx, r.rcx, r.rdx) = (value(.rax), value(.rbx), value(.rcx), value(.rdx))
      (r.rsi, r.rdi, r.rsp, r.rbp) = (value(.rsi), value(.rdi), value(.rsp), value(.rbp))
      (r.r8, r.r9, r.r10, r.r11) = (value(.r8), value(.r9), value(.r10), value(.r11))
      (r.r12, r.r13, r.r14, r.r15) = (value(.r12), value(.r13), value(.r14), value(.r15))
      (r.rip, r.rflags) = (value(.rip), value(.eflags))
      r.cs = UInt16(truncatingIfNeeded: value(.cs))
      r.cpl = UInt8(r.cs & 3)
      return (r, .prstatus, prstatus.count, nil)
    }
    return (RegisterState(), nil, 0, nil)
  }
}
