// The conformance runner's access phase (GuestABI ConformanceABI). Guest/Kernel/
// Conformance.swift builds a block's tables and access list at CPL 3; this
// loads the block's CR3 and controls, performs every access (at CPL 3 for user
// cases, natively on kvm-pvm; at CPL 0 otherwise) and records each fault in
// the case's result record from the trap fast path below, without the general
// trap handler (which kvm-pvm would emulate instruction by instruction).

#define MSR_EFER 0xC0000080
#define CR4_PGE (1 << 7)

// struct ConformanceRun: Guest/Kernel/Conformance.swift's `ConformanceRun` mirrors it.
#define RUN_ROOT 0                  // the block's CR3
#define RUN_CR0 8
#define RUN_CR4 16
#define RUN_EFER 24
#define RUN_RFLAGS 32               // RFLAGS for the supervisor loop (AC)
#define RUN_ACCESSES 40             // kernel address of the access list
#define RUN_USER_ACCESSES 48        // user address of the same list
#define RUN_COUNT 56
#define RUN_RESULTS 64              // kernel address of the block's first result record
#define RUN_USER_MODE 72
#define RUN_USER_STACK 80
#define RUN_USER_LOOP 88            // user address of conformance_user_loop
#define RUN_USER_FIXUP 96           // user address of conformance_user_fixup
#define RUN_USER_DONE 104           // user address of conformance_user_done

// Result record (GuestABI ConformanceResultRecord): attempts at 8, 16 bytes each.
#define RESULT_SIZE 80
#define RESULT_ATTEMPTS 8

// The access loop, in kernel text and again in user text. In:
//   %r13 = access list (16 bytes per case: linear address, access word),
//   %r15 = its end, %r12 = the first case's result record, %r14 = the stack
//   pointer to come back to after a fault.
// Per attempt, %rbp is the attempt number: the trap fast path records a fault
// at %r12 + 8 + 16 * %rbp and resumes at FIXUP with every register intact.
.macro ACCESS_LOOP fixup, done
1:
  cmp %r15, %r13
  jae \done
  xor %ebp, %ebp
2:
  mov (%r13), %rdi
  mov 8(%r13), %rbx
  mov %rbx, %rax
  and $3, %eax
  cmp $1, %eax
  je 4f
  cmp $2, %eax
  je 5f
  mov (%rdi), %rax                      // read
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
  add $16, %r13
  jmp 1b
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
  mov RUN_ACCESSES(%rbx), %r13
  mov RUN_COUNT(%rbx), %r15
  shl $4, %r15
  add %r13, %r15
  mov RUN_RESULTS(%rbx), %r12
  movq $1, conformance_active(%rip)
  cmpq $0, RUN_USER_MODE(%rbx)
  jne conformance_enter_user
  pushq RUN_RFLAGS(%rbx)
  popfq
  mov %rsp, %r14
  ACCESS_LOOP conformance_kernel_fixup, conformance_kernel_done
conformance_kernel_done:
  jmp conformance_finish

conformance_enter_user:
  mov RUN_USER_ACCESSES(%rbx), %r13
  mov RUN_COUNT(%rbx), %r15
  shl $4, %r15
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
  jne 1f
  pop %rbx
  pop %rax
  jmp conformance_user_returned
1:
  mov %ebp, %ebx
  shl $4, %rbx
  lea RESULT_ATTEMPTS(%r12, %rbx), %rbx
  cmp conformance_results(%rip), %rbx
  jb 3f
  cmp conformance_results_end(%rip), %rbx
  jae 3f
  mov %eax, (%rbx)                      // vector
  mov 24(%rsp), %rax
  mov %eax, 4(%rbx)                     // error code
  mov %cr2, %rax
  mov %rax, 8(%rbx)
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

// The user half: mapped at UserLayout.codeBase with the rest of .user.text.
// Entered with IRETQ from conformance_enter_user with %r12-%r15 set.
.section .user.text, "ax", @progbits
.p2align 4
.globl conformance_user_loop
conformance_user_loop:
  mov %rsp, %r14
  ACCESS_LOOP conformance_user_fixup, conformance_user_done
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
saved_cr3: .skip 8
saved_cr0: .skip 8
saved_cr4: .skip 8
saved_efer: .skip 8
