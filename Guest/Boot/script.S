// The script interpreter (GuestABI Script.swift), in .user.text with the other
// user-mode code (Guest/Boot/support.S): it runs at CPL 3, natively on
// kvm-pvm, in whichever address space the last step loaded (the kernel's
// before the first process), all of which map ScriptWindow at the same place.
// It enters the kernel only through user_script_gate, as a program calls NT.
//
// Register use: %rbp the request, %r15 the alias slots, %r12 the step record,
// %r13 its result record, %r14 the steps left in the batch, %ebx the step's
// flags; 0(%rsp) the step's first tick, 8(%rsp) the results buffer. The gate
// and the routines leave all six alone (the kernel restores every register
// it does not answer in).

// Hand-written copies of GuestABI's numbers (a host test compares them).
#define STEP_SIZE 128
#define STEP_CALL 0
#define STEP_FLAGS 4
#define STEP_INDEX 8
#define STEP_OPERANDS 16
#define STEP_OPERAND_SLOTS 80
#define STEP_SAVE_SLOTS 88
#define RESULT_SIZE 80
#define RESULT_STATUS 0
#define RESULT_INDEX 4
#define RESULT_OUTPUTS 8
#define RESULT_TICKS 72
#define OUTPUT_COUNT 8
#define REQUEST_HEADER_SIZE 64
#define CALL_TOUCH 6
#define CALL_WRITE_PATTERN 7
#define CALL_CHECK_PATTERN 8
#define GATE_NEXT_BATCH 0x10000
#define GATE_STOP 0x10001
#define GATE_ARM_EXECUTE 0x10002
#define FLAG_STOP_BEFORE 1
#define FLAG_STOP_AFTER 2
#define USER_END_SHIFTED 0x7FFFFFFF
#define STATUS_ACCESS_VIOLATION 0xC0000005
#define STATUS_DATA_ERROR 0xC000003E

.section .user.text, "ax", @progbits

// user_script_interpreter(request, results, slots), on ScriptWindow's stack.
// Never returns: the kernel ends the run when a batch of zero steps arrives.
.p2align 4
.globl user_script_interpreter
user_script_interpreter:
  mov %rdi, %rbp
  mov %rdx, %r15
  push %rsi
  sub $8, %rsp
next_batch:
  mov $GATE_NEXT_BATCH, %eax
  call user_script_gate
  mov %rax, %r14
  lea REQUEST_HEADER_SIZE(%rbp), %r12
  mov 8(%rsp), %r13
next_step:
  mov STEP_FLAGS(%r12), %ebx
  test $FLAG_STOP_BEFORE, %ebx
  jz 1f
  mov $GATE_STOP, %eax
  mov STEP_INDEX(%r12), %edi
  xor %esi, %esi
  call user_script_gate
1:
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  mov %rax, (%rsp)
  call resolve_operands
  mov STEP_CALL(%r12), %eax
  cmp $CALL_TOUCH, %eax
  je touch
  cmp $CALL_WRITE_PATTERN, %eax
  je write_pattern
  cmp $CALL_CHECK_PATTERN, %eax
  je check_pattern
  call user_script_gate
// The gate's answer in %rax: the status in %eax, and in bits 32 and up how
// many of the operand registers (from %rdi on) hold out-parameters; the
// others are stored as 0.
store_result:
  mov %eax, RESULT_STATUS(%r13)
  mov %rdi, RESULT_OUTPUTS + 0(%r13)
  mov %rsi, RESULT_OUTPUTS + 8(%r13)
  mov %rdx, RESULT_OUTPUTS + 16(%r13)
  mov %rcx, RESULT_OUTPUTS + 24(%r13)
  mov %r8, RESULT_OUTPUTS + 32(%r13)
  mov %r9, RESULT_OUTPUTS + 40(%r13)
  mov %r10, RESULT_OUTPUTS + 48(%r13)
  mov %r11, RESULT_OUTPUTS + 56(%r13)
  shr $32, %rax
6:
  cmp $OUTPUT_COUNT, %rax
  jae 7f
  movq $0, RESULT_OUTPUTS(%r13,%rax,8)
  inc %rax
  jmp 6b
7:
  mov STEP_INDEX(%r12), %ecx
  mov %ecx, RESULT_INDEX(%r13)
  mov RESULT_STATUS(%r13), %eax
  test %eax, %eax                         // NT_SUCCESS: only then are aliases saved
  js 3f
  mov STEP_SAVE_SLOTS(%r12), %rdx
  lea RESULT_OUTPUTS(%r13), %rsi
