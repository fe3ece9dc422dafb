#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DConfig
import DCore

/// y = log_base(shift + scale·x) (`log_param`: base −1 meaning e, scale 1, shift 0). Where
/// shift + scale·x ≤ 0 the top is −∞ or NaN (Caffe would abort), which the solver reports.
/// Backward reads the bottom: no in place.
public final class LogLayer: Layer {
    public let name: String
    public let scale, shift: Float
    /// 1 / ln base.
    public let baseScale: Float

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("log_param")
        let base = try p.float("base", default: -1)
        scale = try p.float("scale", default: 1)
        shift = try p.float("shift", default: 0)
        try p.finish()
        guard base == -1 || (base > 0 && base != 1) else {
            throw p.error("base", "must be positive and not 1, or −1 for e; found \(base)")
        }
        baseScale = base == -1 ? 1 : 1 / log(base)
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { bottoms }

    /// A multiply-add, log and a multiply forward; a multiply-add, a divide and a multiply backward.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        elementwiseFlops(bottoms[0].count, forward: 4, backward: 4)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        PointwiseKernel.logForward(input: io.bottoms[0], output: io.tops[0], scale: scale, shift: shift, baseScale: baseScale)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        PointwiseKernel.logBackward(input: io.bottoms[0], outputGrad: io.topGrads[0]!, inputGrad: dx,
                                    scale: scale, shift: shift, baseScale: baseScale, accumulate: io.accumulateBottom[0])
    }
}
