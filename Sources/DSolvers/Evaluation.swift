import DCore
import DNet
import DLayers

/// The mean of each scalar output of a net over several batches.
public struct Evaluation: Sendable {
    public var outputs: [(name: String, value: Double)]
    /// Samples seen.
    public var samples: Int
    public var batches: Int
    /// Stopped before the end because a stop was requested: the means cover part of the data.
    public var interrupted = false

    public init(outputs: [(name: String, value: Double)], samples: Int, batches: Int) {
        self.outputs = outputs; self.samples = samples; self.batches = batches
    }

    public func value(_ name: String) -> Double? { outputs.first { $0.name == name }?.value }
}

public enum Evaluator {
    /// Runs `net` forward over `batches` batches, continuing its data where it stopped (Caffe's
    /// test_iter), and averages each scalar output weighted by batch size.
    /// `shouldStop` is asked before each batch (a long test must not outlast Ctrl-C);
    /// `afterBatch` sees each batch's blobs, with the batch size.
    /// With a `shard`, this rank runs only every `shard.count`-th batch from its own index and
    /// moves past the others (an IDXData or ImageData net): the ranks together cover the batches
    /// once, and their evaluations add up (`DataParallel.reduce`).
    public static func run(_ net: Net, batches: Int, step: StepContext, shard: Shard = .whole, shouldStop: () -> Bool = { false },
                           afterBatch: (Int) throws(RunError) -> Void = { _ in }) throws(RunError) -> Evaluation {
        if net.batchSize != net.builtBatchSize { try net.setBatchSize(net.builtBatchSize) }
        let outputs = net.scalarOutputs
        var sums = [Double](repeating: 0, count: outputs.count)
        var samples = 0, ran = 0
        var interrupted = false
        for b in 0..<batches {
            if shouldStop() { interrupted = true; break }
            guard b % shard.count == shard.index else {
                net.dataLayers.forEach { $0.order.skip($0.batchSize) }
                continue
            }
            ran += 1
            try net.forward(step)
            let n = net.batchSize
            for (k, o) in outputs.enumerated() { sums[k] += Double(net.data(o.blob)[0]) * Double(n) }
            try afterBatch(n)
            samples += n
        }
        var e = Evaluation(outputs: zip(outputs, sums).map { ($0.name, samples == 0 ? 0 : $1 / Double(samples)) },
                           samples: samples, batches: ran)
        e.interrupted = interrupted
        return e
    }

    /// Runs `net` over its whole dataset exactly once from the first sample, in batches of the
    /// size it was built with and a smaller last one when that does not divide the dataset.
    /// `afterBatch` sees each batch's blobs, with the batch size.
    /// A `shard` runs every `shard.count`-th batch, as in `run`.
    public static func wholeDataset(_ net: Net, step: StepContext, shard: Shard = .whole, shouldStop: () -> Bool = { false },
                                    afterBatch: (Int) throws(RunError) -> Void = { _ in }) throws(RunError) -> Evaluation {
        // TextData: its split once from the first step, in ⌊S/T⌋ full batches of T·N characters.
        if net.dataLayers.isEmpty, let text = net.textDataLayers.first {
            net.textDataLayers.forEach { $0.rewind() }
            var e = try run(net, batches: text.batchesPerPass, step: step, shouldStop: shouldStop, afterBatch: afterBatch)
            e.samples = e.batches * text.samplesPerBatch
            return e
        }
        guard let data = net.dataLayers.first else {
            throw RunError(message: "net '\(net.name)' has no IDXData layer in phase \(net.phase) to evaluate on",
                           hint: "add a data layer with include: {phase: TEST}")
        }
        let batch = net.builtBatchSize, count = data.dataset.count
        for layer in net.dataLayers {
            layer.order = SampleOrder(count: layer.dataset.count, shuffle: false, seed: layer.order.seed)
        }
        let outputs = net.scalarOutputs
        var sums = [Double](repeating: 0, count: outputs.count)
        var done = 0, batches = 0, seen = 0
        var interrupted = false
        for b in 0... {
            guard done < count else { break }
            if shouldStop() { interrupted = true; break }
            let n = min(batch, count - done)
            done += n
            guard b % shard.count == shard.index else {
                net.dataLayers.forEach { $0.order.skip(n) }
                continue
            }
            if n != net.batchSize { try net.setBatchSize(n) }
            try net.forward(step)
            for (k, o) in outputs.enumerated() { sums[k] += Double(net.data(o.blob)[0]) * Double(n) }
            try afterBatch(n)
            seen += n
            batches += 1
        }
        if net.batchSize != batch { try net.setBatchSize(batch) }
        var e = Evaluation(outputs: zip(outputs, sums).map { ($0.name, seen == 0 ? 0 : $1 / Double(seen)) }, samples: seen, batches: batches)
        e.interrupted = interrupted
        return e
    }
}

import DData
