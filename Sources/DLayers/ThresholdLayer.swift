import DConfig
import DCore

/// y = 1 where x > `threshold_param.threshold` (default 0), else 0. A step has no useful
/// gradient and Caffe's layer has no backward: no gradient flows to the bottom. Runs in place.
public final class ThresholdLayer: Layer {
    public let name: String
    public let threshold: Float
    public var supportsInPlace: Bool { true }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("threshold_param")
        threshold = try p.float("threshold", default: 0)
        try p.finish()
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { bottoms }

    public func propagates(toBottom i: Int) -> Bool { false }

    /// One comparison forward; no backward.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        elementwiseFlops(bottoms[0].count, forward: 1, backward: 0)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        PointwiseKernel.thresholdForward(input: io.bottoms[0], output: io.tops[0], threshold: threshold)
    }

    /// Nothing to do: the net never asks for this bottom's gradient.
    public func backward(_ io: LayerIO, _ step: StepContext) {}
}
