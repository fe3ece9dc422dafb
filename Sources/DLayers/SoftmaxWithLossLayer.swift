import DConfig
import DCore

/// Softmax followed by the multinomial logistic loss, in one numerically stable layer.
/// Bottoms: scores [N, C, …] and labels [N, …] (class indices as floats); top: the loss, a scalar.
/// loss = −Σ log p[label] / normaliser over samples whose label is not `ignore_label`.
public final class SoftmaxWithLossLayer: Layer {
    /// How the summed loss is divided (Caffe's LossParameter.NormalizationMode).
    public enum Normalization: String, CaseIterable {
        case full = "FULL", valid = "VALID", batchSize = "BATCH_SIZE", none = "NONE"

        /// `loss_param`: `ignore_label`, and `normalization` (or Caffe's older `normalize`:
        /// true meant VALID, false BATCH_SIZE), `fallback` when neither is given.
        static func lossParam(_ spec: LayerSpec, default fallback: Normalization) throws(ConfigError) -> (ignoreLabel: Int?, Normalization) {
            let p = try spec.block("loss_param")
            let ignoreLabel = try p.int("ignore_label")
            if p.has("normalization") && p.has("normalize") {
                throw p.error("normalize", "give normalization or the older normalize, not both")
            }
            let normalization = p.has("normalize") ? try p.bool("normalize", default: true) ? .valid : .batchSize
                : try p.choice("normalization", default: fallback)
            try p.finish()
            return (ignoreLabel, normalization)
        }

        /// The divisor of the summed loss over predictions [outer, inner] of which `valid` were
        /// not ignored; at least 1.
        func normaliser(valid: Int, outer: Int, inner: Int) -> Float {
            switch self {
            case .full: return Float(max(1, outer * inner))
            case .valid: return Float(max(1, valid))
            case .batchSize: return Float(max(1, outer))
            case .none: return 1
            }
        }
    }

    public let name: String
    let axis: Int
    let ignoreLabel: Int?
    let normalization: Normalization

    public var bottomCount: ClosedRange<Int> { 2...2 }
    public var isLoss: Bool { true }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let s = try spec.block("softmax_param")
        axis = try s.int("axis", default: 1)
        try s.finish()
        (ignoreLabel, normalization) = try Normalization.lossParam(spec, default: .valid)
    }

    public func propagates(toBottom i: Int) -> Bool { i == 0 }

    func layout(_ s: Shape) -> AxisLayout { AxisLayout(shape: s, axis: s.canonicalAxis(axis)!) }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        _ = try AxisLayout.classScores(bottoms, axis: axis)
        return [.scalar]
    }

    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        // probabilities, then the normaliser, both read again by backward
        [WorkspaceDecl(bottoms[0].count + 1, .float, phase == .train ? .keptForBackward : .scratch)]
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let x = io.bottoms[0], l = layout(x.shape)
        let prob = io.work[0].slice(0, x.count).reshaped(x.shape)
        SoftmaxKernel.forward(l, input: x, output: prob)
        do {
            let (sum, valid) = try SoftmaxLossKernel.loss(l, prob: prob, labels: io.bottoms[1], ignoreLabel: ignoreLabel)
            let norm = normalization.normaliser(valid: valid, outer: l.outer, inner: l.inner)
            io.work[0][x.count] = norm
            io.tops[0][0] = Float(sum / Double(norm))
        } catch {
            throw Self.labelError(error)
        }
    }

    /// Also for the other losses over class labels; `ignorable` when the layer has an ignore_label.
    static func labelError(_ e: SoftmaxLossKernel.LabelError, ignorable: Bool = true) -> LayerError {
        switch e {
        case .outOfRange(let i, let v, let classes):
            let value = v == v.rounded() && abs(v) < 1e9 ? String(Int(v)) : String(v)
            return LayerError("label \(value) of sample \(i) is not a class index in 0..<\(classes)",
                              hint: "the layer before has \(classes) outputs; set num_output to the number of classes"
                                  + (ignorable ? ", or ignore_label" : ""))
        }
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        let x = io.bottoms[0], l = layout(x.shape)
        let prob = io.work[0].slice(0, x.count)
        let scale = io.topGrads[0]![0] / io.work[0][x.count]
        SoftmaxLossKernel.backward(l, prob: prob, labels: io.bottoms[1], ignoreLabel: ignoreLabel, scale: scale,
                                   inputGrad: dx, accumulate: io.accumulateBottom[0])
    }
}

/// A layer whose bottom 1 holds class indices for the scores in bottom 0 (SoftmaxWithLoss,
/// Accuracy): a net checks a dataset's labels against its class count once, when it is built.
public protocol ClassLabelReader: Layer {
    /// The number of classes in scores of shape `scores` (nil when the axis does not fit).
    func classCount(scores: Shape) -> Int?
    /// `ignore_label`, a value that is no class index and is skipped.
    var ignoredLabel: Int? { get }
}

extension SoftmaxWithLossLayer: ClassLabelReader {
    public func classCount(scores: Shape) -> Int? { scores.canonicalAxis(axis).map { scores.dims[$0] } }
    public var ignoredLabel: Int? { ignoreLabel }
}

extension AccuracyLayer: ClassLabelReader {
    public func classCount(scores: Shape) -> Int? { scores.canonicalAxis(axis).map { scores.dims[$0] } }
    public var ignoredLabel: Int? { ignoreLabel }
}

extension AxisLayout {
    /// The layout of class scores, bottom 0 [outer, classes at `axis`, inner], checked against
    /// bottom 1, one label per prediction: for the layers that read class labels.
    static func classScores(_ bottoms: [Shape], axis: Int) throws(LayerError) -> AxisLayout {
        guard let a = bottoms[0].canonicalAxis(axis) else {
            throw LayerError("axis \(axis) is out of range for bottom shape \(bottoms[0])")
        }
        let l = AxisLayout(shape: bottoms[0], axis: a)
        guard bottoms[1].count == l.outer * l.inner else {
            throw LayerError("\(bottoms[1].count) labels (shape \(bottoms[1])) for \(l.outer * l.inner) predictions (scores \(bottoms[0]))",
                             hint: "bottom 0 is the scores, bottom 1 the labels, one per sample")
        }
        return l
    }
}
