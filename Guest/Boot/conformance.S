// The conformance runner's access phase (GuestABI ConformanceABI). Guest/Kernel/
// Conformance.swift builds a block's tables and access list at CPL 3; this
// loads the block's CR3 and controls, performs every access (at CPL 3 for user
// cases, natively on kvm-pvm; at CPL 0 otherwise) and records each fault in
// the case's result record from the trap fast path below, without the general
// trap handler (which kvm-pvm would emulate instruction by instruction).

#define MSR_EFER 0xC0000080
#define CR4_PGE (1 << 7)

#include "ConformanceRun.h"
#define CR4_PKE (1 << 22)

// GuestABI's numbers, copied by hand (Tests/ConformanceTests/GuestAssemblyLayoutTests
// compares every one): the result record (ConformanceResultRecord), its
// attempts, the access-list entry (ConformanceAccessEntry) and the access
// word's bits (ConformanceAccessWord).
#define RESULT_SIZE 88
#define RESULT_ATTEMPTS 8
#define ATTEMPT_SIZE_SHIFT 4
#define ATTEMPT_VECTOR 0
#define ATTEMPT_ERROR_CODE 4
#define ATTEMPT_FAULT_ADDRESS 8

// Access list entries (Guest/Kernel/ConformanceRunner.swift writes them): the
// linear address, the access word (GuestABI ConformanceAccessWord), and two
// arguments: for a tlb case the leaf entry's kernel address and its new
// value; for a control-write case the register and the bits to set (the
// address word holds the bits to clear). The loop leaves what the second
// attempt read (or the register after the write) in the first argument,
// once the mutation has used it.
#define ENTRY_SIZE 32
#define ENTRY_ADDRESS 0
#define ENTRY_WORD 8
#define ENTRY_ARG0 16
#define ENTRY_ARG1 24
#define WORD_MUTATE 18
#define WORD_CONTROL 24

// The access loop, in kernel text and again in user text. In:
//   %r13 = access list, %r15 = its end, %r12 = the first case's result
//   record, %r14 = the stack pointer to come back to after a fault.
// Per attempt, %rbp is the attempt number: the trap fast path records a fault
// at %r12 + 8 + 16 * %rbp and resumes at FIXUP with every register intact.
// MUTATE changes a tlb case's leaf and invalidates before the second attempt;
// CONTROL writes the register of a control-write case.
.macro ACCESS_LOOP fixup, done, mutate, control
1:
  cmp %r15, %r13
  jae \done
  xor %ebp, %ebp
2:
  mov ENTRY_ADDRESS(%r13), %rdi
  mov ENTRY_WORD(%r13), %rbx
  bt $WORD_CONTROL, %rbx
  jnc 3f
  \control
  jmp \fixup
3:
  test %ebp, %ebp
  jz 7f
  bt $WORD_MUTATE, %rbx
  jnc 7f
  \mutate
7:
  mov %rbx, %rax
  and $3, %eax
  cmp $1, %eax
  je 4f
  cmp $2, %eax
  je 5f
  mov (%rdi), %rax                      // read
  test %ebp, %ebp                       // the second attempt's value is kept:
  jz \fixup                             // the first's would overwrite the mutation's address
  mov %rax, ENTRY_ARG0(%r13)
  jmp \fixup
4:
  mov %rax, (%rdi)                      // write
  jmp \fixup
5:
  call *%rdi                            // fetch: the target page holds a RET
\fixup:
  mov %r14, %rsp
  inc %ebp
  test $4, %bl                          // twice?
  jz 6f
  cmp $2, %ebp
  jb 2b
6:
  add $RESULT_SIZE, %r12
  add $ENTRY_SIZE, %r13
  jmp 1b
.endm

.macro KERNEL_MUTATE
  call conformance_mutate
.endm
.macro USER_MUTATE
.globl conformance_user_mutate
conformance_user_mutate:
  ud2                                   // conformance_trap calls conformance_mutate
.endm
.macro KERNEL_CONTROL
  call conformance_control_write
.endm
.macro USER_CONTROL
  mov %cr0, %rax                        // must raise #GP(0) at CPL 3
  mov %rax, %cr0
.endm

