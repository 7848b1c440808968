// CKVM: <linux/kvm.h> made usable from Swift.
//
// Swift imports C structures and plain integer macros, but not function-like
// macros such as _IO/_IOR/_IOW/_IOWR, nor variadic functions such as ioctl(2),
// nor members of anonymous unions in a way that is pleasant to use. This header
// fills those gaps with small inline functions; it adds no behaviour of its own.
#ifndef CKVM_H
#define CKVM_H

#ifdef __linux__

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - ioctl request numbers (Documentation/virt/kvm/api.rst, section 4)

// System ioctls (on the /dev/kvm descriptor).
static inline unsigned long ckvm_ioctl_get_api_version(void) { return KVM_GET_API_VERSION; }
static inline unsigned long ckvm_ioctl_create_vm(void) { return KVM_CREATE_VM; }
static inline unsigned long ckvm_ioctl_check_extension(void) { return KVM_CHECK_EXTENSION; }
static inline unsigned long ckvm_ioctl_get_vcpu_mmap_size(void) { return KVM_GET_VCPU_MMAP_SIZE; }
static inline unsigned long ckvm_ioctl_get_supported_cpuid(void) { return KVM_GET_SUPPORTED_CPUID; }

// VM ioctls (on a descriptor returned by KVM_CREATE_VM).
static inline unsigned long ckvm_ioctl_set_user_memory_region(void) { return KVM_SET_USER_MEMORY_REGION; }
static inline unsigned long ckvm_ioctl_create_vcpu(void) { return KVM_CREATE_VCPU; }
static inline unsigned long ckvm_ioctl_get_dirty_log(void) { return KVM_GET_DIRTY_LOG; }
static inline unsigned long ckvm_ioctl_set_tss_addr(void) { return KVM_SET_TSS_ADDR; }
static inline unsigned long ckvm_ioctl_set_identity_map_addr(void) { return KVM_SET_IDENTITY_MAP_ADDR; }
static inline unsigned long ckvm_ioctl_create_irqchip(void) { return KVM_CREATE_IRQCHIP; }

// vCPU ioctls (on a descriptor returned by KVM_CREATE_VCPU).
static inline unsigned long ckvm_ioctl_run(void) { return KVM_RUN; }
static inline unsigned long ckvm_ioctl_get_regs(void) { return KVM_GET_REGS; }
static inline unsigned long ckvm_ioctl_set_regs(void) { return KVM_SET_REGS; }
static inline unsigned long ckvm_ioctl_get_sregs(void) { return KVM_GET_SREGS; }
static inline unsigned long ckvm_ioctl_set_sregs(void) { return KVM_SET_SREGS; }
static inline unsigned long ckvm_ioctl_translate(void) { return KVM_TRANSLATE; }
static inline unsigned long ckvm_ioctl_set_cpuid2(void) { return KVM_SET_CPUID2; }
static inline unsigned long ckvm_ioctl_get_cpuid2(void) { return KVM_GET_CPUID2; }
static inline unsigned long ckvm_ioctl_get_tsc_khz(void) { return KVM_GET_TSC_KHZ; }

// MARK: - The system-call shim

/// ioctl(2) without the variadic argument, which Swift cannot call.
/// Returns what ioctl returns; on failure -1 with errno set.
int ckvm_ioctl(int fd, unsigned long request, void *argument);

/// errno of the calling thread (Swift's `errno` is a computed global; this keeps
/// the read next to the failing call in C).
int ckvm_errno(void);

// MARK: - struct kvm_run accessors (its exit data lives in an anonymous union)

static inline uint32_t ckvm_run_exit_reason(const struct kvm_run *run) { return run->exit_reason; }

static inline uint8_t ckvm_run_io_direction(const struct kvm_run *run) { return run->io.direction; }
static inline uint8_t ckvm_run_io_size(const struct kvm_run *run) { return run->io.size; }
static inline uint16_t ckvm_run_io_port(const struct kvm_run *run) { return run->io.port; }
static inline uint32_t ckvm_run_io_count(const struct kvm_run *run) { return run->io.count; }
static inline uint64_t ckvm_run_io_data_offset(const struct kvm_run *run) { return run->io.data_offset; }

static inline uint64_t ckvm_run_mmio_phys_addr(const struct kvm_run *run) { return run->mmio.phys_addr; }
static inline uint32_t ckvm_run_mmio_len(const struct kvm_run *run) { return run->mmio.len; }
static inline uint8_t ckvm_run_mmio_is_write(const struct kvm_run *run) { return run->mmio.is_write; }
static inline uint8_t *ckvm_run_mmio_data(struct kvm_run *run) { return run->mmio.data; }

