import DConfig
import DCore

/// Cuts its bottom along `slice_param.axis` (default 1) into its tops: at the `slice_point`s
/// (one fewer than the tops, increasing), or into equal parts without them. [N, 6, H, W] with
/// slice points 2, 5 → [N, 2, H, W], [N, 3, H, W], [N, 1, H, W]. The inverse of Concat.
public final class SliceLayer: Layer {
    public let name: String
    public let axis: Int
    let legacy: Bool
    let slicePoints: [Int]
    /// The number of tops the file gives (topShapes sees only bottoms).
    let tops: Int
    public var topCount: ClosedRange<Int> { 1...Int.max }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("slice_param")
        let (axis, legacy) = try ConcatLayer.axis(p, legacyKey: "slice_dim")
        self.axis = axis; self.legacy = legacy
        slicePoints = try p.ints("slice_point")
        tops = spec.tops.count
        try p.finish()
        if !slicePoints.isEmpty {
            guard slicePoints.count == spec.tops.count - 1 else {
                throw p.error("slice_point", "\(slicePoints.count) slice points for \(spec.tops.count) tops",
                              hint: "give one slice point fewer than tops, or none to cut into equal parts")
            }
            for (i, s) in slicePoints.enumerated() where s <= (i == 0 ? 0 : slicePoints[i - 1]) {
                throw p.error("slice_point", "slice points must increase from above 0, found \(slicePoints)")
            }
        }
    }

    /// The width of each top along the axis.
    func widths(_ bottom: Shape, axis a: Int, tops: Int) throws(LayerError) -> [Int] {
        let d = bottom[a]
        guard tops > 0 else { throw LayerError("a slice needs at least one top") }
        if slicePoints.isEmpty {
            guard d % tops == 0 else {
                throw LayerError("\(tops) tops do not divide axis \(a) of bottom shape \(bottom) (\(d)) into equal parts",
                                 hint: "give slice_point to cut it unequally")
            }
            return [Int](repeating: d / tops, count: tops)
        }
        guard let last = slicePoints.last, last < d else {
            throw LayerError("slice point \(slicePoints.last ?? 0) is not inside axis \(a) of bottom shape \(bottom) (\(d))",
                             hint: "every top takes at least one slice")
        }
        return zip([0] + slicePoints, slicePoints + [d]).map { $1 - $0 }
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        guard let a = ConcatLayer.canonical(axis, legacy: legacy, in: bottoms[0]) else {
            throw LayerError("axis \(axis) is out of range for bottom shape \(bottoms[0])")
        }
        return try widths(bottoms[0], axis: a, tops: tops).map { w in
            var s = bottoms[0]
            s[a] = w
            return s
        }
    }

    func blocks(_ io: LayerIO) -> (outer: Int, inner: Int, axis: Int) {
        let b = io.bottoms[0].shape, a = ConcatLayer.canonical(axis, legacy: legacy, in: b)!
        return (b.count(from: 0, to: a), b.count(from: a + 1), a)
    }

    /// Copies slices of the bottom and their gradients back: moving data, no floating-point operations.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) { (0, 0) }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let (outer, inner, a) = blocks(io)
        let bottomBlock = io.bottoms[0].shape[a] * inner
        var offset = 0
        for y in io.tops {
            let length = y.shape[a] * inner
            StructureKernel.copyBlocks(outer: outer, length: length, from: io.bottoms[0], stride: bottomBlock, offset: offset,
                                       to: y, stride: length, offset: 0, accumulate: false)
            offset += length
        }
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        let (outer, inner, a) = blocks(io)
        let bottomBlock = io.bottoms[0].shape[a] * inner
        var offset = 0
        for (t, y) in io.tops.enumerated() {
            let length = y.shape[a] * inner
            StructureKernel.copyBlocks(outer: outer, length: length, from: io.topGrads[t]!, stride: length, offset: 0,
                                       to: dx, stride: bottomBlock, offset: offset, accumulate: io.accumulateBottom[0])
            offset += length
        }
    }
}
