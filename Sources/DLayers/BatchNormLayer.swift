import DConfig
import DCore

/// Caffe's `BatchNorm`: y = (x − μ) / √(σ² + eps) per channel (axis 1) of x [N, C, …], with
/// no scale or shift (a `Scale` layer with `bias_term: true` after it adds γ and β).
///
/// With batch statistics (TRAIN unless `use_global_stats`), μ and σ² are the batch's, over N
/// and the spatial axes, and the layer accumulates them into three parameters that are never
/// learned (lr_mult is 0 whatever the file says): `mean` ← maf·mean + μ, `variance` ← maf·
/// variance + m/(m − 1)·σ² (m values per channel), `factor` ← maf·factor + 1. With global
/// statistics (TEST by default) μ = mean/factor and σ² = variance/factor: a moving average
/// with Caffe's bias correction.
public final class BatchNormLayer: Layer {
    public let name: String
    /// nil: batch statistics in TRAIN, global ones in TEST.
    public let useGlobalStats: Bool?
    let movingAverageFraction: Float
    public let eps: Float

    public var supportsInPlace: Bool { true }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("batch_norm_param")
        useGlobalStats = p.has("use_global_stats") ? try p.bool("use_global_stats", default: false) : nil
        movingAverageFraction = try p.float("moving_average_fraction", default: 0.999)
        eps = try p.float("eps", default: 1e-5)
        try p.finish()
        guard movingAverageFraction >= 0, movingAverageFraction <= 1 else {
            throw p.error("moving_average_fraction", "must be in [0, 1], found \(movingAverageFraction)")
        }
        guard eps > 0, eps.isFinite else { throw p.error("eps", "must be a positive number, found \(eps)") }
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        guard bottoms[0].rank >= 2 else { throw LayerError("needs a bottom with a channel axis, [N, C, …]; found \(bottoms[0])") }
        return bottoms
    }

    public func parameters(for bottoms: [Shape]) -> [ParameterDecl] {
        let c = bottoms[0].dims[1]
        return [ParameterDecl("mean", Shape([c]), filler: .constant(value: 0), learned: false),
                ParameterDecl("variance", Shape([c]), filler: .constant(value: 0), learned: false),
                ParameterDecl("factor", Shape([1]), filler: .constant(value: 0), learned: false)]
    }

    /// The mean, then 1/σ, per channel: the second is kept for backward.
    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        [WorkspaceDecl(2 * bottoms[0].dims[1], .float, .keptForBackward)]
    }

    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        (5 * Double(bottoms[0].count), 6 * Double(bottoms[0].count))
    }

    private func geometry(_ shape: Shape) -> (n: Int, c: Int, s: Int) {
        (shape.dims[0], shape.dims[1], shape.dims.dropFirst(2).reduce(1, *))
    }

    private func batchStatistics(_ phase: Phase) -> Bool { !(useGlobalStats ?? (phase == .test)) }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let (n, c, s) = geometry(io.bottoms[0].shape)
        let mean = io.work[0].base, invStd = mean + c
        let running = (mean: io.params[0].base, variance: io.params[1].base, factor: io.params[2].base)
        if batchStatistics(step.phase) {
            let variance = invStd  // the batch variance, turned into 1/σ below
            BatchNormKernel.statistics(io.bottoms[0], n: n, channels: c, spatial: s, mean: mean, variance: variance,
                                       parallel: step.parallel)
            let maf = movingAverageFraction, m = n * s, correction = m > 1 ? Float(m) / Float(m - 1) : 1
            running.factor[0] = running.factor[0] * maf + 1
            for i in 0..<c {
                running.mean[i] = running.mean[i] * maf + mean[i]
                running.variance[i] = running.variance[i] * maf + correction * variance[i]
            }
        } else {
            let f = running.factor[0], scale: Float = f == 0 ? 0 : 1 / f
            for i in 0..<c { (mean[i], invStd[i]) = (running.mean[i] * scale, running.variance[i] * scale) }
        }
        for i in 0..<c { invStd[i] = 1 / (invStd[i] + eps).squareRoot() }
        BatchNormKernel.normalize(io.bottoms[0], into: io.tops[0], n: n, channels: c, spatial: s, mean: mean, invStd: invStd,
                                  parallel: step.parallel)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        let (n, c, s) = geometry(io.tops[0].shape)
        BatchNormKernel.backward(y: io.tops[0], outputGrad: io.topGrads[0]!, inputGrad: dx, n: n, channels: c, spatial: s,
                                 invStd: io.work[0].base + c, batchStatistics: batchStatistics(step.phase),
                                 accumulate: io.accumulateBottom[0], parallel: step.parallel)
    }
}
