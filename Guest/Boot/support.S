// Interrupt entry stubs, the exception table, and small helpers that need
// instructions Swift cannot express.

// Trap frame built on the IST stack, lowest address first:
//   r15 r14 r13 r12 r11 r10 r9 r8 rbp rdi rsi rdx rcx rbx rax,
//   vector, error code, rip, cs, rflags, rsp, ss (pushed by the CPU).
// Guest/Kernel/Traps.swift mirrors this layout in `TrapFrame`.

// 256 entry stubs of 16 bytes each: `isr_stubs + 16 * vector`. Vectors whose
// exception pushes an error code (8 10 11 12 13 14 17 21 29 30) skip the dummy.
.text
.p2align 4
.globl isr_stubs
isr_stubs:
.set vector, 0
.rept 256
  .p2align 4
  .if vector == 6
  jmp ud_entry                          // the script gate first (below)
  .elseif (vector == 8) || (vector == 10) || (vector == 11) || (vector == 12) || (vector == 13) || (vector == 14) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
  .else
  pushq $0
  .endif
  pushq $vector
  jmp isr_common
  .set vector, vector + 1
.endr

isr_common:
  // Fast path: a fault at an instruction listed in the exception table
  // resumes at its fixup with the vector in %rcx and the error code in %rdx,
  // without the general handler (which kvm-pvm runs in its emulator).
  // Stack now: vector, error code, RIP, CS, RFLAGS, RSP, SS.
  push %rax                           // the first two pushes of the trap frame
  push %rbx
  // The conformance runner's accesses (Guest/Boot/conformance.S) come first.
  cmpq $0, conformance_active(%rip)
  jne conformance_trap
  // The end of a deprivileged pass (its UD2 at deprivileged_exit) goes
  // straight back to the kernel with the user's RAX.
  cmpq $6, 16(%rsp)
  jne 7f
  lea deprivileged_exit(%rip), %rax
  cmp %rax, 32(%rsp)
  jne 7f
  pop %rbx
  pop %rax
  jmp deprivileged_resume
7:
  // Bench fast path: a prepared fault gets its PTE stored and nothing else
  // (the platform's bare #PF round trip, `mmlab bench`).
  cmpq $14, 16(%rsp)
  jne 6f
  mov prepared_fault_count(%rip), %rbx
  test %rbx, %rbx
  jz 6f
  mov %cr2, %rax
  sub prepared_fault_base(%rip), %rax
  shr $12, %rax
  cmp %rbx, %rax
  jae 6f
  shl $4, %rax
  lea prepared_fault_ptes(%rip), %rbx
  add %rax, %rbx
  mov 8(%rbx), %rax
  mov (%rbx), %rbx
  mov %rax, (%rbx)
  pop %rbx
  pop %rax
  add $16, %rsp
  iretq
6:
  lea __ex_table_start(%rip), %rbx
1:
  lea __ex_table_end(%rip), %rax
  cmp %rax, %rbx
  jae 3f
  mov (%rbx), %rax
  cmp %rax, 32(%rsp)                  // the faulting RIP
  je 2f
  add $16, %rbx
  jmp 1b
2:
  mov 8(%rbx), %rax
  mov %rax, 32(%rsp)                  // resume at the fixup
  mov 16(%rsp), %rcx                  // vector
  mov 24(%rsp), %rdx                  // error code
  pop %rbx
  pop %rax
  add $16, %rsp
  iretq
// The rest of the trap frame (RAX and RBX are pushed), a call of \handler
// with it, and the way back to where the trap came from.
.macro full_frame_call handler
  push %rcx
  push %rdx
  push %rsi
  push %rdi
  push %rbp
  push %r8
  push %r9
  push %r10
  push %r11
  push %r12
  push %r13
  push %r14
  push %r15
  mov %rsp, %rdi                      // TrapFrame *
  mov %rsp, %rbx                      // callee-saved: the frame
  and $-16, %rsp                      // the ABI's call alignment
  cld
  call \handler                       // no FPU state to save: the kernel is built without SSE
  mov %rbx, %rsp
  pop %r15
  pop %r14
  pop %r13
  pop %r12
  pop %r11
  pop %r10
  pop %r9
  pop %r8
  pop %rbp
  pop %rdi
  pop %rsi
  pop %rdx
  pop %rcx
  pop %rbx
  pop %rax
  add $16, %rsp                       // vector and error code
  iretq
.endm

3:                                    // not in the table: the full frame and trap_dispatch
.globl isr_general
isr_general:
  full_frame_call trap_dispatch

