import DConfig
import DCore

/// The operand of Caffe's Bias and Scale layers and where it sits in bottom 0: a learned
/// parameter of `num_axes` axes of bottom 0 from `axis` on (−1: to the end, 0: a scalar), or
/// bottom 1, whose shape must match bottom 0's from `axis` on. Bottom 0 is then
/// [outer, operand, inner]: [N, C, H, W] with an operand [C] is outer N, channels C, inner H·W.
public struct ChannelOperand {
    public let axis: Int
    public let numAxes: Int

    init(_ p: ConfigMap) throws(ConfigError) {
        axis = try p.int("axis", default: 1)
        numAxes = try p.int("num_axes", default: 1, min: -1)
    }

    /// The learned operand's shape for bottom 0 `b`.
    func parameterShape(_ b: Shape) throws(LayerError) -> Shape {
        guard let a = b.canonicalAxis(axis) else { throw LayerError("axis \(axis) is out of range for bottom shape \(b)") }
        let end = numAxes == -1 ? b.rank : a + numAxes
        guard end <= b.rank else { throw LayerError("num_axes \(numAxes) from axis \(a) runs past bottom shape \(b)") }
        return Shape(Array(b.dims[a..<end]))
    }

    /// The operand's shape: bottom 1's, or the parameter's.
    func operandShape(_ bottoms: [Shape]) throws(LayerError) -> Shape {
        bottoms.count > 1 ? bottoms[1] : try parameterShape(bottoms[0])
    }

    /// Bottom 0 as [outer, operand, inner]; a scalar operand applies from axis 0 whatever `axis`
    /// says (as in Caffe). Nil when the operand does not fit.
    func layout(_ b: Shape, operand p: Shape) -> AxisLayout? {
        guard let a = p.rank == 0 ? 0 : b.canonicalAxis(axis), a + p.rank <= b.rank,
              (0..<p.rank).allSatisfy({ b[a + $0] == p[$0] }) else { return nil }
        return AxisLayout(outer: b.count(from: 0, to: a), channels: p.count, inner: b.count(from: a + p.rank))
    }

    /// Checks that the operand fits bottom 0; the top has bottom 0's shape.
    func topShapes(_ bottoms: [Shape], what: String) throws(LayerError) -> [Shape] {
        let p = try operandShape(bottoms)
        guard layout(bottoms[0], operand: p) != nil else {
            throw LayerError("the \(what) (bottom 1) has shape \(p), which does not match bottom shape \(bottoms[0]) from axis \(axis)",
                             hint: "bottom 1's dimensions are those of bottom 0 from axis on, or it is a scalar")
        }
        return [bottoms[0]]
    }
}

/// y = x + b, with b broadcast over bottom 0 from `bias_param.axis` (default 1) on: a learned
/// parameter `bias` of `num_axes` (default 1) axes, filled by `filler` (default constant 0),
/// or bottom 1. [N, C, H, W] + [C] adds b[c] to channel c. Runs in place.
public final class BiasLayer: Layer {
    public let name: String
    public let operand: ChannelOperand
    let filler: Filler
    public var bottomCount: ClosedRange<Int> { 1...2 }
    public var supportsInPlace: Bool { true }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("bias_param")
        operand = try ChannelOperand(p)
        filler = try p.filler("filler", default: .constant(value: 0))
        try p.finish()
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        try operand.topShapes(bottoms, what: "bias")
    }

    public func parameters(for bottoms: [Shape]) -> [ParameterDecl] {
        guard bottoms.count == 1 else { return [] }
        return [ParameterDecl("bias", (try? operand.parameterShape(bottoms[0])) ?? Shape([0]), filler: filler)]
    }

    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        (Double(bottoms[0].count), Double(bottoms[0].count))
    }

    /// The bias: bottom 1 or the parameter.
    func bias(_ io: LayerIO) -> FloatView { io.bottoms.count > 1 ? io.bottoms[1] : io.params[0] }

    func layout(_ io: LayerIO) -> AxisLayout { operand.layout(io.bottoms[0].shape, operand: bias(io).shape)! }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        ChannelAffineKernel.forward(layout(io), input: io.bottoms[0], scale: nil, bias: bias(io), output: io.tops[0], parallel: step.parallel)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        let l = layout(io), dy = io.topGrads[0]!
        // Into the parameter's gradient (added) or bottom 1's (as the plan says).
        let biasGrad = io.bottoms.count > 1 ? io.bottomGrads[1] : io.paramGrads[0]
        ChannelAffineKernel.parameterBackward(l, outputGrad: dy, input: io.bottoms[0], scaleGrad: nil, accumulateScale: false,
                                              biasGrad: biasGrad, accumulateBias: io.bottoms.count > 1 ? io.accumulateBottom[1] : true,
                                              parallel: step.parallel)
        // In place dx is dy, and this copies nothing.
        if let dx = io.bottomGrads[0] {
            ChannelAffineKernel.inputBackward(l, outputGrad: dy, scale: nil, inputGrad: dx, accumulate: io.accumulateBottom[0],
                                              parallel: step.parallel)
        }
    }
}
