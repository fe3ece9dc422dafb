#if canImport(Glibc)
import Glibc
#endif
import DSolvers
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

/// What the signals received mean between iterations, by their configured effects.
final class SignalControl {
    let interrupt: SignalEffect, hangup: SignalEffect
    /// The signal whose effect stopped the run, if one did here.
    private(set) var stoppedBy: Int32?

    init(interrupt: SignalEffect, hangup: SignalEffect) { self.interrupt = interrupt; self.hangup = hangup }

    func effect(of signal: Int32) -> SignalEffect { signal == SIGHUP ? hangup : interrupt }

    /// Asked during a test: a pending signal that stops.
    var stopRequested: () -> Bool { { Signals.peek().map { self.effect(of: $0) == .stop } ?? false } }

    /// Asked between iterations: takes the pending signal.
    func control() -> TrainControl {
        guard let signal = Signals.take() else { return .proceed }
        switch effect(of: signal) {
        case .stop:
            stoppedBy = signal
            return .stop
        case .snapshot: return .snapshot
        case .none: return .proceed
        }
    }

    /// The exit status of a run that ended for `reason`: 128 + the signal when a signal
    /// stopped it. Under mpirun the ranks stop together, and a rank that received no signal
    /// itself exits as for SIGINT.
    func exitCode(_ reason: StopReason?) -> Int32? {
        reason == .interrupted ? 128 + (stoppedBy ?? SIGINT) : nil
    }
}
