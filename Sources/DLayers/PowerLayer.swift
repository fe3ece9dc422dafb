import DConfig
import DCore

/// y = (shift + scale·x)^power (`power_param`: power 1, scale 1, shift 0). A negative base with
/// a fractional power gives NaN, which the solver reports. Backward reads the bottom, except
/// when the gradient is the constant power·scale (power 1, or power·scale 0): only then does
/// the layer run in place.
public final class PowerLayer: Layer {
    public let name: String
    public let power, scale, shift: Float

    public var supportsInPlace: Bool { power == 1 || power * scale == 0 }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("power_param")
        power = try p.float("power", default: 1)
        scale = try p.float("scale", default: 1)
        shift = try p.float("shift", default: 0)
        try p.finish()
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { bottoms }

    /// A multiply-add and pow forward (the multiply-add alone for power 1, nothing for a constant
    /// output); backward a multiply-add, pow and three multiplies (one multiply for a constant
    /// gradient).
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        let constantGradient = power == 1 || power * scale == 0
        return elementwiseFlops(bottoms[0].count, forward: power * scale == 0 ? 0 : (power == 1 ? 2 : 3),
                                backward: constantGradient ? 1 : 5)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        PointwiseKernel.powerForward(input: io.bottoms[0], output: io.tops[0], power: power, scale: scale, shift: shift)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        PointwiseKernel.powerBackward(input: io.bottoms[0], outputGrad: io.topGrads[0]!, inputGrad: dx,
                                      power: power, scale: scale, shift: shift, accumulate: io.accumulateBottom[0])
    }
}
