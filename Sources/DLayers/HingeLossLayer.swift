import DConfig
import DCore

/// Caffe's `HingeLoss`, the one-vs-all SVM loss. Bottoms: scores [N, K…] (K classes: every axis
/// after the first) and labels [N] (class indices as floats); top: the loss,
/// Σ_n Σ_k max(0, 1 + δ·x[n, k])^p / N with δ = −1 at the label's class and +1 elsewhere,
/// p = 1 for `hinge_loss_param.norm: L1` (the default) and 2 for `L2`. An InnerProduct below it
/// and no other loss make a linear SVM.
public final class HingeLossLayer: Layer {
    public enum Norm: String, CaseIterable { case l1 = "L1", l2 = "L2" }

    public let name: String
    let norm: Norm

    public var bottomCount: ClosedRange<Int> { 2...2 }
    public var isLoss: Bool { true }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("hinge_loss_param")
        norm = try p.choice("norm", default: Norm.l1)
        try p.finish()
    }

    public func propagates(toBottom i: Int) -> Bool { i == 0 }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        guard let samples = bottoms[0].dims.first, bottoms[0].count > 0 else {
            throw LayerError("scores of shape \(bottoms[0]) have no samples", hint: "bottom 0 is the scores [N, K]")
        }
        guard bottoms[1].count == samples else {
            throw LayerError("\(bottoms[1].count) labels (shape \(bottoms[1])) for \(samples) samples (scores \(bottoms[0]))",
                             hint: "bottom 0 is the scores [N, K], bottom 1 the labels [N], one per sample")
        }
        return [.scalar]
    }

    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        (3 * Double(bottoms[0].count), 3 * Double(bottoms[0].count))
    }

    func samples(_ io: LayerIO) -> Int { io.bottoms[0].shape[0] }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let n = samples(io)
        do {
            let sum = try HingeLossKernel.loss(scores: io.bottoms[0], labels: io.bottoms[1], samples: n, squared: norm == .l2)
            io.tops[0][0] = Float(sum / Double(n))
        } catch {
            throw SoftmaxWithLossLayer.labelError(error, ignorable: false)
        }
    }

    /// dL/dx = dL/N · δ·[margin > 0] (L1) or dL/N · 2δ·margin (L2), as Caffe differentiates it.
    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        let n = samples(io)
        HingeLossKernel.backward(scores: io.bottoms[0], labels: io.bottoms[1], samples: n, squared: norm == .l2,
                                 scale: io.topGrads[0]![0] / Float(n), inputGrad: dx, accumulate: io.accumulateBottom[0])
    }
}
