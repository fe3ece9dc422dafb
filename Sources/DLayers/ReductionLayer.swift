import DConfig
import DCore

/// Reduces every axis from `reduction_param.axis` (default 0: all, giving a scalar) on to one
/// value: `operation` SUM, ASUM (Σ|x|), SUMSQ (Σx²) or MEAN, times `coeff` (default 1).
/// [N, C, H, W] with axis 1 → [N]. Only trailing axes reduce, as in Caffe.
public final class ReductionLayer: Layer {
    public let name: String
    public let operation: ReductionKernel.Operation
    public let axis: Int
    public let coefficient: Float

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("reduction_param")
        operation = try p.choice("operation", default: ReductionKernel.Operation.sum)
        axis = try p.int("axis", default: 0)
        coefficient = try p.float("coeff", default: 1)
        try p.finish()
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        guard let a = bottoms[0].canonicalAxis(axis) else {
            throw LayerError("axis \(axis) is out of range for bottom shape \(bottoms[0])")
        }
        return [Shape(Array(bottoms[0].dims[..<a]))]
    }

    /// rows = the kept dimensions, length = the reduced ones.
    func rows(_ s: Shape) -> (rows: Int, length: Int) {
        let a = s.canonicalAxis(axis)!
        return (s.count(from: 0, to: a), s.count(from: a))
    }

    /// An add per element (and an abs or a multiply for ASUM and SUMSQ) forward; backward one
    /// multiply per element (two for SUMSQ, a comparison for ASUM).
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        let squares = operation == .sumOfSquares || operation == .absoluteSum
        return elementwiseFlops(bottoms[0].count, forward: squares ? 2 : 1, backward: squares ? 2 : 1)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let (rows, length) = rows(io.bottoms[0].shape)
        ReductionKernel.forward(operation, rows: rows, length: length, coefficient: coefficient,
                                input: io.bottoms[0], output: io.tops[0])
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        let (rows, length) = rows(io.bottoms[0].shape)
        ReductionKernel.backward(operation, rows: rows, length: length, coefficient: coefficient, input: io.bottoms[0],
                                 outputGrad: io.topGrads[0]!, inputGrad: dx, accumulate: io.accumulateBottom[0])
    }
}
