import DConfig
import DCore

/// y = tanh(x), symmetric around the origin. Backward reads only y, so it runs in place.
public final class TanHLayer: Layer {
    public let name: String
    public var supportsInPlace: Bool { true }
    /// Backward needs the output only: dx = dy·(1 − y²).
    public var backwardReadsBottoms: Bool { false }

    init(_ spec: LayerSpec) throws(ConfigError) { name = spec.name }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { bottoms }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        ActivationKernel.tanhForward(input: io.bottoms[0], output: io.tops[0])
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        ActivationKernel.tanhBackward(output: io.tops[0], outputGrad: io.topGrads[0]!, inputGrad: dx,
                                      accumulate: io.accumulateBottom[0])
    }
}
