// PVH entry: the loader (KVMMachine, QEMU) starts us here in 32-bit protected
// mode with paging off, flat segments and %ebx = physical address of the
// hvm_start_info record. We build throwaway page tables (1 GiB of 2 MiB pages,
// mapped both at 0 and at the higher half), enter long mode, and call
// kernel_main in the higher half, which builds the real page tables in Swift.

#define KERNEL_VIRTUAL_OFFSET 0xFFFFFFFF80000000
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
  cld
  mov %ebx, %edi                      // start_info, kept for kernel_main
  mov $boot_stack32_top, %esp

  // PML4[0] and PML4[511] -> PDPT; PDPT[0] and PDPT[510] -> PD (identity and -2 GiB).
  mov $boot_pdpt, %eax
  or $0x3, %eax
  mov %eax, boot_pml4
  mov %eax, boot_pml4 + 511 * 8
  mov $boot_pd, %eax
  or $0x3, %eax
  mov %eax, boot_pdpt
  mov %eax, boot_pdpt + 510 * 8
  // PD: 512 x 2 MiB, present | writable | PS.
  xor %ecx, %ecx
1:
  mov %ecx, %eax
  shl $21, %eax
  or $0x83, %eax
  mov %eax, boot_pd(, %ecx, 8)
  inc %ecx
  cmp $512, %ecx
  jne 1b

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
  mov $0x10, %eax
  mov %eax, %ds
  mov %eax, %es
  mov %eax, %ss
  xor %eax, %eax
  mov %eax, %fs
  mov %eax, %gs
  movabs $long_mode_high, %rax
  jmp *%rax

.section .boot.data, "aw", @progbits
.p2align 3
boot_gdt:
  .quad 0
  .quad 0x00209A0000000000              // 0x08: 64-bit code, DPL 0
  .quad 0x0000920000000000              // 0x10: data, DPL 0
boot_gdt_end:
boot_gdt_descriptor:
  .word boot_gdt_end - boot_gdt - 1
  .long boot_gdt

.section .boot.bss, "aw", @nobits
.p2align 12
boot_pml4: .skip 4096
boot_pdpt: .skip 4096
boot_pd: .skip 4096
boot_stack32: .skip 256
boot_stack32_top:

.text
long_mode_high:
  movabs $boot_stack_top, %rsp
  xor %ebp, %ebp
  // %rdi still holds start_info's physical address (zero-extended by the mov above).
  call kernel_main
2:
  cli
  hlt
  jmp 2b

.bss
.p2align 12
.globl boot_stack_top
boot_stack: .skip 65536
boot_stack_top:
