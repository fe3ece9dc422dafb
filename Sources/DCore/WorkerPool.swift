import CKernels
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The threads behind one `Parallel`: `threads − 1` workers that run chunks of a job beside the
/// calling thread. `DispatchQueue.concurrentPerform` woke its worker 24–31 µs after the call on
/// these machines and took as long again to report back, about 50 µs a parallel loop: more
/// than many of a LeNet or MLP step's loops take (docs/PERFORMANCE.md). Here a worker spins on
/// the job's counter for `spinNanoseconds` after each job before it sleeps on a condition
/// variable, so back-to-back loops start within a microsecond and an idle pool costs nothing.
///
/// A job is its chunks 0..<count; the caller and the workers claim them one at a time, so which
/// thread runs a chunk varies but what a chunk computes does not. A call made while the pool
/// is busy (a loop inside a chunk, or a second caller) runs all its chunks on its own thread.
final class WorkerPool: @unchecked Sendable {
    /// How long an idle worker spins before it sleeps.
    static let spinNanoseconds: UInt64 = 100_000

    /// The job in one word: generation (bits 32…63), chunk count (16…31), chunks claimed (0…15).
    /// A claim is a compare-and-swap that checks the generation, so a worker that wakes late
    /// for an earlier job can never claim a chunk of the next one.
    private let state = Atomic<UInt64>(0)
    private let pending = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    /// Written by the caller before the release of `state` that publishes its generation, read
    /// by a thread only after it claimed a chunk of that generation; cleared once all are done.
    private var job: ((Int) -> Void)?
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var workers: [pthread_t] = []

    init(workers count: Int) {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        for _ in 0..<count {
            var thread = pthread_t()
            let context = Unmanaged.passUnretained(self).toOpaque()
            let made = pthread_create(&thread, nil, { context in
                Unmanaged<WorkerPool>.fromOpaque(context!).takeUnretainedValue().work()
                return nil
            }, context)
            // Without the thread its chunks run on the caller's: slower, never wrong.
            if made == 0 { workers.append(thread) }
        }
    }

    /// Only `Parallel`'s handle owns the pool, and the workers hold it unretained: they are
    /// joined here, before the memory goes.
    deinit {
        pthread_mutex_lock(mutex)
        stopping.store(true, ordering: .sequentiallyConsistent)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for thread in workers { pthread_join(thread, nil) }
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        wake.deallocate()
    }

    /// Calls `body(c)` once for every c in 0..<count, spread over the caller and the workers,
    /// and returns when all have returned.
    func run(_ count: Int, _ body: (Int) -> Void) {
        guard count > 1, count < 1 << 16, !workers.isEmpty,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else {
            for c in 0..<count { body(c) }
            return
        }
        withoutActuallyEscaping(body) { body in
            job = body
            pending.store(count, ordering: .relaxed)
            // 32 bits, wrapping: the caller's claims compare it with the word's high half.
            let generation = ((state.load(ordering: .relaxed) >> 32) &+ 1) & 0xFFFF_FFFF
            state.store(generation << 32 | UInt64(count) << 16, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(wake)
                pthread_mutex_unlock(mutex)
            }
            runClaimed(generation: generation)
            var spins = 0
            while pending.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins & 255 == 0 { sched_yield() } else { dk_pause() }
            }
            job = nil
        }
        busy.store(false, ordering: .releasing)
    }

    /// Claims and runs chunks of `generation` until none is left.
    private func runClaimed(generation: UInt64) {
        var current = state.load(ordering: .acquiring)
        while current >> 32 == generation {
            let claimed = current & 0xFFFF, count = (current >> 16) & 0xFFFF
            guard claimed < count else { return }
            let (exchanged, seen) = state.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                job?(Int(claimed))
                pending.subtract(1, ordering: .releasing)
                current = current + 1
            } else {
                current = seen
            }
        }
    }

    private func work() {
        var seen: UInt64 = 0
        while !stopping.load(ordering: .relaxed) {
            let generation = waitForJob(after: seen)
            guard let generation else { return }
            runClaimed(generation: generation)
            seen = generation
        }
    }

    /// The generation of the next job after `seen`: spins for `spinNanoseconds`, then sleeps until
    /// `run` wakes it. Nil when the pool is stopping.
    private func waitForJob(after seen: UInt64) -> UInt64? {
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        var spins = 0
        while true {
            let generation = state.load(ordering: .acquiring) >> 32
            if generation != seen { return generation }
            if stopping.load(ordering: .relaxed) { return nil }
            spins += 1
            dk_pause()
            guard spins & 63 == 0 else { continue }
            sched_yield()  // to a thread that waits for this core (more threads than cores)
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let elapsed = (now.tv_sec - start.tv_sec) * 1_000_000_000 + (now.tv_nsec - start.tv_nsec)
            guard elapsed > Int(Self.spinNanoseconds) else { continue }
            // Sleep. `run` publishes a job before it reads `sleepers`, and this thread counts
            // itself in `sleepers` before it reads the job (both sequentially consistent), so
            // one of the two sees the other: the job is seen here, or `run` broadcasts, which
            // it can only do once this thread waits (it holds the mutex until then).
            pthread_mutex_lock(mutex)
            sleepers.add(1, ordering: .sequentiallyConsistent)
            while state.load(ordering: .sequentiallyConsistent) >> 32 == seen && !stopping.load(ordering: .sequentiallyConsistent) {
                pthread_cond_wait(wake, mutex)
            }
            sleepers.subtract(1, ordering: .sequentiallyConsistent)
            pthread_mutex_unlock(mutex)
            clock_gettime(CLOCK_MONOTONIC, &start)
        }
    }
}
