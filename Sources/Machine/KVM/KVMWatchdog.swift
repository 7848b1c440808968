#if os(Linux)
  import CKVM
  import Glibc

  /// Bounds one `KVMMachine.run`: a POSIX timer aimed at the vCPU thread whose
  /// signal sets `kvm_run.immediate_exit`, so KVM_RUN returns EINTR at the
  /// deadline wherever the thread is (the C half in CKVM explains the race-free
  /// scheme). One timer per machine, re-used by every run on the same thread and
  /// re-created only when `run` is called from another thread, so a run costs two
  /// timer_settime calls.
  final class KVMWatchdog {
    /// The signal the timer sends (its handler is installed once per process, without SA_RESTART).
    static let signalNumber = SIGUSR1

    private let state: UnsafeMutablePointer<ckvm_watchdog>

    init(run: UnsafeMutablePointer<kvm_run>) {
      state = .allocate(capacity: 1)
      state.initialize(to: ckvm_watchdog(run: run, fired: 0, timer: nil, thread: 0, signal_number: Self.signalNumber))
    }

    deinit {
      // SAFETY: deletes the timer (never armed outside `run`, so no signal is in flight) before freeing its target.
      ckvm_watchdog_destroy(state)
      state.deinitialize(count: 1)
      state.deallocate()
    }

    /// Arms the timer for `nanoseconds` from now, aimed at the calling thread.
    func arm(nanoseconds: Int64) throws(KVMError) {
      // SAFETY: installs a handler that only touches the watchdog this thread armed.
      guard ckvm_watchdog_install_handler(Self.signalNumber) == 0 else {
        throw KVMError(operation: "sigaction", errno: ckvm_errno())
      }
      // SAFETY: `state` lives as long as this object; the timer targets this thread.
      guard ckvm_watchdog_prepare(state) == 0 else { throw KVMError(operation: "timer_create", errno: ckvm_errno()) }
      // SAFETY: arms the timer created above.
      guard ckvm_watchdog_arm(state, nanoseconds) == 0 else {
        throw KVMError(operation: "timer_settime", errno: ckvm_errno())
      }
    }

    /// Disarms the timer; any signal it sent has been handled when this returns.
    func disarm() {
      // SAFETY: disarming a timer of ours; failure leaves a one-shot timer that can only set `fired` and the flag.
      _ = ckvm_watchdog_disarm(state)
    }

    /// True if the timer fired since it was last armed.
    var fired: Bool {
      // SAFETY: the handler writes `fired` on this thread only, so a plain read after KVM_RUN returns sees it.
      state.pointee.fired != 0
    }
  }
#endif
