// The script interpreter's user-mode routines (Guest/Kernel/ScriptCalls.swift),
// in .user.text with the others (Guest/Boot/support.S), so they run at CPL 3
// (natively on kvm-pvm) in the script's process.
//
// Conventions the kernel relies on when a fault ends a run (UserFault):
// %rdi holds the address being accessed and %rcx the units done. They use no
// stack and end with a jump to user_exit, never RET: a script may write over
// the user stack, and must not steer the routine anywhere.

.section .user.text, "ax", @progbits

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

// user_script_touch(address, pages, write): one byte access per page at
// address + 4096 * n, a read, or (write != 0) a read-modify-write that keeps
// the byte. %rcx counts the pages done. Returns 0.
.p2align 4
.globl user_script_touch
user_script_touch:
  xor %ecx, %ecx
  test %rsi, %rsi
  jz 3f
  test %rdx, %rdx
  jnz 2f
1:
  movb (%rdi), %al
  inc %rcx
  add $4096, %rdi
  cmp %rsi, %rcx
  jne 1b
  jmp 3f
2:
  orb $0, (%rdi)
  inc %rcx
  add $4096, %rdi
  cmp %rsi, %rcx
  jne 2b
3:
  xor %eax, %eax
  jmp user_exit

// user_write_pattern(address, size, seed): writes ScriptPattern's bytes over
// [address, address + size): whole words where aligned, bytes at the ends.
// Returns 0.
.p2align 4
.globl user_write_pattern
user_write_pattern:
  pattern_constants
  test %rsi, %rsi
  jz 9f
1:
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
  jmp user_exit

// user_check_pattern(address, size, seed): compares [address, address + size)
// with ScriptPattern's bytes; returns the first differing address, or 0.
.p2align 4
.globl user_check_pattern
user_check_pattern:
  pattern_constants
  test %rsi, %rsi
  jz 8f
1:
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
  lea (%rdi,%r8), %rax
  jmp user_exit
4:
  mov %rdi, %rax
  jmp user_exit
8:
  xor %eax, %eax
  jmp user_exit