.text
// void conformance_run(const struct ConformanceRun *run)
// Runs one block. Only from the boot tables' CR3 (the kernel's own tables set
// NX bits, which are reserved while a block runs with EFER.NXE clear); the
// block's root maps the kernel supervisor-only and without NX, so this code,
// its stack and the trap path work under every control setting.
.globl conformance_run
conformance_run:
  push %rbx
  push %rbp
  push %r12
  push %r13
  push %r14
  push %r15
  mov %rdi, %rbx
  mov %rsp, conformance_kernel_rsp(%rip)
  mov %cr3, %rax
  mov %rax, saved_cr3(%rip)
  mov %cr0, %rax
  mov %rax, saved_cr0(%rip)
  mov %cr4, %rax
  mov %rax, saved_cr4(%rip)
  mov $MSR_EFER, %ecx
  rdmsr
  shl $32, %rdx
  or %rdx, %rax
  mov %rax, saved_efer(%rip)
  mov RUN_RESULTS(%rbx), %rax
  mov %rax, conformance_results(%rip)
  mov RUN_COUNT(%rbx), %rcx
  imul $RESULT_SIZE, %rcx
  add %rcx, %rax
  mov %rax, conformance_results_end(%rip)
  mov RUN_USER_FIXUP(%rbx), %rax
  mov %rax, user_fixup_address(%rip)
  mov RUN_USER_DONE(%rbx), %rax
  mov %rax, user_done_address(%rip)
  mov RUN_USER_MUTATE(%rbx), %rax
  mov %rax, user_mutate_address(%rip)
  // Clearing PGE flushes global translations too; then the block's root.
  mov saved_cr4(%rip), %rax
  and $~CR4_PGE, %rax
  mov %rax, %cr4
  mov RUN_ROOT(%rbx), %rax
  mov %rax, %cr3
  mov RUN_EFER(%rbx), %rax
  mov %rax, %rdx
  shr $32, %rdx
  mov $MSR_EFER, %ecx
  wrmsr
  mov RUN_CR0(%rbx), %rax
  mov %rax, %cr0
  mov RUN_CR4(%rbx), %rax
  mov %rax, %cr4
  test $CR4_PKE, %eax
  jz 1f
  mov RUN_PKRU(%rbx), %eax
  xor %ecx, %ecx
  xor %edx, %edx
  wrpkru
1:
  mov RUN_ACCESSES(%rbx), %r13
  mov %r13, accesses_kernel(%rip)
  mov RUN_USER_ACCESSES(%rbx), %rax
  mov %rax, accesses_user(%rip)
  mov RUN_COUNT(%rbx), %r15
  shl $5, %r15
  add %r13, %r15
  mov RUN_RESULTS(%rbx), %r12
  movq $1, conformance_active(%rip)
  cmpq $0, RUN_USER_MODE(%rbx)
  jne conformance_enter_user
  pushq RUN_RFLAGS(%rbx)
  popfq
  mov %rsp, %r14
  ACCESS_LOOP conformance_kernel_fixup, conformance_kernel_done, KERNEL_MUTATE, KERNEL_CONTROL
conformance_kernel_done:
  jmp conformance_finish

conformance_enter_user:
  mov RUN_USER_ACCESSES(%rbx), %r13
  mov RUN_COUNT(%rbx), %r15
  shl $5, %r15
  add %r13, %r15
  pushq $0x23                           // SS: user data
  pushq RUN_USER_STACK(%rbx)
  pushq $0x2                            // RFLAGS: interrupts off
  pushq $0x2b                           // CS: user code
  pushq RUN_USER_LOOP(%rbx)
  iretq

// The user loop's UD2 at conformance_user_done lands here (from conformance_trap).
conformance_user_returned:
  mov conformance_kernel_rsp(%rip), %rsp
conformance_finish:
  pushq $0x2
  popfq
  movq $0, conformance_active(%rip)
  // SMEP, SMAP and PCIDE off before the boot tables (all user pages) return.
  mov saved_cr4(%rip), %rax
  and $~CR4_PGE, %rax
  mov %rax, %cr4
  mov saved_efer(%rip), %rax
  mov %rax, %rdx
  shr $32, %rdx
  mov $MSR_EFER, %ecx
  wrmsr
  mov saved_cr3(%rip), %rax
  mov %rax, %cr3
  mov saved_cr0(%rip), %rax
  mov %rax, %cr0
  mov saved_cr4(%rip), %rax
  mov %rax, %cr4
  pop %r15
  pop %r14
  pop %r13
  pop %r12
  pop %rbp
  pop %rbx
  ret

// Every trap while a block runs comes here from isr_common with %rax and %rbx
// pushed. The user loop's end returns to the kernel; a fault of an access is
// recorded in the current attempt's result and the loop resumes at its fixup.
// Anything else (a record pointer outside the block's results) is not ours:
// the general handler reports it.
.globl conformance_trap
conformance_trap:
  mov 16(%rsp), %rax                    // vector
  cmp $6, %rax
  jne 1f
  mov 32(%rsp), %rbx
  cmp user_done_address(%rip), %rbx
  jne 4f
  pop %rbx
  pop %rax
  jmp conformance_user_returned
4:
  cmp user_mutate_address(%rip), %rbx
  jne 1f
  addq $2, 32(%rsp)                     // past the UD2
  push %rcx
  push %r13
  sub accesses_user(%rip), %r13         // the entry through the kernel's mapping
  add accesses_kernel(%rip), %r13
  mov 16(%rsp), %rbx                    // the user's %rbx: the access word
  call conformance_mutate
  pop %r13
  pop %rcx
  pop %rbx
  pop %rax
  add $16, %rsp
  iretq
