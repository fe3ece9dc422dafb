import DConfig
import DCore

/// The indices of the `argmax_param.top_k` (default 1) largest values, ties going to the larger
/// index (Caffe's order). With `axis`, along that axis: [N, C, H, W], axis 1 → [N, top_k, H, W],
/// the values instead of the indices with `out_max_val`. Without it, over each sample's
/// flattened values: top [N, 1, top_k] (at least rank 3, padded with 1s as Caffe pads it:
/// [N, 1, top_k, 1] for a rank-4 bottom), or [N, 2, top_k] with `out_max_val`, the indices
/// then the values. Not differentiable.
public final class ArgMaxLayer: Layer {
    public let name: String
    public let outMaxValue: Bool
    public let topK: Int
    public let axis: Int?

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("argmax_param")
        outMaxValue = try p.bool("out_max_val", default: false)
        topK = try p.int("top_k", default: 1, min: 1)
        axis = try p.int("axis")
        try p.finish()
    }

    public func propagates(toBottom i: Int) -> Bool { false }

    /// The values ranked: along the axis, or each sample's flattened values as one axis.
    func layout(_ s: Shape) -> AxisLayout {
        if let axis { return AxisLayout(shape: s, axis: s.canonicalAxis(axis)!) }
        return AxisLayout(outer: s[0], channels: s.count(from: 1), inner: 1)
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        let b = bottoms[0]
        if let axis {
            guard let a = b.canonicalAxis(axis) else { throw LayerError("axis \(axis) is out of range for bottom shape \(b)") }
            guard topK <= b[a] else { throw LayerError("top_k \(topK) is more than the \(b[a]) values along axis \(a) of \(b)") }
            var top = b
            top[a] = topK
            return [top]
        }
        guard b.rank >= 1 else { throw LayerError("a scalar bottom has no samples to rank") }
        guard topK <= b.count(from: 1) else {
            throw LayerError("top_k \(topK) is more than the \(b.count(from: 1)) values of each sample of \(b)")
        }
        var top = [Int](repeating: 1, count: max(b.rank, 3))
        top[0] = b[0]
        top[1] = outMaxValue ? 2 : 1
        top[2] = topK
        return [Shape(top)]
    }

    /// Comparisons: one per value for top_k 1, a sort's C·⌈log₂ C⌉ per ranked row of C values
    /// otherwise. No backward.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        guard bottoms[0].count > 0 else { return (0, 0) }
        let c = layout(bottoms[0]).channels
        let perValue = topK == 1 ? 1 : Double(Int.bitWidth - max(c - 1, 1).leadingZeroBitCount)
        return elementwiseFlops(bottoms[0].count, forward: perValue, backward: 0)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let l = layout(io.bottoms[0].shape)
        if axis != nil {
            ArgMaxKernel.forward(l, topK: topK, input: io.bottoms[0], output: io.tops[0], outerStride: topK * l.inner,
                                 indexOffset: outMaxValue ? nil : 0, valueOffset: outMaxValue ? 0 : nil)
        } else {
            ArgMaxKernel.forward(l, topK: topK, input: io.bottoms[0], output: io.tops[0], outerStride: (outMaxValue ? 2 : 1) * topK,
                                 indexOffset: 0, valueOffset: outMaxValue ? topK : nil)
        }
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {}
}