2:
  test %rdx, %rdx
  jz 3f
  movzbl %dl, %ecx
  test %ecx, %ecx
  jz 4f
  mov (%rsi), %rdi
  mov %rdi, (%r15,%rcx,8)
4:
  add $8, %rsi
  shr $8, %rdx
  jmp 2b
3:
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  sub (%rsp), %rax
  mov %rax, RESULT_TICKS(%r13)
  test $FLAG_STOP_AFTER, %ebx
  jz 5f
  mov $GATE_STOP, %eax
  mov STEP_INDEX(%r12), %edi
  mov $1, %esi
  call user_script_gate
5:
  add $STEP_SIZE, %r12
  add $RESULT_SIZE, %r13
  dec %r14
  jnz next_step
  jmp next_batch

// Touch: the kernel prepares (handle, access, process), answering three
// out-parameters; the routine runs here. An answer of two (bit 32 clear) is
// final: the kernel touched a view in system space itself ("System").
touch:
  call user_script_gate
  test %eax, %eax
  jnz store_result
  bt $32, %rax
  jnc store_result
  call user_script_touch
  test %eax, %eax
  jnz 1f
  xor %edi, %edi                          // FaultAddress: none
1:
  mov %rcx, %rsi                          // PagesDone
  xor %edx, %edx
  jmp clear_from_rcx

write_pattern:
  call user_script_gate
  test %eax, %eax
  jnz store_result
  call user_write_pattern
  xor %edi, %edi
  xor %esi, %esi
  xor %edx, %edx
  jmp clear_from_rcx

check_pattern:
  call user_script_gate
  test %eax, %eax
  jnz store_result
  call user_check_pattern
  mov %rsi, %rdi                          // FirstMismatch (0 after a fault)
  xor %esi, %esi
  xor %edx, %edx
clear_from_rcx:                          // every register set: the answer's count is 8
  xor %ecx, %ecx
  xor %r8d, %r8d
  xor %r9d, %r9d
  xor %r10d, %r10d
  xor %r11d, %r11d
  mov %eax, %eax
  bts $35, %rax
  jmp store_result

// Operand n of the step at %r12 into its register: the immediate, or the
// alias slot's value plus it. Uses %rax.
.macro operand n, reg
  mov STEP_OPERANDS + 8 * \n(%r12), \reg
  movzbl STEP_OPERAND_SLOTS + \n(%r12), %eax
  test %eax, %eax
  jz 1f
  add (%r15,%rax,8), \reg
1:
.endm

resolve_operands:
  operand 0, %rdi
  operand 1, %rsi
  operand 2, %rdx
  operand 3, %rcx
  operand 4, %r8
  operand 5, %r9
  operand 6, %r10
  operand 7, %r11
  ret

// The gate: the kernel recognises this UD2 (its address is in
// script_gate_address), serves RAX and resumes at the RET.
.p2align 4
.globl user_script_gate
user_script_gate:
  ud2
  ret

// The routines a step runs at CPL 3. They use no stack, leave %rbx, %rbp and
// %r12-%r15 alone, and return RAX a status (0, or STATUS_ACCESS_VIOLATION
// when the next access would reach UserAddressSpace.end or above, which
// includes the kernel half, non-canonical addresses and ScriptWindow) with
// the address in %rdi. When an access faults and the kernel will not resolve
// it, the kernel makes the routine return there instead (at
// user_script_routine_return): RAX the status, %rdi the address, %rsi 0,
// the others as the fault left them.
.globl user_script_routines_start
user_script_routines_start:

// ja \refuse when %rdi >= UserAddressSpace.end. Uses %rcx.
.macro refuse_at_user_end refuse
  mov %rdi, %rcx
  shr $16, %rcx
  cmp $USER_END_SHIFTED, %rcx
  jae \refuse
.endm

// \out = ScriptPattern.word(seed: %rdx, address: %rdi): splitmix64 of
// seed + (address & ~7), with the constants in %r9, %r10 and %r11. Uses %rcx.
.macro pattern_word out
  mov %rdi, \out
  and $-8, \out
  add %rdx, \out
  add %r9, \out
  mov \out, %rcx
  shr $30, %rcx
  xor %rcx, \out
  imul %r10, \out
  mov \out, %rcx
  shr $27, %rcx
  xor %rcx, \out
  imul %r11, \out
  mov \out, %rcx
  shr $31, %rcx
  xor %rcx, \out