// #UD. The script interpreter's gate (GuestABI ScriptGate: a UD2 at the
// user address in script_gate_address) is most of a script's kernel
// entries, and on kvm-pvm every supervisor memory access here is emulated,
// so a call touches as little memory as it can: the operand registers are
// script_call's first six arguments as they stand (R10, R11 and the call go
// on the stack), the registers it clobbers are all out-parameter registers
// of the gate, and its out-parameters come back from script_outputs, only as
// many as the answer counts (its bits 32 and up). Every other #UD, and the
// gate's other requests, take the general paths.
ud_entry:                               // stack: RIP, CS, RFLAGS, RSP, SS
  push %rax
  mov 8(%rsp), %rax
  cmp script_gate_address(%rip), %rax
  jne 1f
  addq $2, 8(%rsp)                      // resume after the UD2
  mov (%rsp), %rax
  cmp $0x10000, %rax                    // ScriptGate.nextBatch: the first request
  jae 2f
  sub $8, %rsp                          // the call's 16-byte alignment
  push %rax
  push %r11
  push %r10
  call script_call
  add $32, %rsp
  mov %rax, (%rsp)                      // the answer, for the pop below
  shr $32, %rax
  jz 3f
  mov script_outputs + 0(%rip), %rdi
  cmp $1, %eax
  je 3f
  mov script_outputs + 8(%rip), %rsi
  cmp $2, %eax
  je 3f
  mov script_outputs + 16(%rip), %rdx
  cmp $3, %eax
  je 3f
  mov script_outputs + 24(%rip), %rcx
  cmp $4, %eax
  je 3f
  mov script_outputs + 32(%rip), %r8
  cmp $5, %eax
  je 3f
  mov script_outputs + 40(%rip), %r9
  cmp $6, %eax
  je 3f
  mov script_outputs + 48(%rip), %r10
  cmp $7, %eax
  je 3f
  mov script_outputs + 56(%rip), %r11
3:
  pop %rax
  iretq
1:                                      // not the gate: as any other vector
  pop %rax
  pushq $0
  pushq $6
  jmp isr_common
2:                                      // a request: the frame script_gate takes
  pop %rax
  pushq $0
  pushq $6
  push %rax
  push %rbx

// The frame of the gate's requests (Guest/Kernel/ScriptInterpreter.swift
// `ScriptGateFrame`): the operand registers, under RBX and RAX; every one is
// restored but the ones script_gate answers in.
script_gate_entry:
  push %rcx
  push %rdx
  push %rsi
  push %rdi
  push %r8
  push %r9
  push %r10
  push %r11
  mov %rsp, %rdi                      // ScriptGateFrame *
  mov %rsp, %rbx
  and $-16, %rsp
  call script_gate
  mov %rbx, %rsp
  pop %r11
  pop %r10
  pop %r9
  pop %r8
  pop %rdi
  pop %rsi
  pop %rdx
  pop %rcx
  pop %rbx
  pop %rax
  add $16, %rsp
  iretq

.data
.p2align 3
// The user address of the interpreter's gate UD2 (Guest/Boot/script.S),
// set while a script runs; an address no UD2 can have otherwise.
.globl script_gate_address
script_gate_address: .quad -1

.bss
.p2align 6
// script_call's out-parameters (Guest/Kernel/ScriptInterpreter.swift), 8 words.
.globl script_outputs
script_outputs: .skip 64

.text
// uint64_t arch_probe_load(uint64_t address, uint8_t *vector)
.globl arch_probe_load
arch_probe_load:
  movb $0xFF, (%rsi)
1:
  movq (%rdi), %rax
  ret
2:
  movb %cl, (%rsi)                    // isr_common put the vector in %rcx
  xor %eax, %eax
  ret
.pushsection .ex_table, "a"
  .quad 1b, 2b
.popsection

// void arch_probe_store(uint64_t address, uint64_t value, uint8_t *vector)
.globl arch_probe_store
arch_probe_store:
  movb $0xFF, (%rdx)
1:
  movq %rsi, (%rdi)
  ret
2:
  movb %cl, (%rdx)
  ret
.pushsection .ex_table, "a"
  .quad 1b, 2b
.popsection



// Buffers whose addresses Swift needs (Arch.h accessors), each on a page of
// its own.
.bss
.p2align 12
.globl hypercall_request
hypercall_request: .skip 64
.globl console_line
console_line: .skip 256

.text
// Self-test helpers (GuestCommandLine.fault*): each faults on purpose.
.globl selftest_write_text
selftest_write_text:
  lea selftest_write_text(%rip), %rax
  movb $0xC3, (%rax)
  ret
