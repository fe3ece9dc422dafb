import DConfig
import DCore

/// y = γ·x (+ β), γ broadcast over bottom 0 from `scale_param.axis` (default 1) on: a learned
/// parameter `scale` of `num_axes` (default 1) axes, filled by `filler` (default constant 1),
/// or bottom 1. With `bias_term` (default false), a learned `bias` β of γ's shape, filled by
/// `bias_filler` (default constant 0). Per channel after a BatchNorm: [N, C, H, W] with γ, β [C].
public final class ScaleLayer: Layer {
    public let name: String
    public let operand: ChannelOperand
    let filler: Filler
    public let biasTerm: Bool
    let biasFiller: Filler
    public var bottomCount: ClosedRange<Int> { 1...2 }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("scale_param")
        operand = try ChannelOperand(p)
        filler = try p.filler("filler", default: .constant(value: 1))
        biasTerm = try p.bool("bias_term", default: false)
        biasFiller = try p.filler("bias_filler", default: .constant(value: 0))
        try p.finish()
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        try operand.topShapes(bottoms, what: "scale")
    }

    /// [scale, bias] with one bottom, [bias] with two (the scale is bottom 1); bias only with bias_term.
    public func parameters(for bottoms: [Shape]) -> [ParameterDecl] {
        let shape = (try? operand.operandShape(bottoms)) ?? Shape([0])
        let bias = biasTerm ? [ParameterDecl("bias", shape, filler: biasFiller)] : []
        return bottoms.count == 1 ? [ParameterDecl("scale", shape, filler: filler)] + bias : bias
    }

    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        let n = Double(bottoms[0].count)
        return ((biasTerm ? 2 : 1) * n, (biasTerm ? 4 : 3) * n)
    }

    func scale(_ io: LayerIO) -> FloatView { io.bottoms.count > 1 ? io.bottoms[1] : io.params[0] }
    func biasIndex(_ io: LayerIO) -> Int? { biasTerm ? (io.bottoms.count > 1 ? 0 : 1) : nil }

    func layout(_ io: LayerIO) -> AxisLayout { operand.layout(io.bottoms[0].shape, operand: scale(io).shape)! }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        ChannelAffineKernel.forward(layout(io), input: io.bottoms[0], scale: scale(io), bias: biasIndex(io).map { io.params[$0] },
                                    output: io.tops[0], parallel: step.parallel)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        let l = layout(io), dy = io.topGrads[0]!
        if let dx = io.bottomGrads[0] {
            ChannelAffineKernel.inputBackward(l, outputGrad: dy, scale: scale(io), inputGrad: dx, accumulate: io.accumulateBottom[0],
                                              parallel: step.parallel)
        }
        // dγ = Σ dy·x, into the parameter's gradient (added) or bottom 1's (as the plan says).
        let scaleGrad = io.bottoms.count > 1 ? io.bottomGrads[1] : io.paramGrads[0]
        let accumulateScale = io.bottoms.count > 1 ? io.accumulateBottom[1] : true
        let biasGrad = biasIndex(io).flatMap { io.paramGrads[$0] }
        ChannelAffineKernel.parameterBackward(l, outputGrad: dy, input: io.bottoms[0], scaleGrad: scaleGrad, accumulateScale: accumulateScale,
                                              biasGrad: biasGrad, accumulateBias: true, parallel: step.parallel)
    }
}
