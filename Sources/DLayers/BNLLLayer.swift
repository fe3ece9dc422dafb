import DConfig
import DCore

/// y = log(1 + eˣ) (softplus, Caffe's "binomial normal log likelihood"), computed without
/// overflow. Caffe's backward reads the bottom; here dy/dx = σ(x) = 1 − e⁻ʸ is taken from the
/// top, so the layer runs in place.
public final class BNLLLayer: Layer {
    public let name: String
    public var supportsInPlace: Bool { true }

    init(_ spec: LayerSpec) throws(ConfigError) { name = spec.name }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { bottoms }

    /// A comparison, exp, log1p and an add forward; a negation, expm1 and a multiply backward.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        elementwiseFlops(bottoms[0].count, forward: 4, backward: 3)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        PointwiseKernel.bnllForward(input: io.bottoms[0], output: io.tops[0])
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        PointwiseKernel.bnllBackward(output: io.tops[0], outputGrad: io.topGrads[0]!, inputGrad: dx,
                                     accumulate: io.accumulateBottom[0])
    }
}
