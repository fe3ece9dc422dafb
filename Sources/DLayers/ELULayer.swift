import DConfig
import DCore

/// y = x for x > 0, α·(eˣ − 1) otherwise (Clevert et al.'s exponential linear unit), α =
/// `elu_param.alpha`. Caffe's backward reads the bottom; here it reads the top where α ≥ 0
/// (then y > 0 exactly where x > 0, and α·eˣ = y + α), so the layer runs in place like ReLU.
public final class ELULayer: Layer {
    public let name: String
    public let alpha: Float

    public var supportsInPlace: Bool { alpha >= 0 }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("elu_param")
        alpha = try p.float("alpha", default: 1)
        try p.finish()
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { bottoms }

    /// A comparison, expm1 and a multiply forward; a comparison, an add and a multiply backward.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        elementwiseFlops(bottoms[0].count, forward: 3, backward: 3)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        PointwiseKernel.eluForward(input: io.bottoms[0], output: io.tops[0], alpha: alpha)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        PointwiseKernel.eluBackward(sign: alpha >= 0 ? io.tops[0] : io.bottoms[0], output: io.tops[0],
                                    outputGrad: io.topGrads[0]!, inputGrad: dx, alpha: alpha,
                                    accumulate: io.accumulateBottom[0])
    }
}
