import DConfig
import DCore

/// loss = Σ (a − b)² / (2N) over two bottoms of the same size, N the first dimension
/// (Caffe's definition). Used for regression and autoencoders.
public final class EuclideanLossLayer: Layer {
    public let name: String
    public var bottomCount: ClosedRange<Int> { 2...2 }
    public var isLoss: Bool { true }

    init(_ spec: LayerSpec) throws(ConfigError) { name = spec.name }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        guard bottoms[0].count == bottoms[1].count else {
            throw LayerError("bottoms differ in size: \(bottoms[0]) and \(bottoms[1])",
                             hint: "both bottoms need the same number of elements")
        }
        return [.scalar]
    }

    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        [WorkspaceDecl(bottoms[0].count, .float, phase == .train ? .keptForBackward : .scratch)]
    }

    func batch(_ io: LayerIO) -> Float { Float(max(1, io.bottoms[0].shape.dims.first ?? 1)) }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let diff = io.work[0].slice(0, io.bottoms[0].count)
        ElementwiseKernel.subtract(io.bottoms[0], io.bottoms[1], into: diff)
        io.tops[0][0] = Float(ElementwiseKernel.sumOfSquares(diff) / Double(2 * batch(io)))
    }

    /// Forward was L = Σ d² / 2N with d = a − b, so da = dL · d / N and db = −dL · d / N.
    public func backward(_ io: LayerIO, _ step: StepContext) {
        let diff = io.work[0].slice(0, io.bottoms[0].count), scale = io.topGrads[0]![0] / batch(io)
        for i in 0..<2 {
            guard let dx = io.bottomGrads[i] else { continue }
            ElementwiseKernel.scaled(diff, by: i == 0 ? scale : -scale, into: dx, accumulate: io.accumulateBottom[i])
        }
    }
}
