import DConfig
import DCore

/// y = |x|. Backward needs the sign of x, which y has lost: no in place (Caffe refuses it too).
public final class AbsValLayer: Layer {
    public let name: String

    init(_ spec: LayerSpec) throws(ConfigError) { name = spec.name }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { bottoms }

    /// |x| forward; a comparison and a sign backward.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        elementwiseFlops(bottoms[0].count, forward: 1, backward: 2)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        PointwiseKernel.absForward(input: io.bottoms[0], output: io.tops[0])
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        PointwiseKernel.absBackward(input: io.bottoms[0], outputGrad: io.topGrads[0]!, inputGrad: dx,
                                    accumulate: io.accumulateBottom[0])
    }
}
