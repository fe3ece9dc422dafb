import DConfig
import DCore
import DData

/// Caffe's `InfogainLoss` (its current form, which applies a softmax first: a generalisation of
/// `SoftmaxWithLoss`). Bottoms: scores [N, K, …], labels [N, …] (class indices as floats) and,
/// optionally, the infogain matrix H [K, K]; top: the loss,
/// −Σ_k H[label, k]·log max(p_k, 1e-20) / normaliser summed over the samples, p the softmax of
/// the scores along `infogain_loss_param.axis`. H = I is `SoftmaxWithLoss`; a row of H spreads a
/// label's reward over classes (e.g. to weight rare classes up). Without a third bottom H comes
/// from `infogain_loss_param.source`, which Caffe reads as a binaryproto and Dendrite as an IDX
/// file of floats or bytes [K, K]. No gradient flows to the labels or to H.
public final class InfogainLossLayer: Layer {
    public let name: String
    let axis: Int
    let ignoreLabel: Int?
    let normalization: SoftmaxWithLossLayer.Normalization
    /// H read from `source` [K, K]; nil when it is the third bottom.
    let infogain: Tensor?
    let source: String?

    public var bottomCount: ClosedRange<Int> { 2...3 }
    public var isLoss: Bool { true }

    init(_ spec: LayerSpec, _ context: BuildContext) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("infogain_loss_param")
        axis = try p.int("axis", default: 1)
        let source = try p.string("source")
        if source != nil, spec.bottoms.count == 3 {
            throw p.error("source", "the third bottom '\(spec.bottoms[2])' is the infogain matrix; give it as a bottom or as source, not both",
                          hint: "remove source, or the third bottom")
        }
        if let source {
            let path = ConfigFile.resolve(source, relativeTo: context.netFile)
            infogain = try Self.readMatrix(p, path)
            self.source = path
        } else if spec.bottoms.count < 3 {
            throw p.missing("source", hint: "the infogain matrix H [K, K]: an IDX file of floats or bytes, or a third bottom")
        } else {
            infogain = nil
            self.source = nil
        }
        try p.finish()
        (ignoreLabel, normalization) = try SoftmaxWithLossLayer.Normalization.lossParam(spec, default: .valid)
    }

    /// `source`: an IDX file (floats or bytes) of a square matrix.
    static func readMatrix(_ p: ConfigMap, _ path: String) throws(ConfigError) -> Tensor {
        let file = try p.idxBlob("source", path: path, ranks: 2...2, role: "infogain matrix", binaryproto: (
            "Caffe's binaryproto files are not read",
            "write the infogain matrix H [K, K] as an IDX file of floats (or bytes), e.g. IDXFile(dims: [K, K], floats: …).write(to:gzip:)"))
        guard file.dims[0] == file.dims[1] else {
            throw p.error("source", "\(path): the infogain matrix is \(Shape(file.dims)), not square", hint: "H is [K, K] for K classes")
        }
        return Tensor(shape: Shape(file.dims), values: file.values)
    }

    public func propagates(toBottom i: Int) -> Bool { i == 0 }

    func layout(_ s: Shape) -> AxisLayout { AxisLayout(shape: s, axis: s.canonicalAxis(axis)!) }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        let l = try AxisLayout.classScores(bottoms, axis: axis)
        let k = l.channels
        if let infogain, let source {
            guard infogain.shape.count == k * k else {
                throw LayerError("the infogain matrix in \(source) is \(infogain.shape), the scores have \(k) classes (\(bottoms[0]), axis \(axis))",
                                 hint: "H is [K, K]: \(k)×\(k) here")
            }
        } else if bottoms.count == 3, bottoms[2].count != k * k {
            throw LayerError("the infogain matrix (bottom 2) is \(bottoms[2]), the scores have \(k) classes (\(bottoms[0]), axis \(axis))",
                             hint: "H is [K, K]: \(k)×\(k) here")
        }
        return [.scalar]
    }

    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        // probabilities, then the normaliser, both read again by backward
        [WorkspaceDecl(bottoms[0].count + 1, .float, phase == .train ? .keptForBackward : .scratch)]
    }

    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        (6 * Double(bottoms[0].count), 4 * Double(bottoms[0].count))
    }

    func matrix(_ io: LayerIO) -> FloatView { infogain?.view ?? io.bottoms[2] }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let x = io.bottoms[0], l = layout(x.shape)
        let prob = io.work[0].slice(0, x.count).reshaped(x.shape)
        SoftmaxKernel.forward(l, input: x, output: prob)
        do {
            let (sum, valid) = try InfogainLossKernel.loss(l, prob: prob, labels: io.bottoms[1], infogain: matrix(io), ignoreLabel: ignoreLabel)
            let norm = normalization.normaliser(valid: valid, outer: l.outer, inner: l.inner)
            io.work[0][x.count] = norm
            io.tops[0][0] = Float(sum / Double(norm))
        } catch {
            throw SoftmaxWithLossLayer.labelError(error)
        }
    }

    /// dL/dx_j = dL / normaliser · (p_j·Σ_k H[label, k] − H[label, j]).
    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        let x = io.bottoms[0], l = layout(x.shape)
        let scale = io.topGrads[0]![0] / io.work[0][x.count]
        InfogainLossKernel.backward(l, prob: io.work[0].slice(0, x.count), labels: io.bottoms[1], infogain: matrix(io),
                                    ignoreLabel: ignoreLabel, scale: scale, inputGrad: dx, accumulate: io.accumulateBottom[0])
    }
}
