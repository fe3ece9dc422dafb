import DConfig
import DCore

/// Caffe's `ContrastiveLoss` (Hadsell, Chopra and LeCun 2006), for siamese nets. Bottoms: two
/// feature batches a and b [N, D…] of the same shape and similarities y [N], 1 for a similar
/// pair and 0 for a dissimilar one; top: the loss,
/// Σ_n [y·d² + (1 − y)·max(margin − d, 0)²] / 2N with d = ‖a_n − b_n‖: similar pairs are pulled
/// together, dissimilar ones pushed at least `margin` apart. `legacy_version: true` is Caffe's
/// first form, (1 − y)·max(margin − d², 0). Gradients flow to a and b, not to y.
public final class ContrastiveLossLayer: Layer {
    public let name: String
    let margin: Float
    let legacy: Bool

    public var bottomCount: ClosedRange<Int> { 3...3 }
    public var isLoss: Bool { true }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("contrastive_loss_param")
        margin = try p.float("margin", default: 1)
        guard margin.isFinite else { throw p.error("margin", "must be a finite number, found \(margin)") }
        legacy = try p.bool("legacy_version", default: false)
        try p.finish()
    }

    public func propagates(toBottom i: Int) -> Bool { i < 2 }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        guard bottoms[0] == bottoms[1] else {
            throw LayerError("the two feature bottoms differ in shape: \(bottoms[0]) and \(bottoms[1])",
                             hint: "bottoms 0 and 1 are the pairs' features [N, D], from the two branches of a siamese net")
        }
        guard let samples = bottoms[0].dims.first, bottoms[0].count > 0 else {
            throw LayerError("features of shape \(bottoms[0]) have no samples", hint: "bottoms 0 and 1 are features [N, D]")
        }
        guard bottoms[2].count == samples else {
            throw LayerError("\(bottoms[2].count) similarities (shape \(bottoms[2])) for \(samples) pairs (features \(bottoms[0]))",
                             hint: "bottom 2 is y [N]: 1 for a similar pair, 0 for a dissimilar one")
        }
        return [.scalar]
    }

    /// a − b, then the squared distances [N], both read again by backward.
    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        [WorkspaceDecl(bottoms[0].count + bottoms[0][0], .float, phase == .train ? .keptForBackward : .scratch)]
    }

    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        (3 * Double(bottoms[0].count), 4 * Double(bottoms[0].count))
    }

    func buffers(_ io: LayerIO) -> (diff: FloatView, squaredDistances: FloatView) {
        let count = io.bottoms[0].count
        return (io.work[0].slice(0, count), io.work[0].slice(count, io.bottoms[0].shape[0]))
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let n = io.bottoms[0].shape[0], (diff, squared) = buffers(io)
        do {
            let sum = try ContrastiveLossKernel.loss(a: io.bottoms[0], b: io.bottoms[1], similar: io.bottoms[2], samples: n,
                                                     margin: margin, legacy: legacy, diff: diff, squaredDistances: squared)
            io.tops[0][0] = Float(sum / Double(2 * n))
        } catch {
            throw LayerError("similarity \(error.value) of pair \(error.index) is neither 1 (similar) nor 0 (dissimilar)",
                             hint: "bottom 2 is y [N]: 1 for a similar pair, 0 for a dissimilar one")
        }
    }

    /// dL/da = −dL/db = dL/N · g, g = a − b for similar pairs and −(margin − d)/(d + 1e-4)·(a − b)
    /// for dissimilar ones closer than the margin (legacy: −(a − b) while d² < margin), as Caffe.
    public func backward(_ io: LayerIO, _ step: StepContext) {
        let n = io.bottoms[0].shape[0], (diff, squared) = buffers(io)
        ContrastiveLossKernel.backward(similar: io.bottoms[2], samples: n, margin: margin, legacy: legacy, diff: diff,
                                       squaredDistances: squared, scale: io.topGrads[0]![0] / Float(n),
                                       aGrad: io.bottomGrads[0], bGrad: io.bottomGrads[1],
                                       accumulateA: io.accumulateBottom[0], accumulateB: io.accumulateBottom[1])
    }
}
