// PVH entry: the loader (KVMMachine, QEMU) starts us here in 32-bit protected
// mode with paging off, flat segments and %ebx = physical address of the
// hvm_start_info record. We switch to long mode on static boot page tables
// and call kernel_main in the higher half, which builds the real tables.
//
// Every instruction the kernel executes in supervisor mode is emulated on
// kvm-pvm (about 0.5 µs each; user mode runs natively), so this path computes
// nothing it can have the assembler and linker compute: the boot tables, the
// GDT and the TSS are data.

#include "BootConstants.h"
#define BOOT_IDENTITY_MIB MMLAB_BOOT_IDENTITY_MIB
#define CR0_PE (1 << 0)
#define CR0_MP (1 << 1)
#define CR0_ET (1 << 4)
#define CR0_NE (1 << 5)
#define CR0_WP (1 << 16)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define MSR_EFER 0xC0000080
#define EFER_LME (1 << 8)
#define EFER_NXE (1 << 11)

// XEN_ELFNOTE_PHYS32_ENTRY: owner "Xen", type 18, the physical entry point.
.section .note.Xen, "a", @note
  .p2align 2
  .long 4
  .long 4
  .long 18
  .asciz "Xen"
  .p2align 2
  .long pvh_start32
  .p2align 2

.section .boot.text, "ax", @progbits
.code32
.globl pvh_start32
pvh_start32:
  cli
  mov %ebx, %edi                      // start_info, for kernel_main
  mov $boot_pml4, %eax
  mov %eax, %cr3
  mov %cr4, %eax
  or $CR4_PAE, %eax                   // no OSFXSR: the kernel uses no SSE
  mov %eax, %cr4
  mov $MSR_EFER, %ecx
  rdmsr
  or $(EFER_LME | EFER_NXE), %eax
  wrmsr
  mov $(CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG), %eax
  mov %eax, %cr0
  lgdt boot_gdt_descriptor
  ljmp $0x08, $long_mode_low

.code64
long_mode_low:
  movabs $long_mode_high, %rax
  jmp *%rax

.section .boot.data, "aw", @progbits
.p2align 3
boot_gdt:
  .quad 0
  .quad 0x00209A0000000000              // 0x08: 64-bit code, DPL 0
boot_gdt_end:
boot_gdt_descriptor:
  .word boot_gdt_end - boot_gdt - 1
  .long boot_gdt

// Boot page tables: the first BOOT_IDENTITY_MIB MiB of RAM in 2 MiB pages,
// mapped at 0 and at -2 GiB. Every entry is user-accessible: until the
// kernel's own tables are live, its bulk work runs at CPL 3 (see
// Guest/Kernel/Deprivileged.swift), which kvm-pvm executes natively.
.p2align 12
.globl boot_pml4
boot_pml4:
  .quad boot_pdpt + 0x7
  .fill 510, 8, 0
  .quad boot_pdpt + 0x7
boot_pdpt:
  .quad boot_pd + 0x7
  .fill 509, 8, 0
  .quad boot_pd + 0x7
  .quad 0
boot_pd:
  .set boot_page, 0
  .rept BOOT_IDENTITY_MIB / 2
  .quad boot_page + 0x87                // present | writable | user | PS
  .set boot_page, boot_page + 0x200000
  .endr
  .fill 512 - BOOT_IDENTITY_MIB / 2, 8, 0

.text
long_mode_high:
  movabs $boot_stack_top, %rsp
  lgdt kernel_gdt_descriptor(%rip)
  // The TSS descriptor's base is split across the entry; the linker cannot.
  lea kernel_tss(%rip), %rax
  mov %rax, %rcx
  shl $16, %rcx
  movabs $0x000000FFFFFF0000, %rdx
  and %rdx, %rcx
  or $103, %rcx                         // limit
  movabs $0x0000890000000000, %rdx      // present, 64-bit TSS (available)
  or %rdx, %rcx
  mov %rax, %rdx
  shr $24, %rdx
  shl $56, %rdx
  or %rdx, %rcx
  mov %rcx, kernel_gdt_tss(%rip)
  shr $32, %rax
  mov %rax, kernel_gdt_tss + 8(%rip)
  mov $0x10, %eax
  mov %eax, %ds
  mov %eax, %es
  mov %eax, %ss
  xor %eax, %eax
  mov %eax, %fs
  mov %eax, %gs
  mov $0x30, %ax
  ltr %ax
  lidt kernel_idt_descriptor(%rip)
  call install_return_gate
  xor %ebp, %ebp
  call kernel_main                      // %rdi: start_info's physical address
2:
  cli
  hlt
  jmp 2b

// Kernel descriptor tables. The selector order after the kernel pair is the
// one SYSCALL/SYSRET want: user code32, user data, user code64.
.data
.p2align 12
.globl kernel_gdt
kernel_gdt:
  .quad 0
  .quad 0x00209A0000000000              // 0x08: kernel code (L, P, DPL 0)
  .quad 0x0000920000000000              // 0x10: kernel data
  .quad 0x00CFFA000000FFFF              // 0x18: user code32 (unused)
  .quad 0x0000F20000000000              // 0x20: user data (DPL 3)
  .quad 0x0020FA0000000000              // 0x28: user code (L, DPL 3)
kernel_gdt_tss:
  .quad 0, 0                            // 0x30: TSS, filled at boot
kernel_gdt_end:
.p2align 3
kernel_gdt_descriptor:
  .word kernel_gdt_end - kernel_gdt - 1
  .quad kernel_gdt
kernel_idt_descriptor:
  .word 256 * 16 - 1
  .quad kernel_idt

// The 64-bit TSS: RSP0 and the four IST stacks (1 exceptions, 2 double
// fault, 3 NMI, 4 machine check); every vector uses one (Traps.swift).
.p2align 4
.globl kernel_tss
kernel_tss:
  .long 0
  .quad boot_stack_top                  // RSP0
  .quad 0, 0                            // RSP1, RSP2
  .quad 0
  .quad ist_stacks + 1 * 16384          // IST1..IST4
  .quad ist_stacks + 2 * 16384
  .quad ist_stacks + 3 * 16384
  .quad ist_stacks + 4 * 16384
  .quad 0, 0, 0                         // IST5..IST7
  .quad 0
  .word 0
  .word 104                             // no I/O permission bitmap

.bss
.p2align 12
.globl kernel_idt
kernel_idt: .skip 4096
.globl boot_stack_top
boot_stack: .skip 65536
boot_stack_top:
.globl ist_stacks
ist_stacks: .skip 4 * 16384
.globl deprivileged_stack_top
deprivileged_stack: .skip 65536
deprivileged_stack_top:
