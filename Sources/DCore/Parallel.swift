import Dispatch

/// The one place where Swift code runs on several threads. Each chunk must write memory that
/// no other chunk touches; results then do not depend on the thread count.
///
/// OpenBLAS has threads of its own: a phase uses either this helper or multi-threaded BLAS,
/// never both at once, or the two fight over the cores (see docs/PERFORMANCE.md).
public struct Parallel: Sendable {
    public let threads: Int
    /// `threads − 1` worker threads, shared by the copies of this value; nil on one thread.
    private let pool: WorkerPool?

    public init(threads: Int) {
        self.threads = max(1, threads)
        pool = self.threads > 1 ? WorkerPool(workers: self.threads - 1) : nil
    }

    public static let serial = Parallel(threads: 1)

    /// Calls `body` with contiguous ranges that together cover `0..<count`, one range per
    /// thread. Runs inline when there is one thread or less than two items.
    public func forChunks(_ count: Int, _ body: @Sendable (Range<Int>) -> Void) {
        let chunks = min(threads, count)
        if chunks <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        run(chunks) { c in body(Self.chunk(c, of: chunks, count: count)) }
    }

    /// Calls `body(worker)` once for each worker `0..<threads`, concurrently. Workers that own
    /// scratch memory use this: worker `w` may touch only its own part.
    public func forWorkers(_ body: @Sendable (Int) -> Void) {
        if threads == 1 { body(0); return }
        run(threads, body)
    }

    private func run(_ count: Int, _ body: (Int) -> Void) {
        if let pool { pool.run(count, body) } else { for c in 0..<count { body(c) } }
    }

    /// Calls `body(i)` for every `i` in `0..<count`, spread over the threads in contiguous runs.
    public func forEach(_ count: Int, _ body: @Sendable (Int) -> Void) {
        forChunks(count) { range in
            for i in range { body(i) }
        }
    }

    /// The `c`-th of `chunks` near-equal contiguous ranges of `0..<count`.
    public static func chunk(_ c: Int, of chunks: Int, count: Int) -> Range<Int> {
        let base = count / chunks, extra = count % chunks
        let start = c * base + min(c, extra)
        return start..<(start + base + (c < extra ? 1 : 0))
    }
}

/// A pointer that may cross into `Parallel` chunks. Every use must write memory that no other
/// chunk touches; this is the one audited escape from Swift's sendability checks.
public struct SendablePointer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    @inlinable public init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}

/// One job at a time on a thread of its own, beside the caller's work: a TRAIN data layer
/// builds its next batch here while the net computes on the current one. The caller must
/// `wait` before it reads what a job wrote.
public final class BackgroundWorker: Sendable {
    private let queue: DispatchQueue
    private let group = DispatchGroup()

    public init(label: String) { queue = DispatchQueue(label: label) }

    public func start(_ job: @escaping @Sendable () -> Void) { queue.async(group: group, execute: job) }

    /// Returns once every job started so far has finished.
    public func wait() { group.wait() }
}
