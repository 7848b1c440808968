/// QEMU's `info registers` (HMP) as a `RegisterState`: "RAX=0000000000000000"
/// pairs, "RIP=... RFL=...", "CS =0008 ...", "CR0=... CR2=... CR3=... CR4=...",
/// "EFER=...".
enum QEMURegisters {
  static func parse(_ text: String) throws(MachineError) -> RegisterState {
    var values: [String: UInt64] = [:]
    var cs: UInt16?
    for line in text.split(whereSeparator: \.isNewline) {
      if line.hasPrefix("CS =") {
        cs = UInt16(line.dropFirst(4).prefix(4), radix: 16)
        continue
      }
      for token in line.split(separator: " ") {
        let parts = token.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, let value = UInt64(parts[1], radix: 16) else { continue }
        values[String(parts[0])] = value
      }
    }
    guard let rip = values["RIP"], let cr3 = values["CR3"] else {
      throw .protocolViolation("QEMU's `info registers` had no RIP or CR3: \(text.prefix(200))")
    }
    var state = RegisterState()
    state.rax = values["RAX"] ?? 0
    state.rbx = values["RBX"] ?? 0
    state.rcx = values["RCX"] ?? 0
    state.rdx = values["RDX"] ?? 0
    state.rsi = values["RSI"] ?? 0
    state.rdi = values["RDI"] ?? 0
    state.rsp = values["RSP"] ?? 0
    state.rbp = values["RBP"] ?? 0
    state.r8 = values["R8"] ?? 0
    state.r9 = values["R9"] ?? 0
    state.r10 = values["R10"] ?? 0
    state.r11 = values["R11"] ?? 0
    state.r12 = values["R12"] ?? 0
    state.r13 = values["R13"] ?? 0
    state.r14 = values["R14"] ?? 0
    state.r15 = values["R15"] ?? 0
    state.rip = rip
    state.rflags = values["RFL"] ?? 0
    state.cr0 = values["CR0"] ?? 0
    state.cr2 = values["CR2"] ?? 0
    state.cr3 = cr3
    state.cr4 = values["CR4"] ?? 0
    state.efer = values["EFER"] ?? 0
    state.cs = cs ?? 0
    state.cpl = UInt8((cs ?? 0) & 3)
    return state
  }
}
