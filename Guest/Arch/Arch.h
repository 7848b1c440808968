// Privileged x86-64 instructions for the guest kernel, as static inline
// functions: Swift has no inline assembly, and a call per port write would
// cost as much as the instruction. Only 8-byte plain stores touch page tables
// (kvm-pvm emulates a short list of instructions; see PLATFORM-NOTES).
#ifndef MMLAB_GUEST_ARCH_H
#define MMLAB_GUEST_ARCH_H

#include <stdint.h>
#include <stddef.h>
#include "BootConstants.h"
#include "ConformanceRun.h"

/// Swift calls a plain static inline function out of line at -Osize; these are
/// single instructions whose call would cost more than they do (at CPL 0 on
/// kvm-pvm every instruction of the call is emulated too).
#define ARCH_ALWAYS_INLINE static inline __attribute__((always_inline))

/// Bytes of RAM the boot page tables map.
static const uint64_t arch_boot_identity_size = (uint64_t)MMLAB_BOOT_IDENTITY_MIB << 20;

ARCH_ALWAYS_INLINE void arch_outb(uint16_t port, uint8_t value) {
  __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port) : "memory");
}
ARCH_ALWAYS_INLINE void arch_outl(uint16_t port, uint32_t value) {
  __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory");
}
ARCH_ALWAYS_INLINE void arch_outw(uint16_t port, uint16_t value) {
  __asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port) : "memory");
}
ARCH_ALWAYS_INLINE uint32_t arch_inl(uint16_t port) {
  uint32_t value;
  __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port) : "memory");
  return value;
}
ARCH_ALWAYS_INLINE uint16_t arch_inw(uint16_t port) {
  uint16_t value;
  __asm__ volatile("inw %1, %0" : "=a"(value) : "Nd"(port) : "memory");
  return value;
}
// Device registers (uncached mappings): one plain MOV of the register's width
// each, which KVM's emulator turns into an MMIO exit.
ARCH_ALWAYS_INLINE uint8_t arch_mmio_read8(uint64_t a) { return *(volatile uint8_t *)(uintptr_t)a; }
ARCH_ALWAYS_INLINE uint16_t arch_mmio_read16(uint64_t a) { return *(volatile uint16_t *)(uintptr_t)a; }
ARCH_ALWAYS_INLINE uint32_t arch_mmio_read32(uint64_t a) { return *(volatile uint32_t *)(uintptr_t)a; }
ARCH_ALWAYS_INLINE void arch_mmio_write8(uint64_t a, uint8_t v) { *(volatile uint8_t *)(uintptr_t)a = v; }
ARCH_ALWAYS_INLINE void arch_mmio_write16(uint64_t a, uint16_t v) { *(volatile uint16_t *)(uintptr_t)a = v; }
ARCH_ALWAYS_INLINE void arch_mmio_write32(uint64_t a, uint32_t v) { *(volatile uint32_t *)(uintptr_t)a = v; }
/// Loads and stores of shared rings the device changes behind the compiler's back.
ARCH_ALWAYS_INLINE uint16_t arch_load16_volatile(uint64_t a) { return *(volatile uint16_t *)(uintptr_t)a; }
ARCH_ALWAYS_INLINE void arch_store16_volatile(uint64_t a, uint16_t v) { *(volatile uint16_t *)(uintptr_t)a = v; }
ARCH_ALWAYS_INLINE uint8_t arch_load8_volatile(uint64_t a) { return *(volatile uint8_t *)(uintptr_t)a; }
ARCH_ALWAYS_INLINE void arch_store8_volatile(uint64_t a, uint8_t v) { *(volatile uint8_t *)(uintptr_t)a = v; }
ARCH_ALWAYS_INLINE uint8_t arch_inb(uint16_t port) {
  uint8_t value;
  __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port) : "memory");
  return value;
}
static inline uint64_t arch_read_cr0(void) { uint64_t v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline uint64_t arch_read_cr2(void) { uint64_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline uint64_t arch_read_cr3(void) { uint64_t v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline uint64_t arch_read_cr4(void) { uint64_t v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static inline void arch_write_cr0(uint64_t v) { __asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory"); }
static inline void arch_write_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }
static inline void arch_write_cr4(uint64_t v) { __asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory"); }
ARCH_ALWAYS_INLINE void arch_invlpg(uint64_t address) {
  __asm__ volatile("invlpg (%0)" : : "r"(address) : "memory");
}
ARCH_ALWAYS_INLINE uint64_t arch_rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
  return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t arch_rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}
static inline void arch_wrmsr(uint32_t msr, uint64_t value) {
  __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)) : "memory");
}
static inline void arch_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t *eax, uint32_t *ebx, uint32_t *ecx, uint32_t *edx) {
  __asm__ volatile("cpuid" : "=a"(*eax), "=b"(*ebx), "=c"(*ecx), "=d"(*edx) : "a"(leaf), "c"(subleaf));
}
/// Busy loop with interrupts off: never exits to the host by itself.
static inline void arch_spin_forever(void) { for (;;) __asm__ volatile("cli; pause" ::: "memory"); }
static inline void arch_halt_forever(void) { for (;;) __asm__ volatile("cli; hlt"); }
/// A plain 8-byte store, the one kind of page-table write the guest makes.
ARCH_ALWAYS_INLINE void arch_store64(uint64_t address, uint64_t value) {
  *(volatile uint64_t *)(uintptr_t)address = value;
}
/// One access to the byte at `address`, as a script's Touch makes it: a
/// read, or (write nonzero) a read-modify-write that keeps the byte.
ARCH_ALWAYS_INLINE void arch_touch_byte(uint64_t address, int write) {
  if (write) {
    __asm__ volatile("orb $0, (%0)" : : "r"(address) : "memory");
  } else {
    __asm__ volatile("movb (%0), %%al" : : "r"(address) : "rax", "memory");
  }
}
/// Zeroes the 4 KiB page at `address` with one REP STOSQ: in kvm-pvm's
/// emulator a string instruction costs about what one store does.
static inline void arch_zero_page(uint64_t address) {
  uint64_t count = 512;
  __asm__ volatile("rep stosq" : "+D"(address), "+c"(count) : "a"(0ULL) : "memory");
}
/// Copies the 4 KiB frame at `source` to `target` (one string instruction: at
/// CPL 0 on kvm-pvm, one emulated instruction instead of a loop of them).
static inline void arch_copy_page(uint64_t target, uint64_t source) {
  uint64_t count = 512;
  __asm__ volatile("rep movsq" : "+D"(target), "+S"(source), "+c"(count) : : "memory");
}
/// A load the compiler may not hoist out of a spin loop.
ARCH_ALWAYS_INLINE uint32_t arch_load32_volatile(const uint32_t *address) { return *(const volatile uint32_t *)address; }
ARCH_ALWAYS_INLINE void arch_pause(void) { __asm__ volatile("pause" ::: "memory"); }
ARCH_ALWAYS_INLINE uint64_t arch_load64(uint64_t address) {
  return *(volatile uint64_t *)(uintptr_t)address;
}

