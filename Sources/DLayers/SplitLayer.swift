import DConfig
import DCore

/// Copies its bottom to every top; backward adds the tops' gradients into the bottom's.
/// The net needs no Split where one top feeds several layers (each consumer adds its gradient
/// to the blob's, the first in backward order writing it), and an explicit one gives the same
/// gradient: Σₜ dyₜ, written or added as the net's plan says.
public final class SplitLayer: Layer {
    public let name: String
    let tops: Int
    public var topCount: ClosedRange<Int> { 1...Int.max }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        tops = spec.tops.count
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        [Shape](repeating: bottoms[0], count: tops)
    }

    /// Copies forward; backward adds the tops' gradients, one add per element for each top after
    /// the first.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        elementwiseFlops(bottoms[0].count, forward: 0, backward: Double(max(tops - 1, 0)))
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        for y in io.tops { ElementwiseKernel.copy(io.bottoms[0], into: y) }
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        StructureKernel.sum(io.topGrads.map { $0! }, into: dx, accumulate: io.accumulateBottom[0])
    }
}
