import DConfig
import DCore

/// Mean-variance normalisation, per channel of each sample ([N, C, H, W]: N·C rows of H·W), or
/// per sample with `mvn_param.across_channels` (default false; N rows of C·H·W):
/// y = (x − mean) / (std + eps), std = √(mean (x − mean)²), eps (default 1e-9) added to the
/// standard deviation as in Caffe; y = x − mean with `normalize_variance: false` (default true).
public final class MVNLayer: Layer {
    public let name: String
    public let normalizeVariance: Bool
    public let acrossChannels: Bool
    public let epsilon: Float

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("mvn_param")
        normalizeVariance = try p.bool("normalize_variance", default: true)
        acrossChannels = try p.bool("across_channels", default: false)
        epsilon = try p.float("eps", default: 1e-9)
        try p.finish()
        guard epsilon >= 0 else { throw p.error("eps", "must not be negative, found \(epsilon)") }
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        guard bottoms[0].rank >= 1 else { throw LayerError("a scalar bottom has no samples to normalise") }
        return bottoms
    }

    /// Rows of contiguous values normalised together: N·C of H·W, or N of C·H·W.
    func rows(_ s: Shape) -> (rows: Int, length: Int) {
        let rows = acrossChannels || s.rank < 2 ? s[0] : s[0] * s[1]
        return (rows, rows == 0 ? 0 : s.count / rows)
    }

    /// std + eps per row, kept for backward.
    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        normalizeVariance ? [WorkspaceDecl(rows(bottoms[0]).rows, .float, phase == .train ? .keptForBackward : .scratch)] : []
    }

    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        let n = Double(bottoms[0].count)
        return (normalizeVariance ? 5 * n : 2 * n, normalizeVariance ? 6 * n : 2 * n)
    }

    func deviation(_ io: LayerIO) -> FloatView? {
        normalizeVariance ? io.work[0].slice(0, rows(io.bottoms[0].shape).rows) : nil
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let (rows, length) = rows(io.bottoms[0].shape)
        MVNKernel.forward(rows: rows, length: length, input: io.bottoms[0], output: io.tops[0],
                          deviation: deviation(io), epsilon: epsilon, parallel: step.parallel)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        let (rows, length) = rows(io.bottoms[0].shape)
        MVNKernel.backward(rows: rows, length: length, output: io.tops[0], outputGrad: io.topGrads[0]!,
                           deviation: deviation(io), inputGrad: dx, accumulate: io.accumulateBottom[0], parallel: step.parallel)
    }
}
