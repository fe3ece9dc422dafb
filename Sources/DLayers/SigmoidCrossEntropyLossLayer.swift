import DConfig
import DCore

/// Caffe's `SigmoidCrossEntropyLoss`: the sigmoid and the cross-entropy in one numerically
/// stable layer. Bottoms: scores x and targets t in [0, 1] (same count); top: the loss,
/// −Σ [t·log σ(x) + (1 − t)·log(1 − σ(x))] / normaliser, summed over the targets that are not
/// `ignore_label`. The normaliser is `loss_param.normalization`, BATCH_SIZE (N) unless given,
/// as in Caffe. The autoencoders' reconstruction loss for inputs scaled into [0, 1].
public final class SigmoidCrossEntropyLossLayer: Layer {
    public let name: String
    let ignoreLabel: Int?
    let normalization: SoftmaxWithLossLayer.Normalization

    public var bottomCount: ClosedRange<Int> { 2...2 }
    public var isLoss: Bool { true }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        (ignoreLabel, normalization) = try SoftmaxWithLossLayer.Normalization.lossParam(spec, default: .batchSize)
    }

    public func propagates(toBottom i: Int) -> Bool { i == 0 }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        guard bottoms[0].count == bottoms[1].count else {
            throw LayerError("\(bottoms[1].count) targets (shape \(bottoms[1])) for \(bottoms[0].count) scores (shape \(bottoms[0]))",
                             hint: "bottom 0 is the scores, bottom 1 the targets, one per score")
        }
        return [.scalar]
    }

    /// The normaliser, kept for backward.
    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        [WorkspaceDecl(1, .float, phase == .train ? .keptForBackward : .scratch)]
    }

    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        (6 * Double(bottoms[0].count), 4 * Double(bottoms[0].count))
    }

    func normaliser(valid: Int, _ shape: Shape) -> Float {
        let n = shape.dims.first ?? 1
        switch normalization {
        case .full: return Float(shape.count)
        case .valid: return Float(valid)
        case .batchSize: return Float(n)
        case .none: return 1
        }
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let (loss, valid) = LossKernel.sigmoidCrossEntropy(scores: io.bottoms[0], targets: io.bottoms[1], ignore: ignoreLabel.map(Float.init))
        let normaliser = max(normaliser(valid: valid, io.bottoms[0].shape), 1)
        io.work[0][0] = normaliser
        io.tops[0][0] = Float(loss / Double(normaliser))
    }

    /// dL/dx = (σ(x) − t) · dL / normaliser, zero where the target is ignored.
    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        LossKernel.sigmoidCrossEntropyBackward(scores: io.bottoms[0], targets: io.bottoms[1], ignore: ignoreLabel.map(Float.init),
                                               scale: io.topGrads[0]![0] / io.work[0][0], inputGrad: dx, accumulate: io.accumulateBottom[0])
    }
}
