import DConfig
import DCore

/// The fraction of samples whose label is among the `top_k` highest scores. Not differentiable:
/// nothing flows back through it. Bottoms: scores [N, C, …], labels [N, …]; top: a scalar.
public final class AccuracyLayer: Layer {
    public let name: String
    let topK: Int
    let axis: Int
    let ignoreLabel: Int?

    public var bottomCount: ClosedRange<Int> { 2...2 }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("accuracy_param")
        topK = try p.int("top_k", default: 1, min: 1)
        axis = try p.int("axis", default: 1)
        ignoreLabel = try p.int("ignore_label")
        try p.finish()
    }

    public func propagates(toBottom i: Int) -> Bool { false }

    func layout(_ s: Shape) -> AxisLayout { AxisLayout(shape: s, axis: s.canonicalAxis(axis)!) }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        let l = try AxisLayout.classScores(bottoms, axis: axis)
        guard topK <= l.channels else { throw LayerError("top_k \(topK) is more than the \(l.channels) classes") }
        return [.scalar]
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        do {
            let (correct, counted) = try AccuracyKernel.count(layout(io.bottoms[0].shape), scores: io.bottoms[0],
                                                              labels: io.bottoms[1], topK: topK, ignoreLabel: ignoreLabel)
            io.tops[0][0] = counted == 0 ? 0 : Float(correct) / Float(counted)
        } catch {
            throw SoftmaxWithLossLayer.labelError(error)
        }
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {}
}
