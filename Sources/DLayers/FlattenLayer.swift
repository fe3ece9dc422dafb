import DConfig
import DCore

/// Collapses axes `axis…end_axis` into one: [N, C, H, W] → [N, C·H·W] by default.
public final class FlattenLayer: Layer {
    public let name: String
    public let axis: Int
    public let endAxis: Int
    public var supportsInPlace: Bool { true }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("flatten_param")
        axis = try p.int("axis", default: 1)
        endAxis = try p.int("end_axis", default: -1)
        try p.finish()
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        let b = bottoms[0]
        guard let a = b.canonicalAxis(axis), let e = b.canonicalAxis(endAxis), a <= e else {
            throw LayerError("axes \(axis)…\(endAxis) do not fit bottom shape \(b)")
        }
        return [Shape(Array(b.dims[..<a]) + [b.count(from: a, to: e + 1)] + Array(b.dims[(e + 1)...]))]
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        ElementwiseKernel.copy(io.bottoms[0], into: io.tops[0])
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        ElementwiseKernel.copyBackward(outputGrad: io.topGrads[0]!, inputGrad: dx, accumulate: io.accumulateBottom[0])
    }
}
