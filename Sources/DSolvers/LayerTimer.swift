import DCore
import DLayers
import DNet

/// Per-layer forward and backward times of the train net (Caffe's `caffe time`).
public struct LayerTiming: Sendable {
    public var name: String
    public var type: String
    /// Mean milliseconds per iteration.
    public var forwardMs: Double
    public var backwardMs: Double
    /// Floating-point operations of one forward and one backward pass, where the layer counts them.
    public var forwardFlops: Double
    public var backwardFlops: Double
    /// The layer's matrix products in one timed step (`Layer.gemms`), forward and backward as run.
    public var gemms: [GEMMShape]
    /// The layer whose times include this one's work (`Net.runsInside`): a max pooling run
    /// inside its convolution. This layer's own times are then about 0.
    public var runsInside: String?
}

/// Where a training step's time goes (`Trainer.timeLayers`), in mean milliseconds per step.
public struct StepTiming: Sendable {
    public var layers: [LayerTiming]
    /// `ParameterStore.zeroGradients` and `Optimizer.update`, over all parameters.
    public var zeroingMs: Double
    public var updateMs: Double
    /// The whole step: the median over windows.
    public var stepMs: Double
}

extension Trainer {
    /// Runs `warmup` untimed training steps, then `windows` windows of `iterations` steps, and
    /// times each layer's forward and backward and the two passes over all parameters outside
    /// the layers, the zeroing of the gradients and the solver's update (means over all timed
    /// steps), and the whole step (the median over windows of each window's mean, robust to a
    /// noisy machine).
    public func timeLayers(iterations: Int, windows: Int, warmup: Int) throws(TrainError) -> StepTiming {
        let net = trainNet, count = net.nodes.count
        var forward = [Duration](repeating: .zero, count: count), backward = forward
        var zeroing = Duration.zero, update = Duration.zero
        var windowTotals = [Duration](repeating: .zero, count: windows)
        let clock = ContinuousClock()
        for it in 0..<(warmup + iterations * windows) {
            let timed = it >= warmup
            let stepStart = clock.now
            store.zeroGradients(parallel: parallel)
            if timed { zeroing += clock.now - stepStart }
            let ctx = step(.train)
            for i in 0..<count {
                let t0 = clock.now
                do { try net.forward(layer: i, ctx) } catch { throw .run(error) }
                if timed { forward[i] += clock.now - t0 }
            }
            net.prepareBackward()
            for i in (0..<count).reversed() {
                let t0 = clock.now
                net.backward(layer: i, ctx)
                if timed { backward[i] += clock.now - t0 }
            }
            let t0 = clock.now
            _ = optimizer.update(rate: learningRate(at: iteration), iteration: iteration, parallel: parallel)
            if timed {
                update += clock.now - t0
                windowTotals[(it - warmup) / iterations] += clock.now - stepStart
            }
        }
        func ms(_ d: Duration, per steps: Int) -> Double { Double(d / .nanoseconds(1)) / 1e6 / Double(max(steps, 1)) }
        let timedSteps = iterations * windows
        let windowMs = windowTotals.map { ms($0, per: iterations) }.sorted()
        let layers = net.nodes.indices.map { i in
            let node = net.nodes[i]
            let shapes = node.bottoms.map { net.blobs[$0].shape }
            let f = node.layer.flops(for: shapes)
            let skipped = node.propagatesToAnyBottom ? 0 : node.layer.inputGradientFlops(for: shapes)
            let g = node.layer.gemms(for: shapes)
            let backwardGEMMs = node.runsBackward ? g.backward + (node.propagatesToAnyBottom ? g.inputGradient : []) : []
            return LayerTiming(name: node.name, type: node.type, forwardMs: ms(forward[i], per: timedSteps),
                               backwardMs: node.runsBackward ? ms(backward[i], per: timedSteps) : 0,
                               forwardFlops: f.forward, backwardFlops: node.runsBackward ? f.backward - skipped : 0,
                               gemms: g.forward + backwardGEMMs, runsInside: net.runsInside(i).map { net.nodes[$0].name })
        }
        return StepTiming(layers: layers, zeroingMs: ms(zeroing, per: timedSteps), updateMs: ms(update, per: timedSteps),
                          stepMs: windowMs[windowMs.count / 2])
    }
}
