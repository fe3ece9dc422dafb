import DConfig
import DCore

/// y = 1 / (1 + e^−x), the lecture's "traditional choice". Backward reads only y, so it runs in place.
public final class SigmoidLayer: Layer {
    public let name: String
    public var supportsInPlace: Bool { true }

    init(_ spec: LayerSpec) throws(ConfigError) { name = spec.name }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { bottoms }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        ActivationKernel.sigmoidForward(input: io.bottoms[0], output: io.tops[0])
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        ActivationKernel.sigmoidBackward(output: io.tops[0], outputGrad: io.topGrads[0]!, inputGrad: dx,
                                         accumulate: io.accumulateBottom[0])
    }
}
