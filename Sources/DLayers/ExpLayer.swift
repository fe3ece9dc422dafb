#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DConfig
import DCore

/// y = base^(shift + scale·x) (`exp_param`: base −1 meaning e, scale 1, shift 0), computed as
/// base^shift · e^(scale·ln(base)·x). Backward reads only y, so it runs in place.
public final class ExpLayer: Layer {
    public let name: String
    /// scale·ln base, and base^shift.
    public let innerScale, outerScale: Float
    public var supportsInPlace: Bool { true }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("exp_param")
        let base = try p.float("base", default: -1)
        let scale = try p.float("scale", default: 1)
        let shift = try p.float("shift", default: 0)
        try p.finish()
        guard base > 0 || base == -1 else { throw p.error("base", "must be positive, or −1 for e; found \(base)") }
        let natural = base == -1
        innerScale = scale * (natural ? 1 : log(base))
        outerScale = shift == 0 ? 1 : (natural ? exp(shift) : pow(base, shift))
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { bottoms }

    /// Two multiplies and exp forward; two multiplies backward.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        elementwiseFlops(bottoms[0].count, forward: 3, backward: 2)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        PointwiseKernel.expForward(input: io.bottoms[0], output: io.tops[0], innerScale: innerScale, outerScale: outerScale)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        PointwiseKernel.expBackward(output: io.tops[0], outputGrad: io.topGrads[0]!, inputGrad: dx,
                                    innerScale: innerScale, accumulate: io.accumulateBottom[0])
    }
}