.endm

.macro pattern_constants
  movabs $0x9E3779B97F4A7C15, %r9
  movabs $0xBF58476D1CE4E5B9, %r10
  movabs $0x94D049BB133111EB, %r11
.endm

// user_script_touch(address, pages, access): one access per page at
// address + 4096 * n: a byte read (access 0), a read-modify-write that keeps
// the byte (1), or an instruction fetch (2, below). %rcx counts the pages
// done (%r8 holds the address's check).
.p2align 4
.globl user_script_touch
user_script_touch:
  xor %ecx, %ecx
  test %rsi, %rsi
  jz 3f
  cmp $2, %rdx
  je execute_pages
1:
  mov %rdi, %r8
  shr $16, %r8
  cmp $USER_END_SHIFTED, %r8
  jae 9f
  test %rdx, %rdx
  jnz 2f
  movb (%rdi), %al
  jmp 4f
2:
  orb $0, (%rdi)
4:
  inc %rcx
  add $4096, %rdi
  cmp %rsi, %rcx
  jne 1b
3:
  xor %eax, %eax
  ret
9:
  mov $STATUS_ACCESS_VIOLATION, %eax
  ret

// The fetches: before each, the gate arms the kernel's probe (it plants an
// invalid opcode at the address, Guest/Kernel/ExecuteProbe.swift); the fetch
// either faults as any access does, or takes #UD on the planted byte, after
// which the kernel resumes at %r8. The gate changes no register but %rax.
execute_pages:
  mov %rdi, %r8
  shr $16, %r8
  cmp $USER_END_SHIFTED, %r8
  jae 9b
  mov $GATE_ARM_EXECUTE, %eax
  call user_script_gate
  lea 5f(%rip), %r8
  jmp *%rdi
5:
  inc %rcx
  add $4096, %rdi
  cmp %rsi, %rcx
  jne execute_pages
  xor %eax, %eax
  ret

// user_write_pattern(address, size, seed): writes ScriptPattern's bytes over
// [address, address + size): whole words where aligned, bytes at the ends.
.p2align 4
.globl user_write_pattern
user_write_pattern:
  pattern_constants
  test %rsi, %rsi
  jz 9f
1:
  refuse_at_user_end 8f
  pattern_word %rax
  test $7, %dil
  jnz 2f
  cmp $8, %rsi
  jb 2f
  mov %rax, (%rdi)
  add $8, %rdi
  sub $8, %rsi
  jnz 1b
  jmp 9f
2:
  mov %edi, %ecx
  and $7, %ecx
  shl $3, %ecx
  shr %cl, %rax
  mov %al, (%rdi)
  inc %rdi
  dec %rsi
  jnz 1b
9:
  xor %eax, %eax
  ret
8:
  mov $STATUS_ACCESS_VIOLATION, %eax
  ret

// user_check_pattern(address, size, seed): compares [address, address + size)
// with ScriptPattern's bytes; %rsi the first differing address and RAX
// STATUS_DATA_ERROR, or %rsi 0 and RAX 0 when every byte matches.
.p2align 4
.globl user_check_pattern
user_check_pattern:
  pattern_constants
  test %rsi, %rsi
  jz 8f
1:
  refuse_at_user_end 7f
  pattern_word %rax
  test $7, %dil
  jnz 2f
  cmp $8, %rsi
  jb 2f
  mov (%rdi), %r8
  xor %rax, %r8
  jnz 3f
  add $8, %rdi
  sub $8, %rsi
  jnz 1b
  jmp 8f
2:
  mov %edi, %ecx
  and $7, %ecx
  shl $3, %ecx
  shr %cl, %rax
  cmp %al, (%rdi)
  jne 4f
  inc %rdi
  dec %rsi
  jnz 1b
  jmp 8f
3:                                      // a word differs: its first differing byte
  bsf %r8, %r8
  shr $3, %r8
  lea (%rdi,%r8), %rsi
  mov $STATUS_DATA_ERROR, %eax
  ret
4:
  mov %rdi, %rsi
  mov $STATUS_DATA_ERROR, %eax
  ret
7:
  mov $STATUS_ACCESS_VIOLATION, %eax
  xor %esi, %esi
  ret
8:
  xor %eax, %eax
  xor %esi, %esi
  ret

.globl user_script_routines_end
user_script_routines_end:
// Where the kernel ends a routine that faulted: back to its caller.
.globl user_script_routine_return
user_script_routine_return:
  ret
