import DConfig
import DCore

/// y = 1 / (1 + e^−c·x), the lecture's s(x) with steepness c (`sigmoid_param.steepness`, 1 by
/// default: Caffe's sigmoid, which has no such key). Backward reads only y, so it runs in place.
public final class SigmoidLayer: Layer {
    public let name: String
    let steepness: Float
    public var supportsInPlace: Bool { true }
    /// Backward needs the output only: dx = dy·c·y·(1 − y).
    public var backwardReadsBottoms: Bool { false }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("sigmoid_param")
        steepness = try p.float("steepness", default: 1)
        try p.finish()
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { bottoms }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        ActivationKernel.sigmoidForward(input: io.bottoms[0], output: io.tops[0], steepness: steepness, parallel: step.parallel)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        ActivationKernel.sigmoidBackward(output: io.tops[0], outputGrad: io.topGrads[0]!, inputGrad: dx,
                                         steepness: steepness, accumulate: io.accumulateBottom[0])
    }
}
