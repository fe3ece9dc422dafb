import DConfig
import DCore

/// Softmax along `axis` (default 1, the channels): the probabilities of a classifier.
public final class SoftmaxLayer: Layer {
    public let name: String
    public let axis: Int

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("softmax_param")
        axis = try p.int("axis", default: 1)
        try p.finish()
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        guard bottoms[0].canonicalAxis(axis) != nil else {
            throw LayerError("axis \(axis) is out of range for bottom shape \(bottoms[0])")
        }
        return bottoms
    }

    func layout(_ s: Shape) -> AxisLayout { AxisLayout(shape: s, axis: s.canonicalAxis(axis)!) }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        SoftmaxKernel.forward(layout(io.bottoms[0].shape), input: io.bottoms[0], output: io.tops[0])
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        SoftmaxKernel.backward(layout(io.bottoms[0].shape), output: io.tops[0], outputGrad: io.topGrads[0]!,
                               inputGrad: dx, accumulate: io.accumulateBottom[0])
    }
}