// Implemented in Guest/Boot/support.S.
/// Runs `rip(arg0, arg1, arg2)` at CPL 3 on the stack ending at `rsp`, returning
/// to `exit` (a UD2 the trap handler knows); returns the user's RAX.
uint64_t arch_enter_user(uint64_t rip, uint64_t rsp, uint64_t exit, uint64_t arg0, uint64_t arg1, uint64_t arg2);
/// Reads 8 bytes at `address`; a fault is caught (exception table) and
/// reported through `*vector` (0xFF when none happened).
uint64_t arch_probe_load(uint64_t address, uint8_t *vector);
/// Writes 8 bytes at `address` under the same exception-table protection.
void arch_probe_store(uint64_t address, uint64_t value, uint8_t *vector);
// Storage and symbols defined in assembly or by the linker script, reached
// through accessors: Swift imports C arrays poorly, and an address is all it needs.
extern char isr_stubs[];
extern char __kernel_start[], __text_start[], __text_end[], __rodata_start[], __rodata_end[];
extern char __data_start[], __kernel_end[];
extern char __ex_table_start[], __ex_table_end[];
extern char ist_stacks[], boot_stack_top[], deprivileged_stack_top[];
extern unsigned char kernel_idt[], hypercall_request[], console_line[];
extern char deprivileged_exit[], deprivileged_resume[];
extern char user_text_start[], user_text_end[], user_exit[], user_touch_pages[], user_time_touches[];
extern char user_script_interpreter[], user_script_gate[], user_script_routine_return[];
extern char user_script_routines_start[], user_script_routines_end[];
extern uint64_t script_gate_address, script_outputs[8];

