// CKVM: the few pieces of <linux/kvm.h> glue that must be real C functions.
#define _GNU_SOURCE
#ifdef __linux__
#include "CKVM.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int ckvm_ioctl(int fd, unsigned long request, void *argument) {
  return ioctl(fd, request, argument);
}

int ckvm_errno(void) { return errno; }

int ckvm_gettid(void) { return (int)syscall(SYS_gettid); }

// The watchdog the calling thread is running under (set while armed).
static _Thread_local struct ckvm_watchdog *ckvm_current_watchdog;

static void ckvm_watchdog_handler(int signal_number, siginfo_t *info, void *context) {
  (void)signal_number;
  (void)context;
  struct ckvm_watchdog *watchdog = ckvm_current_watchdog;
  // Only our own timer's signal, aimed at the watchdog this thread runs under,
  // kicks the vCPU; any other delivery of the signal just interrupts KVM_RUN,
  // which the run loop retries.
  if (watchdog == NULL || info == NULL || info->si_code != SI_TIMER || info->si_value.sival_ptr != watchdog) {
    return;
  }
  watchdog->fired = 1;
  if (watchdog->run != NULL) {
    __atomic_store_n(&watchdog->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
  }
}

static pthread_mutex_t ckvm_handler_lock = PTHREAD_MUTEX_INITIALIZER;
static int ckvm_handler_installed_for;

int ckvm_watchdog_install_handler(int signal_number) {
  pthread_mutex_lock(&ckvm_handler_lock);
  if (ckvm_handler_installed_for == signal_number) {
    pthread_mutex_unlock(&ckvm_handler_lock);
    return 0;
  }
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = ckvm_watchdog_handler;
  // SA_SIGINFO for si_value; deliberately no SA_RESTART, so KVM_RUN returns EINTR.
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  int result = sigaction(signal_number, &action, NULL);
  if (result == 0) {
    ckvm_handler_installed_for = signal_number;
  }
  pthread_mutex_unlock(&ckvm_handler_lock);
  return result;
}

int ckvm_watchdog_prepare(struct ckvm_watchdog *watchdog) {
  int thread = ckvm_gettid();
  if (watchdog->thread == thread) {
    return 0;
  }
  ckvm_watchdog_destroy(watchdog);
  // The signal must not be blocked on this thread, or it could never kick KVM_RUN.
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, watchdog->signal_number);
  int error = pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
  if (error != 0) {
    errno = error;
    return -1;
  }
  struct sigevent event;
  memset(&event, 0, sizeof event);
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = watchdog->signal_number;
  event.sigev_value.sival_ptr = watchdog;
  event._sigev_un._tid = thread;
  timer_t timer;
  if (timer_create(CLOCK_MONOTONIC, &event, &timer) != 0) {
    return -1;
  }
  watchdog->timer = (void *)timer;
  watchdog->thread = thread;
  return 0;
}

int ckvm_watchdog_arm(struct ckvm_watchdog *watchdog, int64_t nanoseconds) {
  if (watchdog->thread == 0) {
    errno = EINVAL;
    return -1;
  }
  if (nanoseconds < 1) {
    nanoseconds = 1;  // 0 would disarm
  }
  watchdog->fired = 0;
  ckvm_current_watchdog = watchdog;
  struct itimerspec when;
  memset(&when, 0, sizeof when);
  when.it_value.tv_sec = (time_t)(nanoseconds / 1000000000);
  when.it_value.tv_nsec = (long)(nanoseconds % 1000000000);
  if (timer_settime((timer_t)watchdog->timer, 0, &when, NULL) != 0) {
    int saved = errno;
    ckvm_current_watchdog = NULL;
    errno = saved;
    return -1;
  }
  return 0;
}

int ckvm_watchdog_disarm(struct ckvm_watchdog *watchdog) {
  int result = 0;
  if (watchdog->thread != 0) {
    struct itimerspec never;
    memset(&never, 0, sizeof never);
    result = timer_settime((timer_t)watchdog->timer, 0, &never, NULL);
  }
  ckvm_current_watchdog = NULL;
  return result;
}

void ckvm_watchdog_destroy(struct ckvm_watchdog *watchdog) {
  if (watchdog->thread != 0) {
    timer_delete((timer_t)watchdog->timer);
    watchdog->thread = 0;
    watchdog->timer = NULL;
  }
}

#endif  // __linux__
