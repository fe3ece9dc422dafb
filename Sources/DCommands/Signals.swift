#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The last signal received, set by the handler and read between iterations. A signal handler
/// can do almost nothing safely; storing a number is one of those things.
private let pendingSignal = Atomic<Int32>(0)

/// What a signal makes `dtrain` do (Caffe's `-sigint_effect` and `-sighup_effect`).
public enum SignalEffect: String, CaseIterable, Sendable {
    /// Write a snapshot and its solver state, then stop with a non-zero exit status.
    case stop
    /// Write a snapshot and its solver state, and carry on.
    case snapshot
    /// Ignore the signal.
    case none
}

enum Signals {
    /// Routes SIGINT and SIGTERM (with `interrupt`'s effect) and SIGHUP (with `hangup`'s).
    static func install(interrupt: SignalEffect, hangup: SignalEffect) {
        // A parent may have started us with these signals blocked (some test runners and
        // supervisors do); the handlers are useless unless they can arrive.
        var set = sigset_t()
        sigemptyset(&set)
        for sig in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, sig) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for (sig, effect) in [(SIGINT, interrupt), (SIGTERM, interrupt), (SIGHUP, hangup)] {
            if effect == .none {
                signal(sig, SIG_IGN)
            } else {
                signal(sig) { pendingSignal.store($0, ordering: .relaxed) }
            }
        }
    }

    /// The signal received since the last `take`, left pending.
    static func peek() -> Int32? {
        let s = pendingSignal.load(ordering: .relaxed)
        return s == 0 ? nil : s
    }

    /// The signal received since the last call, if any.
    static func take() -> Int32? {
        let s = pendingSignal.exchange(0, ordering: .relaxed)
        return s == 0 ? nil : s
    }
}
