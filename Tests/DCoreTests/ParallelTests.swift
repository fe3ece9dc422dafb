@testable import DCore
import Dispatch
import Testing

/// `Parallel` on its worker pool: every chunk runs exactly once per call, whichever thread runs
/// it, through many calls in a row, across the workers' sleep, nested and from several callers.
@Suite struct ParallelTests {
    /// Counts, per chunk, how often it ran: plain memory, not atomics, since a chunk's slot is
    /// written by one thread at a time, and it is the pool's synchronisation that must order one
    /// call's writes before the next call's and before the caller reads them (ThreadSanitizer
    /// checks it: `scripts/sanitize thread --filter ParallelTests`).
    final class Tally: @unchecked Sendable {
        let counts: UnsafeMutableBufferPointer<Int>
        init(_ n: Int) { counts = .allocate(capacity: n); counts.initialize(repeating: 0) }
        deinit { counts.deallocate() }
        func hit(_ i: Int) { counts[i] += 1 }
        var values: [Int] { Array(counts) }
    }

    @Test(arguments: [2, 3, 5])
    func everyChunkRunsOncePerCall(threads: Int) {
        let parallel = Parallel(threads: threads)
        for count in [0, 1, 2, 3, 7, 100] {
            let tally = Tally(max(count, 1))
            let calls = 2_000
            for _ in 0..<calls {
                parallel.forChunks(count) { range in
                    for i in range { tally.hit(i) }
                }
            }
            #expect(tally.values == (count == 0 ? [0] : Array(repeating: calls, count: count)), "threads \(threads) count \(count)")
        }
        let workers = Tally(threads)
        for _ in 0..<100 { parallel.forWorkers { w in workers.hit(w) } }
        #expect(workers.values == Array(repeating: 100, count: threads))
    }

    /// The chunks are the contiguous ranges of `chunk(_:of:count:)`, one per thread.
    @Test func chunksAreTheSameRangesAsBefore() {
        let parallel = Parallel(threads: 3)
        let ends = Tally(10)  // the range starting at i ends at ends[i]
        parallel.forChunks(10) { range in ends.counts[range.lowerBound] = range.upperBound }
        #expect(ends.values == [4, 0, 0, 0, 7, 0, 0, 10, 0, 0])
    }

    /// Calls after the workers have gone to sleep (longer than their spin) still run every chunk
    /// on the workers too.
    @Test func wakesSleepingWorkers() {
        let parallel = Parallel(threads: 2)
        for _ in 0..<5 {
            let wait = DispatchTime.now().uptimeNanoseconds + 3 * WorkerPool.spinNanoseconds
            while DispatchTime.now().uptimeNanoseconds < wait {}
            let tally = Tally(2)
            parallel.forWorkers { w in tally.hit(w) }
            #expect(tally.values == [1, 1])
        }
    }

    /// A loop inside a chunk, and loops started from several threads at once, run inline
    /// rather than wait for a busy pool: still every chunk exactly once.
    @Test func nestedAndConcurrentCallsRunEveryChunk() {
        let parallel = Parallel(threads: 2)
        let inner = Tally(6)
        parallel.forEach(3) { i in
            parallel.forEach(2) { j in inner.hit(2 * i + j) }
        }
        #expect(inner.values == Array(repeating: 1, count: 6))
        let outer = Tally(4 * 5)
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for _ in 0..<200 {
                parallel.forEach(5) { j in outer.hit(5 * caller + j) }
            }
        }
        #expect(outer.values == Array(repeating: 200, count: 20))
    }

    /// Copies share one pool; pools come and go without leaving threads behind to hang.
    @Test func poolsComeAndGo() {
        for _ in 0..<50 {
            let parallel = Parallel(threads: 3), copy = parallel
            let tally = Tally(3)
            copy.forWorkers { w in tally.hit(w) }
            parallel.forWorkers { w in tally.hit(w) }
            #expect(tally.values == [2, 2, 2])
        }
    }
}
