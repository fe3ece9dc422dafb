import DConfig
import DCore

/// Consumes any number of bottoms and produces nothing, so that blobs nobody reads are not
/// reported as outputs. Backward writes zero gradients, as Caffe's does (the net never runs
/// it: a layer without tops feeds no loss).
public final class SilenceLayer: Layer {
    public let name: String
    public var bottomCount: ClosedRange<Int> { 1...Int.max }
    public var topCount: ClosedRange<Int> { 0...0 }

    init(_ spec: LayerSpec) throws(ConfigError) { name = spec.name }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { [] }

    /// Reads nothing and zeroes the gradient: moving data, no floating-point operations.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) { (0, 0) }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {}

    public func backward(_ io: LayerIO, _ step: StepContext) {
        for (i, dx) in io.bottomGrads.enumerated() where !io.accumulateBottom[i] { dx?.zero() }
    }
}