1:
  mov %ebp, %ebx
  shl $ATTEMPT_SIZE_SHIFT, %rbx
  lea RESULT_ATTEMPTS(%r12, %rbx), %rbx
  cmp conformance_results(%rip), %rbx
  jb 3f
  cmp conformance_results_end(%rip), %rbx
  jae 3f
  mov %eax, ATTEMPT_VECTOR(%rbx)
  mov 24(%rsp), %rax
  mov %eax, ATTEMPT_ERROR_CODE(%rbx)
  mov %cr2, %rax
  mov %rax, ATTEMPT_FAULT_ADDRESS(%rbx)
  testb $3, 40(%rsp)                    // CS: from user mode?
  jz 2f
  mov user_fixup_address(%rip), %rax
  mov %rax, 32(%rsp)
  pop %rbx
  pop %rax
  add $16, %rsp
  iretq
2:
  lea conformance_kernel_fixup(%rip), %rax
  mov %rax, 32(%rsp)
  pop %rbx
  pop %rax
  add $16, %rsp
  iretq
3:
  jmp isr_general                       // reports it: conformance_active is still set

// A tlb case between its attempts: stores the new leaf (ENTRY_ARG1) at its
// kernel address (ENTRY_ARG0), then the invalidation the access word's bits
// 20-23 name (GuestABI ConformanceInvalidation). %r13 = the entry (kernel
// address), %rdi = the case's address, %rbx = the access word. Clobbers
// %rax and %rcx.
conformance_mutate:
  mov ENTRY_ARG0(%r13), %rax
  mov ENTRY_ARG1(%r13), %rcx
  mov %rcx, (%rax)
  mov %rbx, %rax
  shr $20, %rax
  and $0xF, %eax
  cmp $1, %eax
  jne 1f
  invlpg (%rdi)
  ret
1:
  cmp $2, %eax
  jne 2f
  mov %cr3, %rax
  mov %rax, %cr3
  ret
2:
  cmp $3, %eax
  jne 3f
  mov %cr3, %rax
  bts $63, %rax
  mov %rax, %cr3
  ret
3:
  cmp $4, %eax
  jne 4f
  mov %cr4, %rax
  btc $7, %rax
  mov %rax, %cr4
  btc $7, %rax
  mov %rax, %cr4
4:
  ret

// A control-write case at CPL 0: register ENTRY_ARG0 (0 CR0, 4 CR4, 8 EFER)
// becomes (old & ~%rdi) | ENTRY_ARG1. If the write faults, the trap path
// resumes at the fixup with nothing changed; if not, the value read back goes
// to ENTRY_ARG0 and the old value is restored. Clobbers %rax %rcx %rdx %rsi %r8.
conformance_control_write:
  mov ENTRY_ARG0(%r13), %rsi
  cmp $0, %rsi
  jne 1f
  mov %cr0, %r8
  mov %r8, %rax
  not %rdi
  and %rdi, %rax
  or ENTRY_ARG1(%r13), %rax
  mov %rax, %cr0
  mov %cr0, %rax
  mov %rax, ENTRY_ARG0(%r13)
  mov %r8, %cr0
  ret
1:
  cmp $4, %rsi
  jne 2f
  mov %cr4, %r8
  mov %r8, %rax
  not %rdi
  and %rdi, %rax
  or ENTRY_ARG1(%r13), %rax
  mov %rax, %cr4
  mov %cr4, %rax
  mov %rax, ENTRY_ARG0(%r13)
  mov %r8, %cr4
  ret
2:
  mov $MSR_EFER, %ecx
  rdmsr
  shl $32, %rdx
  or %rdx, %rax
  mov %rax, %r8
  not %rdi
  and %rdi, %rax
  or ENTRY_ARG1(%r13), %rax
  mov %rax, %rdx
  shr $32, %rdx
  wrmsr
  rdmsr
  shl $32, %rdx
  or %rdx, %rax
  mov %rax, ENTRY_ARG0(%r13)
  mov %r8, %rax
  mov %r8, %rdx
  shr $32, %rdx
  wrmsr
  ret

// The user half: mapped at UserLayout.codeBase with the rest of .user.text.
// Entered with IRETQ from conformance_enter_user with %r12-%r15 set.
.section .user.text, "ax", @progbits
.p2align 4
.globl conformance_user_loop
conformance_user_loop:
  mov %rsp, %r14
  ACCESS_LOOP conformance_user_fixup, conformance_user_done, USER_MUTATE, USER_CONTROL
.globl conformance_user_done
conformance_user_done:
  ud2
.globl conformance_user_fixup

.bss
.p2align 3
.globl conformance_active
conformance_active: .skip 8
conformance_kernel_rsp: .skip 8
conformance_results: .skip 8
conformance_results_end: .skip 8
user_fixup_address: .skip 8
user_done_address: .skip 8
user_mutate_address: .skip 8
accesses_kernel: .skip 8
accesses_user: .skip 8
saved_cr3: .skip 8
saved_cr0: .skip 8
saved_cr4: .skip 8
saved_efer: .skip 8
