import DCore
import DData
import DNet

/// Synchronous data-parallel training over MPI, the pattern of Horovod and PyTorch's DDP: every
/// rank holds the whole net, reads its own slice of each global batch, and the ranks average
/// their gradients before each applies the same update.
///
/// The gradients go in buckets of about `bucketBytes`, in the order backward finishes them
/// (the last layers first). A bucket's non-blocking allreduce starts as soon as the layer that
/// completes it has run backward, so sending the later layers' gradients overlaps computing
/// the earlier ones'; only what is still in flight when backward ends is waited for.
public final class DataParallel {
    public let communicator: MPICommunicator
    public let shard: Shard
    public var isRoot: Bool { shard.index == 0 }
    /// Start each bucket when backward completes it (false: all after backward, to measure
    /// what the overlap saves).
    public let overlap: Bool

    struct Bucket {
        var parameters: [Parameter]
        /// The layer after whose backward every gradient in the bucket is final.
        var readyAfter: Int
        var offset: Int
        var count: Int
    }
    let buckets: [Bucket]
    /// Floats allreduced per step: every learned gradient of the train net.
    public let gradientCount: Int
    /// The train net's state parameters (BatchNorm's statistics): rank 0's are copied to every
    /// rank after each step, as DDP broadcasts its buffers, so that all ranks test and
    /// snapshot the same model.
    let state: [Parameter]
    private let buffer: AllreduceBuffer
    private var started: [Bool]
    private var inFlight: [MPIRequest] = []
    /// When the step's first bucket started during backward.
    private var firstStart: ContinuousClock.Instant?
    public private(set) var stats = CommunicationStats()

    public init(communicator: MPICommunicator, net: Net, bucketBytes: Int, overlap: Bool) {
        self.communicator = communicator
        shard = Shard(index: communicator.rank, count: communicator.size)
        self.overlap = overlap
        buckets = Self.plan(net, bucketBytes: bucketBytes)
        gradientCount = buckets.reduce(0) { $0 + $1.count }
        var seen: Set<ObjectIdentifier> = []
        state = net.nodes.flatMap(\.parameters).filter { $0.isState && seen.insert(ObjectIdentifier($0)).inserted }
        buffer = AllreduceBuffer(count: gradientCount)
        started = Array(repeating: false, count: buckets.count)
    }

    /// Buckets in backward order. A parameter's gradient is final after the backward of the
    /// first layer (in forward order) that uses it: shared parameters wait for their last user.
    static func plan(_ net: Net, bucketBytes: Int) -> [Bucket] {
        var readyAfter: [ObjectIdentifier: Int] = [:]
        for (i, node) in net.nodes.enumerated().reversed() {
            for p in node.parameters where p.isLearned { readyAfter[ObjectIdentifier(p)] = i }
        }
        var buckets: [Bucket] = [], current = Bucket(parameters: [], readyAfter: 0, offset: 0, count: 0)
        var placed: Set<ObjectIdentifier> = []
        for (i, node) in net.nodes.enumerated().reversed() {
            for p in node.parameters where p.isLearned && readyAfter[ObjectIdentifier(p)] == i && placed.insert(ObjectIdentifier(p)).inserted {
                current.parameters.append(p)
                current.count += p.value.view.count
                current.readyAfter = i
                if current.count * 4 >= bucketBytes {
                    buckets.append(current)
                    current = Bucket(parameters: [], readyAfter: 0, offset: current.offset + current.count, count: 0)
                }
            }
        }
        if !current.parameters.isEmpty { buckets.append(current) }
        return buckets
    }

    public var bucketCount: Int { buckets.count }

    static func seconds(_ d: Duration) -> Double { Double(d / .nanoseconds(1)) / 1e9 }

    /// An MPI failure as a run error (another rank died, most often).
    private func mpi<T>(_ body: () throws(MPIError) -> T) throws(RunError) -> T {
        do { return try body() } catch { throw RunError(message: error.message, hint: error.hint) }
    }

    /// Before the backward of a step's last batch.
    func beginStep() {
        started = Array(repeating: false, count: buckets.count)
        inFlight = []
        firstStart = nil
    }

    /// After layer `layer`'s backward: starts the buckets it completed, and lets those in
    /// flight progress.
    func layerFinished(_ layer: Int) throws(RunError) {
        guard overlap else { return }
        for (b, bucket) in buckets.enumerated() where bucket.readyAfter == layer {
            if firstStart == nil { firstStart = .now }
            try start(b)
        }
        try mpi { () throws(MPIError) in try communicator.progress(&inFlight) }
    }

    private func start(_ b: Int) throws(RunError) {
        let bucket = buckets[b]
        buffer.pack(bucket.parameters.map(\.grad.view), at: bucket.offset)
        inFlight.append(try mpi { () throws(MPIError) in try communicator.startAllreduceSum(buffer, offset: bucket.offset, count: bucket.count) })
        started[b] = true
    }

    /// After backward: completes the allreduce, leaves the mean gradient over all ranks in
    /// every parameter, and agrees on the step's loss (the mean of the ranks' losses) and on
    /// whether to stop (any rank's vote).
    func finish(loss: Double, stopVote: Bool) throws(RunError) -> (loss: Double, stop: Bool) {
        let waitStart = ContinuousClock.now
        if let firstStart { stats.windowSeconds += Self.seconds(waitStart - firstStart) }
        for b in buckets.indices where !started[b] { try start(b) }
        try mpi { () throws(MPIError) in try communicator.waitAll(&inFlight) }
        stats.exposedSeconds += Self.seconds(.now - waitStart)
        stats.steps += 1
        let scale = 1 / Float(shard.count)
        for bucket in buckets { buffer.unpack(into: bucket.parameters.map(\.grad.view), at: bucket.offset, scale: scale) }
        for p in state { try mpi { () throws(MPIError) in try communicator.broadcast(p.value.view) } }
        var agreed = [loss, stopVote ? 1 : 0]
        try mpi { () throws(MPIError) in try communicator.allreduceSum(&agreed) }
        return (agreed[0] / Double(shard.count), agreed[1] > 0)
    }

    /// Every rank takes rank 0's parameters and optimiser history, so that all start alike.
    func broadcast(_ store: ParameterStore, history: [[Tensor]]) throws(RunError) {
        for t in store.parameters.map(\.value) + history.joined() {
            try mpi { () throws(MPIError) in try communicator.broadcast(t.view) }
        }
    }

    /// The evaluation of the whole job from each rank's evaluation of its shard: outputs
    /// weighted by samples, as one process would have averaged them.
    func reduce(_ e: Evaluation) throws(RunError) -> Evaluation {
        var sums = e.outputs.map { $0.value * Double(e.samples) } + [Double(e.samples), Double(e.batches)]
        try mpi { () throws(MPIError) in try communicator.allreduceSum(&sums) }
        let samples = Int(sums[e.outputs.count]), batches = Int(sums[e.outputs.count + 1])
        return Evaluation(outputs: e.outputs.enumerated().map { k, o in (o.name, samples == 0 ? 0 : sums[k] / Double(samples)) },
                          samples: samples, batches: batches)
    }
}

/// What the gradient allreduce cost over a run.
public struct CommunicationStats: Sendable {
    public var steps = 0
    /// Time spent after backward waiting for the allreduce to complete: the communication
    /// that the overlap did not hide.
    public var exposedSeconds = 0.0
    /// Time from the first bucket's start to the end of backward: the window communication
    /// can hide in.
    public var windowSeconds = 0.0
}