/// Virtual address of interrupt vector `n`'s entry stub.
static inline uint64_t arch_isr_stub(unsigned n) { return (uint64_t)isr_stubs + 16 * (uint64_t)(n & 255); }
static inline uint64_t arch_kernel_start(void) { return (uint64_t)__kernel_start; }
static inline uint64_t arch_text_start(void) { return (uint64_t)__text_start; }
static inline uint64_t arch_text_end(void) { return (uint64_t)__text_end; }
static inline uint64_t arch_rodata_start(void) { return (uint64_t)__rodata_start; }
static inline uint64_t arch_rodata_end(void) { return (uint64_t)__rodata_end; }
static inline uint64_t arch_data_start(void) { return (uint64_t)__data_start; }
static inline uint64_t arch_kernel_end(void) { return (uint64_t)__kernel_end; }
static inline uint64_t arch_ex_table_start(void) { return (uint64_t)__ex_table_start; }
static inline uint64_t arch_ex_table_end(void) { return (uint64_t)__ex_table_end; }
static inline uint64_t arch_boot_stack_top(void) { return (uint64_t)boot_stack_top; }
static inline uint64_t arch_deprivileged_stack_top(void) { return (uint64_t)deprivileged_stack_top; }
/// The 256-gate IDT (4 KiB); the GDT and TSS are static (Guest/Boot/entry.S).
static inline uint64_t arch_idt(void) { return (uint64_t)kernel_idt; }
static inline uint64_t arch_deprivileged_exit(void) { return (uint64_t)deprivileged_exit; }
static inline uint64_t arch_deprivileged_resume(void) { return (uint64_t)deprivileged_resume; }
/// Kernel virtual addresses of the user-mode code pages and their entry points.
static inline uint64_t arch_user_text_start(void) { return (uint64_t)user_text_start; }
static inline uint64_t arch_user_text_end(void) { return (uint64_t)user_text_end; }
static inline uint64_t arch_user_exit(void) { return (uint64_t)user_exit; }
static inline uint64_t arch_user_touch_pages(void) { return (uint64_t)user_touch_pages; }
static inline uint64_t arch_user_time_touches(void) { return (uint64_t)user_time_touches; }
/// The script interpreter (Guest/Boot/script.S): its entry, its gate, and
/// the range of the routines a fault may end early (and where they return).
static inline uint64_t arch_user_script_interpreter(void) { return (uint64_t)user_script_interpreter; }
static inline uint64_t arch_user_script_gate(void) { return (uint64_t)user_script_gate; }
static inline uint64_t arch_user_script_routine_return(void) { return (uint64_t)user_script_routine_return; }
static inline uint64_t arch_user_script_routines_start(void) { return (uint64_t)user_script_routines_start; }
static inline uint64_t arch_user_script_routines_end(void) { return (uint64_t)user_script_routines_end; }
/// Arms the gate (isr_common compares the trapping RIP with it).
static inline void arch_set_script_gate(uint64_t userAddress) { script_gate_address = userAddress; }
/// The 8 words the gate loads a call's out-parameters from.
static inline uint64_t *arch_script_outputs(void) { return script_outputs; }
/// The 48-byte hypercall request record and the 256-byte console line buffer.
static inline uint64_t arch_hypercall_request(void) { return (uint64_t)hypercall_request; }
static inline uint64_t arch_console_line(void) { return (uint64_t)console_line; }

/// Self-tests that fault on purpose (Guest/Boot/support.S).
void selftest_write_text(void);
void selftest_execute_data(void);
void selftest_invalid_opcode(void);

/// Bytes of the kernel heap handed out so far (Guest/Runtime/runtime.c).
size_t mmlab_heap_used(void);

