import DConfig
import DCore

/// Inverted dropout: in TRAIN each unit is kept with probability 1 − ratio and scaled by
/// 1 / (1 − ratio), so TEST is the identity. The mask is drawn from a stream keyed by the
/// seed, the layer's position, the iteration and the batch within it (with `iter_size` > 1),
/// so a resumed run draws the same masks and every batch of a step draws its own.
public final class DropoutLayer: Layer {
    public let name: String
    let ratio: Float
    public var supportsInPlace: Bool { true }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("dropout_param")
        ratio = try p.float("dropout_ratio", default: 0.5)
        try p.finish()
        guard ratio >= 0, ratio < 1 else {
            throw p.error("dropout_ratio", "must be in [0, 1), found \(ratio)")
        }
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { bottoms }

    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        phase == .train ? [WorkspaceDecl(bottoms[0].count, .float, .keptForBackward)] : []
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        guard step.phase == .train else {
            ElementwiseKernel.copy(io.bottoms[0], into: io.tops[0])
            return
        }
        let mask = io.work[0].slice(0, io.bottoms[0].count)
        // The first batch of a step keys on the iteration alone, as before iter_size was keyed.
        var rng = step.subBatch == 0 ? RandomStream(seed: step.seed, purpose: "dropout", io.index, step.iteration)
            : RandomStream(seed: step.seed, purpose: "dropout", io.index, step.iteration, step.subBatch)
        // One draw per element: the ranks before this one drew theirs first.
        rng.skip(step.shard.index * mask.count)
        ElementwiseKernel.dropoutMask(mask, ratio: ratio, scale: 1 / (1 - ratio), rng: &rng)
        ElementwiseKernel.multiply(io.bottoms[0], by: mask, into: io.tops[0])
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        let mask = io.work[0].slice(0, io.bottoms[0].count)
        ElementwiseKernel.multiplyBackward(outputGrad: io.topGrads[0]!, factor: mask, inputGrad: dx,
                                           accumulate: io.accumulateBottom[0])
    }
}