.globl selftest_invalid_opcode
selftest_invalid_opcode:
  ud2
  ret
.globl selftest_execute_data
selftest_execute_data:
  lea selftest_data_ret(%rip), %rax
  call *%rax
  ret

.data
selftest_data_ret:
  .byte 0xC3

// Running code at CPL 3 (Guest/Kernel/Deprivileged.swift, Guest/Kernel/UserMode.swift).
// uint64_t arch_enter_user(uint64_t rip, uint64_t rsp, uint64_t exit,
//                          uint64_t arg0, uint64_t arg1, uint64_t arg2)
// Enters `rip(arg0, arg1, arg2)` at CPL 3 with IRETQ on the stack ending at
// `rsp`, its return address set to `exit`: a UD2 the trap handler recognises
// and turns into a return to `deprivileged_resume` at CPL 0 with the user's
// RAX, which is what this returns. The trap handler can end the run early the
// same way (a fault it will not resolve), with a status in RAX.
.text
.globl arch_enter_user
arch_enter_user:
  push %rbx
  push %rbp
  push %r12
  push %r13
  push %r14
  push %r15
  mov %rsp, deprivileged_return_rsp(%rip)
  and $-16, %rsi
  sub $8, %rsi                          // a call's alignment: RSP + 8 is 16-aligned
  mov %rdx, (%rsi)                      // return address: the exit trampoline
  pushq $0x23                           // SS: user data
  push %rsi                             // RSP
  pushq $0x2                            // RFLAGS: interrupts off, IOPL 0
  pushq $0x2b                           // CS: user code
  push %rdi                             // RIP
  mov %rcx, %rdi
  mov %r8, %rsi
  mov %r9, %rdx
  iretq

// The exit trampoline of kernel code run deprivileged during boot.
.globl deprivileged_exit
deprivileged_exit:
  ud2
.globl deprivileged_resume
deprivileged_resume:
  mov deprivileged_return_rsp(%rip), %rsp
  pop %r15
  pop %r14
  pop %r13
  pop %r12
  pop %rbp
  pop %rbx
  ret

// Writes the IDT gate of #UD (vector 6), the one the way back from CPL 3
// needs; the deprivileged boot pass fills the other gates.
.globl install_return_gate
install_return_gate:
  lea isr_stubs + 6 * 16(%rip), %rax
  mov %rax, %rcx
  and $0xFFFF, %ecx
  movabs $0x00008E0100080000, %rdx      // selector 0x08, IST 1, present interrupt gate
  or %rdx, %rcx
  mov %rax, %rdx
  shr $16, %rdx
  and $0xFFFF, %edx
  shl $48, %rdx
  or %rdx, %rcx
  mov %rcx, kernel_idt + 6 * 16(%rip)
  shr $32, %rax
  mov %rax, kernel_idt + 6 * 16 + 8(%rip)
  ret

.bss
.p2align 3
deprivileged_return_rsp: .skip 8

// User-mode code, on pages of their own mapped user-executable into every
// process at GuestABI's UserLayout.codeBase. Position-independent.
.section .user.text, "ax", @progbits
.p2align 12
// Return address of every user run: UD2 here ends the run (the kernel knows the address).
.globl user_exit
user_exit:
  ud2
// uint64_t user_touch_pages(uint64_t address, uint64_t pages, uint64_t write)
// Reads (write = 0) or writes the first qword of each page; returns 0.
.p2align 4
.globl user_touch_pages
user_touch_pages:
  test %rsi, %rsi
  jz 3f
1:
  test %rdx, %rdx
  jz 2f
  mov %rdi, (%rdi)                      // write: the address itself, easy to check from outside
  jmp 4f
2:
  mov (%rdi), %rax
4:
  add $4096, %rdi
  dec %rsi
  jnz 1b
3:
  xor %eax, %eax
  ret
// uint64_t user_time_touches(uint64_t address, uint64_t pages)
// Writes the first qword of each page and returns the TSC ticks it took.
.p2align 4
.globl user_time_touches
user_time_touches:
  lfence
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  mov %rax, %r8
1:
  test %rsi, %rsi
  jz 2f
  mov %rdi, (%rdi)
  add $4096, %rdi
  dec %rsi
  jmp 1b
2:
  lfence
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  sub %r8, %rax
  ret


.bss
.p2align 3
.globl prepared_fault_base, prepared_fault_count, prepared_fault_ptes
prepared_fault_base: .skip 8
prepared_fault_count: .skip 8
prepared_fault_ptes: .skip 512 * 8