/// The bench's prepared faults (Guest/Boot/support.S): while `count` is
/// nonzero, a #PF at `base + i * 4096` (i < count) stores `ptes[i].value` at
/// `ptes[i].slot` and returns, and nothing else runs.
extern uint64_t prepared_fault_base, prepared_fault_count;
extern uint64_t prepared_fault_ptes[512];
static inline void arch_prepare_faults(uint64_t base, uint64_t count) {
  prepared_fault_base = base;
  prepared_fault_count = count;
}
static inline void arch_set_prepared_pte(uint64_t index, uint64_t slot, uint64_t value) {
  prepared_fault_ptes[2 * index] = slot;
  prepared_fault_ptes[2 * index + 1] = value;
}

/// The conformance runner's access phase (Guest/Boot/conformance.S). Field
/// order is the assembly's RUN_* offsets.
struct ConformanceRun {
  uint64_t root, cr0, cr4, efer, rflags;
  uint64_t accesses, userAccesses, count, results, userMode;
  uint64_t userStack, userLoop, userFixup, userDone, userMutate, pkru;
};
_Static_assert(offsetof(struct ConformanceRun, root) == RUN_ROOT, "RUN_ROOT");
_Static_assert(offsetof(struct ConformanceRun, cr0) == RUN_CR0, "RUN_CR0");
_Static_assert(offsetof(struct ConformanceRun, cr4) == RUN_CR4, "RUN_CR4");
_Static_assert(offsetof(struct ConformanceRun, efer) == RUN_EFER, "RUN_EFER");
_Static_assert(offsetof(struct ConformanceRun, rflags) == RUN_RFLAGS, "RUN_RFLAGS");
_Static_assert(offsetof(struct ConformanceRun, accesses) == RUN_ACCESSES, "RUN_ACCESSES");
_Static_assert(offsetof(struct ConformanceRun, userAccesses) == RUN_USER_ACCESSES, "RUN_USER_ACCESSES");
_Static_assert(offsetof(struct ConformanceRun, count) == RUN_COUNT, "RUN_COUNT");
_Static_assert(offsetof(struct ConformanceRun, results) == RUN_RESULTS, "RUN_RESULTS");
_Static_assert(offsetof(struct ConformanceRun, userMode) == RUN_USER_MODE, "RUN_USER_MODE");
_Static_assert(offsetof(struct ConformanceRun, userStack) == RUN_USER_STACK, "RUN_USER_STACK");
_Static_assert(offsetof(struct ConformanceRun, userLoop) == RUN_USER_LOOP, "RUN_USER_LOOP");
_Static_assert(offsetof(struct ConformanceRun, userFixup) == RUN_USER_FIXUP, "RUN_USER_FIXUP");
_Static_assert(offsetof(struct ConformanceRun, userDone) == RUN_USER_DONE, "RUN_USER_DONE");
_Static_assert(offsetof(struct ConformanceRun, userMutate) == RUN_USER_MUTATE, "RUN_USER_MUTATE");
_Static_assert(offsetof(struct ConformanceRun, pkru) == RUN_PKRU, "RUN_PKRU");
_Static_assert(sizeof(struct ConformanceRun) == RUN_SIZE, "RUN_SIZE");
void conformance_run(const struct ConformanceRun *run);
/// Nonzero while a block's accesses run.
extern uint64_t conformance_active;
extern char conformance_user_loop[], conformance_user_fixup[], conformance_user_done[], conformance_user_mutate[];
static inline uint64_t arch_conformance_user_mutate(void) { return (uint64_t)conformance_user_mutate; }
static inline uint64_t arch_conformance_user_loop(void) { return (uint64_t)conformance_user_loop; }
static inline uint64_t arch_conformance_user_fixup(void) { return (uint64_t)conformance_user_fixup; }
static inline uint64_t arch_conformance_user_done(void) { return (uint64_t)conformance_user_done; }
/// Physical address of the static boot PML4 (all user-accessible, no NX).
extern char boot_pml4[];
static inline uint64_t arch_boot_pml4(void) { return (uint64_t)boot_pml4; }

#endif
