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
  .if (vector == 8) || (vector == 10) || (vector == 11) || (vector == 12) || (vector == 13) || (vector == 14) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
  .else
  pushq $0
  .endif
  pushq $vector
  jmp isr_common
  .set vector, vector + 1
.endr

isr_common:
  push %rax
  push %rbx
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
  call trap_dispatch                  // no FPU state to save: the kernel is built without SSE
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

.text
// uint64_t arch_probe_load(uint64_t address, uint8_t *vector)
.globl arch_probe_load
arch_probe_load:
  movb $0xFF, (%rsi)
1:
  movq (%rdi), %rax
  ret
2:
  movb %cl, (%rsi)                    // trap_dispatch put the vector in %rcx
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

// void arch_reload_segments(uint16_t code, uint16_t data)
.globl arch_reload_segments
arch_reload_segments:
  mov %esi, %ds
  mov %esi, %es
  mov %esi, %ss
  xor %eax, %eax
  mov %eax, %fs
  mov %eax, %gs
  movzwq %di, %rdi
  lea 1f(%rip), %rax
  push %rdi
  push %rax
  lretq
1:
  ret

.bss
.p2align 12
// Four IST stacks of 16 KiB: 1 exceptions, 2 double fault, 3 NMI, 4 machine check.
.globl ist_stacks
ist_stacks: .skip 4 * 16384
.globl ist_stacks_top
ist_stacks_top:

// Kernel tables and buffers whose addresses Swift needs (Arch.h accessors).
// The descriptor tables get pages of their own: kvm-pvm write-protects the
// pages holding the live GDT, IDT and TSS and emulates every write to them,
// and its emulator knows no SSE, which Swift uses for ordinary stores.
.bss
.p2align 12
.globl kernel_idt
kernel_idt: .skip 4096
.globl kernel_gdt
kernel_gdt: .skip 128
.globl kernel_tss
.p2align 4
kernel_tss: .skip 128
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
