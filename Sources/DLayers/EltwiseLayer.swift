import DConfig
import DCore

/// Combines two or more bottoms of one shape element by element: `eltwise_param.operation`
/// PROD (y = Π xᵢ), SUM (y = Σ cᵢ·xᵢ, `coeff` one per bottom, default 1: the residual
/// connection) or MAX (y = max xᵢ; the gradient goes to the bottom that won, bottom 1 winning
/// a tie with bottom 0 and an earlier bottom any later tie, as in Caffe).
public final class EltwiseLayer: Layer {
    public enum Operation: String, CaseIterable { case prod = "PROD", sum = "SUM", max = "MAX" }

    public let name: String
    public let operation: Operation
    public let coefficients: [Float]
    /// PROD's gradient as the product of the other bottoms (true) or as y / xᵢ (false: faster
    /// for many bottoms, wrong where xᵢ = 0).
    let stableProductGradient: Bool
    public var bottomCount: ClosedRange<Int> { 2...Int.max }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("eltwise_param")
        operation = try p.choice("operation", default: Operation.sum)
        let coeff = try p.doubles("coeff").map(Float.init)
        stableProductGradient = try p.bool("stable_prod_grad", default: true)
        try p.finish()
        if !coeff.isEmpty {
            guard operation == .sum else {
                throw p.error("coeff", "coefficients are for operation SUM only, not \(operation.rawValue)")
            }
            guard coeff.count == spec.bottoms.count else {
                throw p.error("coeff", "\(coeff.count) coefficients for \(spec.bottoms.count) bottoms",
                              hint: "give one coefficient per bottom, or none for 1 each")
            }
        }
        coefficients = coeff.isEmpty ? [Float](repeating: 1, count: spec.bottoms.count) : coeff
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        for (i, b) in bottoms.enumerated().dropFirst() where b != bottoms[0] {
            throw LayerError("bottom \(i) has shape \(b), bottom 0 \(bottoms[0])", hint: "Eltwise combines bottoms of one shape")
        }
        return [bottoms[0]]
    }

    /// MAX keeps, per element, the bottom that won.
    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        operation == .max ? [WorkspaceDecl(bottoms[0].count, .int32, phase == .train ? .keptForBackward : .scratch)] : []
    }

    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        let n = Double(bottoms[0].count) * Double(bottoms.count)
        return (n, operation == .prod ? n * Double(bottoms.count) : n)
    }

    func winners(_ io: LayerIO) -> TensorView<Int32> { io.intWork[0].slice(0, io.tops[0].count) }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        switch operation {
        case .prod: EltwiseKernel.product(io.bottoms, into: io.tops[0])
        case .sum: EltwiseKernel.sum(io.bottoms, coefficients: coefficients, into: io.tops[0])
        case .max: EltwiseKernel.max(io.bottoms, into: io.tops[0], winners: winners(io))
        }
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        let dy = io.topGrads[0]!
        // In bottom order: a blob given twice gets its gradient written first, then added.
        for (i, x) in io.bottoms.enumerated() {
            guard let dx = io.bottomGrads[i] else { continue }
            let accumulate = io.accumulateBottom[i]
            switch operation {
            case .prod where stableProductGradient:
                EltwiseKernel.productBackward(inputs: io.bottoms, except: i, outputGrad: dy, inputGrad: dx, accumulate: accumulate)
            case .prod:
                EltwiseKernel.quotientBackward(output: io.tops[0], input: x, outputGrad: dy, inputGrad: dx, accumulate: accumulate)
            case .sum:
                ElementwiseKernel.scaled(dy, by: coefficients[i], into: dx, accumulate: accumulate)
            case .max:
                EltwiseKernel.maxBackward(winners: winners(io), index: i, outputGrad: dy, inputGrad: dx, accumulate: accumulate)
            }
        }
    }
}
