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
}

extension Trainer {
    /// Runs `iterations` training steps after `warmup` untimed ones and times each layer's
    /// forward and backward, plus the whole step including the update.
    public func timeLayers(iterations: Int, warmup: Int) throws(TrainError) -> (layers: [LayerTiming], stepMs: Double) {
        let net = trainNet, count = net.nodes.count
        var forward = [Duration](repeating: .zero, count: count), backward = forward
        var total = Duration.zero
        let clock = ContinuousClock()
        for it in 0..<(warmup + iterations) {
            let timed = it >= warmup
            let stepStart = clock.now
            store.zeroGradients()
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
            optimizer.update(rate: learningRate(at: iteration))
            if timed { total += clock.now - stepStart }
        }
        func ms(_ d: Duration) -> Double { Double(d / .nanoseconds(1)) / 1e6 / Double(max(iterations, 1)) }
        let layers = net.nodes.indices.map { i in
            let node = net.nodes[i]
            let shapes = node.bottoms.map { net.blobs[$0].shape }
            let f = node.layer.flops(for: shapes)
            return LayerTiming(name: node.name, type: node.type, forwardMs: ms(forward[i]),
                               backwardMs: node.runsBackward ? ms(backward[i]) : 0,
                               forwardFlops: f.forward, backwardFlops: node.runsBackward ? f.backward : 0)
        }
        return (layers, ms(total))
    }
}
