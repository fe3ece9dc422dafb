import DConfig
import DCore

/// Changes the shape, not the data. `reshape_param.shape.dim` replaces the bottom axes
/// `axis ..< axis + num_axes` (all by default); 0 copies the bottom's dimension, −1 is inferred.
public final class ReshapeLayer: Layer {
    public let name: String
    let dims: [Int]
    let axis: Int
    let numAxes: Int
    public var supportsInPlace: Bool { true }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("reshape_param")
        guard let shape = try p.map("shape") else {
            throw p.missing("shape", hint: "e.g. reshape_param: {shape: {dim: [0, -1]}}")
        }
        dims = try shape.ints("dim")
        try shape.finish()
        axis = try p.int("axis", default: 0)
        numAxes = try p.int("num_axes", default: -1, min: -1)
        try p.finish()
        if dims.filter({ $0 == -1 }).count > 1 { throw shape.error("dim", "at most one dimension can be -1 (inferred)") }
        if let bad = dims.first(where: { $0 < -1 }) { throw shape.error("dim", "dimensions are ≥ 0, or -1 to infer; found \(bad)") }
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        let b = bottoms[0]
        let start = axis < 0 ? axis + b.rank + 1 : axis
        guard start >= 0, start <= b.rank, numAxes <= b.rank else {
            throw LayerError("axis \(axis) and num_axes \(numAxes) do not fit bottom shape \(b)")
        }
        let end = numAxes == -1 ? b.rank : start + numAxes
        guard end <= b.rank else {
            throw LayerError("axis \(axis) and num_axes \(numAxes) do not fit bottom shape \(b)")
        }
        var middle: [Int] = []
        for (i, d) in dims.enumerated() {
            if d == 0 {
                guard start + i < b.rank else { throw LayerError("dim \(i) is 0 (copy), but bottom shape \(b) has no axis \(start + i)") }
                middle.append(b[start + i])
            } else {
                middle.append(d)
            }
        }
        var out = Array(b.dims[..<start]) + middle + Array(b.dims[end...])
        guard let known = Shape.checkedCount(out.filter { $0 != -1 }) else {
            throw LayerError("the dimensions \(dims) multiply to more elements than any bottom has")
        }
        if let inferred = out.firstIndex(of: -1) {
            guard known > 0, b.count % known == 0 else {
                throw LayerError("cannot infer a dimension: \(b.count) elements of \(b) do not divide by \(known)")
            }
            out[inferred] = b.count / known
        }
        let top = Shape(out)
        guard top.count == b.count else {
            throw LayerError("reshaping \(b) (\(b.count) elements) to \(top) (\(top.count) elements)")
        }
        return [top]
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        ElementwiseKernel.copy(io.bottoms[0], into: io.tops[0])
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        ElementwiseKernel.copyBackward(outputGrad: io.topGrads[0]!, inputGrad: dx, accumulate: io.accumulateBottom[0])
    }
}
