import DConfig
import DCore

/// The corruption of a denoising autoencoder (Vincent et al. 2008), in TRAIN only: `MASKING`
/// sets each value to 0 with probability `ratio` (no rescaling, unlike Dropout); `GAUSSIAN`
/// adds noise of std `sigma`. In TEST the layer is the identity. Draws are keyed by the seed,
/// the layer's position, the iteration and the batch within it, as Dropout's are. Not a Caffe
/// layer: Caffe had no corruption layer, its denoising examples corrupted the data offline.
public final class NoiseLayer: Layer {
    enum Kind: String, CaseIterable { case masking = "MASKING", gaussian = "GAUSSIAN" }

    public let name: String
    let kind: Kind
    let ratio: Float
    let sigma: Float
    public var supportsInPlace: Bool { true }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("noise_param")
        kind = try p.choice("type", default: Kind.masking)
        let other = kind == .masking ? "sigma" : "ratio"
        if p.has(other) { throw p.error(other, "applies to type: \(kind == .masking ? "GAUSSIAN" : "MASKING") only") }
        ratio = try p.float("ratio", default: 0.25)
        sigma = try p.float("sigma", default: 0.1)
        try p.finish()
        guard ratio >= 0, ratio < 1 else { throw p.error("ratio", "must be in [0, 1), found \(ratio)") }
        guard sigma >= 0, sigma.isFinite else { throw p.error("sigma", "must be a finite number ≥ 0, found \(sigma)") }
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { bottoms }

    /// MASKING keeps its mask for backward; GAUSSIAN's gradient is the identity.
    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        phase == .train && kind == .masking ? [WorkspaceDecl(bottoms[0].count, .float, .keptForBackward)] : []
    }

    /// In TRAIN (what `dtrain --time` runs): a draw, a comparison and a multiply (MASKING) or a
    /// draw, a multiply and an add (GAUSSIAN) forward; the mask's multiply backward (GAUSSIAN's
    /// gradient is a copy).
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        elementwiseFlops(bottoms[0].count, forward: 3, backward: kind == .masking ? 1 : 0)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        guard step.phase == .train else {
            ElementwiseKernel.copy(io.bottoms[0], into: io.tops[0])
            return
        }
        var rng = RandomStream(seed: step.seed, purpose: "noise", io.index, step.iteration, step.subBatch)
        // One draw per element for a mask, two (a Box–Muller pair) per Gaussian value: the
        // ranks before this one drew theirs first.
        rng.skip(step.shard.index * io.bottoms[0].count * (kind == .masking ? 1 : 2))
        switch kind {
        case .masking:
            let mask = io.work[0].slice(0, io.bottoms[0].count)
            ElementwiseKernel.dropoutMask(mask, ratio: ratio, scale: 1, rng: &rng)
            ElementwiseKernel.multiply(io.bottoms[0], by: mask, into: io.tops[0])
        case .gaussian:
            ElementwiseKernel.addGaussianNoise(io.bottoms[0], std: sigma, into: io.tops[0], rng: &rng)
        }
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        if step.phase == .train && kind == .masking {
            ElementwiseKernel.multiplyBackward(outputGrad: io.topGrads[0]!, factor: io.work[0].slice(0, io.bottoms[0].count), inputGrad: dx,
                                               accumulate: io.accumulateBottom[0])
        } else {
            ElementwiseKernel.copyBackward(outputGrad: io.topGrads[0]!, inputGrad: dx, accumulate: io.accumulateBottom[0])
        }
    }
}