static inline uint64_t ckvm_run_fail_entry_reason(const struct kvm_run *run) {
  return run->fail_entry.hardware_entry_failure_reason;
}
static inline uint32_t ckvm_run_fail_entry_cpu(const struct kvm_run *run) { return run->fail_entry.cpu; }

static inline uint64_t ckvm_run_hw_exit_reason(const struct kvm_run *run) { return run->hw.hardware_exit_reason; }

static inline uint32_t ckvm_run_internal_suberror(const struct kvm_run *run) { return run->internal.suberror; }
static inline uint32_t ckvm_run_internal_ndata(const struct kvm_run *run) { return run->internal.ndata; }
/// internal.data[index], or 0 when index is out of range.
static inline uint64_t ckvm_run_internal_data(const struct kvm_run *run, uint32_t index) {
  return index < sizeof(run->internal.data) / sizeof(run->internal.data[0]) ? run->internal.data[index] : 0;
}

static inline uint32_t ckvm_run_system_event_type(const struct kvm_run *run) { return run->system_event.type; }

static inline uint32_t ckvm_run_exception_number(const struct kvm_run *run) { return run->ex.exception; }
static inline uint32_t ckvm_run_exception_error_code(const struct kvm_run *run) { return run->ex.error_code; }

/// Reads kvm_run.immediate_exit (atomically: the watchdog's signal handler writes it).
static inline uint8_t ckvm_run_immediate_exit(const struct kvm_run *run) {
  return __atomic_load_n(&run->immediate_exit, __ATOMIC_SEQ_CST);
}
/// Writes kvm_run.immediate_exit (atomically: the watchdog's signal handler writes it too).
static inline void ckvm_run_set_immediate_exit(struct kvm_run *run, uint8_t value) {
  __atomic_store_n(&run->immediate_exit, value, __ATOMIC_SEQ_CST);
}

// MARK: - struct kvm_dirty_log (its bitmap pointer lives in an anonymous union)

static inline void ckvm_dirty_log_init(struct kvm_dirty_log *log, uint32_t slot, void *bitmap) {
  log->slot = slot;
  log->padding1 = 0;
  log->padding2 = 0;
  log->dirty_bitmap = bitmap;
}

// MARK: - struct kvm_cpuid2 (ends in a flexible array)

/// Bytes needed for a kvm_cpuid2 with `entries` entries.
static inline size_t ckvm_cpuid2_size(uint32_t entries) {
  return sizeof(struct kvm_cpuid2) + (size_t)entries * sizeof(struct kvm_cpuid_entry2);
}
static inline struct kvm_cpuid_entry2 *ckvm_cpuid2_entries(struct kvm_cpuid2 *cpuid) { return cpuid->entries; }

// MARK: - The run watchdog
//
// A POSIX timer (timer_create with SIGEV_THREAD_ID) sends a signal to the thread
// that runs the vCPU when the deadline passes. The signal's handler sets
// kvm_run.immediate_exit, so KVM_RUN returns EINTR whether the signal arrives
// while the thread is inside KVM_RUN (the pending signal makes it return) or
// between two KVM_RUN calls (the flag makes the next one return at once).
// This is the pattern the KVM API documentation describes for immediate_exit.

struct ckvm_watchdog {
  /// The vCPU's shared run structure.
  struct kvm_run *run;
  /// Set by the signal handler when this watchdog's timer fired.
  volatile int fired;
  /// The POSIX timer, valid when `thread` is non-zero.
  void *timer;
  /// Kernel thread id the timer signals (0: no timer yet).
  int thread;
  int signal_number;
};

/// Installs (once per process) the no-op-but-for-immediate_exit handler for
/// `signal_number`, without SA_RESTART. Returns 0, or -1 with errno set.
int ckvm_watchdog_install_handler(int signal_number);

/// Makes sure `watchdog` has a timer that signals the calling thread, creating
/// (or re-creating, if the thread changed) it. Returns 0, or -1 with errno set.
int ckvm_watchdog_prepare(struct ckvm_watchdog *watchdog);

/// Arms the timer for `nanoseconds` from now and marks `watchdog` as the calling
/// thread's current one. Returns 0, or -1 with errno set.
int ckvm_watchdog_arm(struct ckvm_watchdog *watchdog, int64_t nanoseconds);

/// Disarms the timer. Any signal it already sent has been handled when this
/// returns (it was sent to this thread, which handles it on return from the
/// disarming system call). Returns 0, or -1 with errno set.
int ckvm_watchdog_disarm(struct ckvm_watchdog *watchdog);

/// Deletes the timer, if any.
void ckvm_watchdog_destroy(struct ckvm_watchdog *watchdog);

/// The calling thread's kernel thread id.
int ckvm_gettid(void);

#ifdef __cplusplus
}
#endif

#endif  // __linux__

#endif  // CKVM_H
