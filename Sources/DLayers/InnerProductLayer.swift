import DConfig
import DCore

/// A fully connected layer: y = x·Wᵀ + b, with x flattened from `axis` on.
/// Shapes: bottom [M…, K…] → top [M…, N]; weight [N, K] ([K, N] with `transpose`), bias [N].
public final class InnerProductLayer: Layer {
    public let name: String
    public let numOutput: Int
    public let biasTerm: Bool
    public let axis: Int
    /// The weight is stored [K, N] rather than [N, K] (dtest --visualize reads it either way).
    public let transpose: Bool
    /// Backward reads the bottom, the weight and the top's gradient, never the top.
    public var backwardReadsTops: Bool { false }
    let weightFiller, biasFiller: Filler

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("inner_product_param")
        guard p.has("num_output") else { throw p.missing("num_output") }
        numOutput = try p.int("num_output", default: 1, min: 1)
        biasTerm = try p.bool("bias_term", default: true)
        axis = try p.int("axis", default: 1)
        transpose = try p.bool("transpose", default: false)
        weightFiller = try p.filler("weight_filler", default: .xavier(.fanIn))
        biasFiller = try p.filler("bias_filler", default: .constant(value: 0))
        try p.finish()
    }

    /// (M, K) for a bottom shape.
    func dims(_ bottom: Shape) -> (m: Int, k: Int, axis: Int)? {
        guard let a = bottom.canonicalAxis(axis) else { return nil }
        return (bottom.count(from: 0, to: a), bottom.count(from: a), a)
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        guard let d = dims(bottoms[0]) else {
            throw LayerError("axis \(axis) is out of range for bottom shape \(bottoms[0])")
        }
        return [Shape(Array(bottoms[0].dims[..<d.axis]) + [numOutput])]
    }

    public func parameters(for bottoms: [Shape]) -> [ParameterDecl] {
        let k = dims(bottoms[0])?.k ?? 0
        let weight = ParameterDecl("weight", Shape(transpose ? [k, numOutput] : [numOutput, k]), filler: weightFiller)
        return biasTerm ? [weight, ParameterDecl("bias", Shape([numOutput]), filler: biasFiller)] : [weight]
    }

    /// Its GEMMs (`gemms`): one forward, two of the same size backward (dW and dx).
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) { gemms(for: bottoms).layerFlops }

    /// dx's GEMM, the size of the forward one.
    public func inputGradientFlops(for bottoms: [Shape]) -> Double { gemms(for: bottoms).flops.inputGradient }

    public func gemms(for bottoms: [Shape]) -> LayerGEMMs {
        var g = LayerGEMMs()
        if let d = dims(bottoms[0]) { g.addInnerProduct(m: d.m, n: numOutput, k: d.k, transposedWeight: transpose) }
        return g
    }

    /// Scratch for the forward on Dendrite's own kernel, where it applies
    /// (`InnerProductKernel.ownForward`).
    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        guard let d = dims(bottoms[0]) else { return [] }
        let count = InnerProductKernel.forwardScratch(m: d.m, n: numOutput, k: d.k, transpose: transpose)
        return count > 0 ? [WorkspaceDecl(count, .float, .scratch)] : []
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let (m, k, _) = dims(io.bottoms[0].shape)!
        InnerProductKernel.forward(m: m, n: numOutput, k: k, transpose: transpose, input: io.bottoms[0],
                                   weight: io.params[0], bias: biasTerm ? io.params[1] : nil, output: io.tops[0],
                                   scratch: io.work.first, parallel: step.parallel)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        let (m, k, _) = dims(io.bottoms[0].shape)!
        InnerProductKernel.backward(
            m: m, n: numOutput, k: k, transpose: transpose, input: io.bottoms[0], weight: io.params[0],
            outputGrad: io.topGrads[0]!, weightGrad: io.paramGrads[0], biasGrad: biasTerm ? io.paramGrads[1] : nil,
            inputGrad: io.bottomGrads[0], accumulateInput: io.accumulateBottom[0], parallel: step.parallel)
    }
}
