#if os(Linux)
  import CKVM
  import Glibc
  import GuestABI
  import Logging
  import Synchronization

  // How KVMMachine answers the guest: exits of KVM_RUN, port I/O, hypercalls and the console.
  extension KVMMachine {
    // MARK: Exits

    /// Handles the exit of the last KVM_RUN; a stop to report, or nil to run on.
    func handleExit() throws(MachineError) -> MachineStop? {
      // SAFETY: the kernel writes kvm_run only inside KVM_RUN, which has returned; the accessors read it in place.
      let run = virtualCPU.kvmRun
      let (rawReason, reason) = virtualCPU.exitReason
      switch reason {
      case .io:
        return try handlePortIO(run)
      case .hlt:
        return .shutdown(
          reason: "guest halted: HLT with no interrupt source to wake it (KVM_EXIT_HLT)", registers: try? registers())
      case .shutdown:
        return .shutdown(reason: "triple fault or shutdown (KVM_EXIT_SHUTDOWN)", registers: try? registers())
      case .internalError:
        return .shutdown(reason: internalErrorReason(run), registers: try? registers())
      case .failEntry:
        let code = ckvm_run_fail_entry_reason(run)
        return .shutdown(
          reason: "VM entry failed (KVM_EXIT_FAIL_ENTRY), hardware reason 0x\(String(code, radix: 16)) on CPU "
            + "\(ckvm_run_fail_entry_cpu(run)): the vCPU state is invalid for this host",
          registers: try? registers())
      case .mmio:
        let address = ckvm_run_mmio_phys_addr(run)
        if handleMMIO(run, address: address) { return nil }
        let kind = ckvm_run_mmio_is_write(run) != 0 ? "write" : "read"
        return .shutdown(
          reason: "unexpected MMIO \(kind) of \(ckvm_run_mmio_len(run)) bytes at guest physical "
            + "0x\(String(address, radix: 16)) (KVM_EXIT_MMIO): no RAM or device there",
          registers: try? registers())
      case .systemEvent:
        return .shutdown(
          reason: "system event \(ckvm_run_system_event_type(run)) (KVM_EXIT_SYSTEM_EVENT)", registers: try? registers()
        )
      case .intr:
        return nil  // a signal interrupted the guest; the watchdog check happens on EINTR
      default:
        let name = reason.map(\.description) ?? "unknown exit reason"
        throw .protocolViolation("unexpected KVM exit \(name) (\(rawReason))")
      }
    }

    func internalErrorReason(_ run: UnsafeMutablePointer<kvm_run>) -> String {
      let suberror = ckvm_run_internal_suberror(run)
      let what = KVMInternalError(rawValue: suberror)?.description ?? "suberror \(suberror)"
      let count = min(ckvm_run_internal_ndata(run), 16)
      let data = (0..<count).map { "0x" + String(ckvm_run_internal_data(run, $0), radix: 16) }
      var reason = "KVM internal error (KVM_EXIT_INTERNAL_ERROR): \(what)"
      // An emulation failure may carry the instruction (<linux/kvm.h> struct emulation_failure:
      // data[0] = flags, bit 0 = instruction bytes valid; then insn_size (1 byte) and 15 instruction bytes).
      if suberror == KVMInternalError.emulation.rawValue, count >= 3, ckvm_run_internal_data(run, 0) & 1 != 0 {
        let words = [ckvm_run_internal_data(run, 1), ckvm_run_internal_data(run, 2)]
        let raw = words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
        let size = min(Int(raw[0]), 15)
        let text = raw[1..<(1 + size)].map { ($0 < 0x10 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
        reason += " at the instruction bytes [\(text)]"
      } else if !data.isEmpty {
        reason += ", data [\(data.joined(separator: ", "))]"
      }
      if platform.hypervisor == .kvmPVM, suberror == KVMInternalError.emulation.rawValue {
        reason +=
          "; kvm-pvm emulates privileged instructions, and the instructions after them in a batch "
          + "(pvm_emul_batch), with KVM's emulator, which fails on INT n / INT3 and on instructions it does not "
          + "know (SSE arithmetic such as xorps, for one)"
      }
      return reason
    }

    func handlePortIO(_ run: UnsafeMutablePointer<kvm_run>) throws(MachineError) -> MachineStop? {
      let port = ckvm_run_io_port(run)
      let size = Int(ckvm_run_io_size(run))
      let count = Int(ckvm_run_io_count(run))
      let isOut = ckvm_run_io_direction(run) == UInt8(KVM_EXIT_IO_OUT)
      let offset = Int(ckvm_run_io_data_offset(run))
      // SAFETY: the data area is inside the run mapping; the guard below checks it before any access.
      let bytes = virtualCPU.runBytes
      guard [1, 2, 4].contains(size), count >= 1, offset >= 0, offset + size * count <= bytes.count else {
        throw .protocolViolation(
          "malformed KVM_EXIT_IO: port 0x\(String(port, radix: 16)), size \(size), count \(count)")
      }
      for element in 0..<count {
        let at = offset + element * size
        if isOut {
          var value: UInt32 = 0
          for byte in 0..<size { value |= UInt32(bytes[at + byte]) << (8 * byte) }
          if let stop = try portOut(port, size: size, value: value) { return stop }
        } else {
          let value = portIn(port, size: size)
          for byte in 0..<size { bytes[at + byte] = UInt8(truncatingIfNeeded: value >> (8 * byte)) }
        }
      }
      return nil
    }

    /// An access to a disk's BAR: served in place (a notify runs the requests
    /// before the vCPU resumes); false where no device decodes the address.
    func handleMMIO(_ run: UnsafeMutablePointer<kvm_run>, address: UInt64) -> Bool {
      let size = Int(ckvm_run_mmio_len(run))
      guard [1, 2, 4, 8].contains(size), let (disk, offset) = ports.pci.decode(address) else { return false }
      // SAFETY: kvm_run.mmio.data is 8 bytes inside the run mapping; `size` is at most 8.
      let data = ckvm_run_mmio_data(run)!
      if ckvm_run_mmio_is_write(run) != 0 {
        var value: UInt64 = 0
        for byte in 0..<size { value |= UInt64(data[byte]) << (8 * byte) }
        disk.write(offset: offset, size: size, value: value, memory: memory)
      } else {
        let value = disk.read(offset: offset, size: size)
        for byte in 0..<size { data[byte] = UInt8(truncatingIfNeeded: value >> (8 * byte)) }
      }
      return true
    }

    func portIn(_ port: UInt16, size: Int) -> UInt32 {
      ports.read(port, size: size)
    }

    func portOut(_ port: UInt16, size: Int, value: UInt32) throws(MachineError) -> MachineStop? {
      switch try ports.write(port, size: size, value: value, deliver: console) {
      case .handled: return nil
      case .exit(let status): return .exited(status: status, exception: lastException)
      case .hypercall(let address): return try hypercall(at: address)
      }
    }

    // MARK: Hypercalls

    func hypercall(at address: UInt64) throws(MachineError) -> MachineStop? {
      let call = try HypercallCall(at: address, in: memory)
      Self.logger.trace(
        "hypercall", metadata: ["kind": "\(call.kind)", "arg0": "\(call.arg0)", "arg1": "\(call.arg1)"])
      if try reports.record(call, memory: memory) { return nil }
      switch call.kind {
      case .print:
        appendConsole(try memory.checkedBytes(at: call.arg0, count: call.arg1, limit: 1 << 20, what: "print text"))
        return nil
      case .checkpoint:
        let name = try call.checkpointName(in: memory)
        pendingCheckpointRequest = address
        return .checkpoint(Checkpoint(code: call.arg0, name: name))
      default:
        return .exited(status: try call.exitStatus(), exception: reports.lastException)
      }
    }

    // MARK: Console

    /// Text the guest printed (a hypercall's), delivered line by line.
    func appendConsole(_ bytes: [UInt8]) {
      if let text = ports.console.append(bytes) { console(text) }
    }

    /// Delivers what is buffered, complete line or not (at every stop).
    func flushConsole() {
      if let text = ports.console.flush() { console(text) }
    }
  }
#endif
