import DConfig
import DCore

/// y = max(x, 0), or x·negative_slope for x ≤ 0 (leaky ReLU). Runs in place when the slope is
/// not negative: then y > 0 exactly where x > 0, so backward can read the top.
public final class ReLULayer: Layer {
    public let name: String
    public let slope: Float

    public var supportsInPlace: Bool { slope >= 0 }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("relu_param")
        slope = try p.float("negative_slope", default: 0)
        try p.finish()
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { bottoms }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        ActivationKernel.reluForward(input: io.bottoms[0], output: io.tops[0], slope: slope, parallel: step.parallel)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        ActivationKernel.reluBackward(sign: slope >= 0 ? io.tops[0] : io.bottoms[0], outputGrad: io.topGrads[0]!,
                                      inputGrad: dx, slope: slope, accumulate: io.accumulateBottom[0],
                                      parallel: step.parallel)
    }
}
