import DConfig
import DCore

/// Joins its bottoms along `concat_param.axis` (default 1, the channels): bottoms
/// [N, C₁, H, W], [N, C₂, H, W] → top [N, C₁ + C₂, H, W]. Every other dimension must agree.
/// Backward hands each bottom its part of the top's gradient.
public final class ConcatLayer: Layer {
    public let name: String
    public let axis: Int
    /// Caffe's legacy `concat_dim`, which takes no negative axis.
    let legacy: Bool
    public var bottomCount: ClosedRange<Int> { 1...Int.max }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("concat_param")
        let (axis, legacy) = try Self.axis(p, legacyKey: "concat_dim")
        self.axis = axis; self.legacy = legacy
        try p.finish()
    }

    /// `axis` (default 1, may be negative) or the deprecated unsigned `<legacyKey>`, not both
    /// (Caffe's rule, shared by Concat and Slice).
    static func axis(_ p: ConfigMap, legacyKey: String) throws(ConfigError) -> (axis: Int, legacy: Bool) {
        let hasAxis = p.has("axis"), hasLegacy = p.has(legacyKey)
        if hasAxis && hasLegacy {
            throw p.error(legacyKey, "give axis or \(legacyKey), not both", hint: "\(legacyKey) is the deprecated name of axis")
        }
        if hasLegacy { return (try p.int(legacyKey, default: 1, min: 0), true) }
        return (try p.int("axis", default: 1), false)
    }

    /// The canonical axis for a bottom of this rank, nil when out of range.
    static func canonical(_ axis: Int, legacy: Bool, in shape: Shape) -> Int? {
        legacy ? (axis < shape.rank ? axis : nil) : shape.canonicalAxis(axis)
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        guard let a = Self.canonical(axis, legacy: legacy, in: bottoms[0]) else {
            throw LayerError("axis \(axis) is out of range for bottom shape \(bottoms[0])")
        }
        var top = bottoms[0]
        for (i, b) in bottoms.enumerated().dropFirst() {
            guard b.rank == top.rank, (0..<b.rank).allSatisfy({ $0 == a || b[$0] == bottoms[0][$0] }) else {
                throw LayerError("bottom \(i) has shape \(b), which does not fit bottom 0's \(bottoms[0]) outside axis \(a)",
                                 hint: "concatenated bottoms differ only along the concat axis")
            }
            top[a] += b[a]
        }
        return [top]
    }

    /// For [N, C, H, W] on axis 1: N blocks; bottom i's block is Cᵢ·H·W long, the top's C·H·W.
    func blocks(_ io: LayerIO) -> (outer: Int, inner: Int, axis: Int) {
        let a = Self.canonical(axis, legacy: legacy, in: io.tops[0].shape)!
        return (io.tops[0].shape.count(from: 0, to: a), io.tops[0].shape.count(from: a + 1), a)
    }

    /// Copies its bottoms into the top and the gradient back: moving data, no floating-point operations.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) { (0, 0) }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let (outer, inner, a) = blocks(io)
        let topBlock = io.tops[0].shape[a] * inner
        var offset = 0
        for x in io.bottoms {
            let length = x.shape[a] * inner
            StructureKernel.copyBlocks(outer: outer, length: length, from: x, stride: length, offset: 0,
                                       to: io.tops[0], stride: topBlock, offset: offset, accumulate: false)
            offset += length
        }
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        let (outer, inner, a) = blocks(io)
        let topBlock = io.tops[0].shape[a] * inner
        var offset = 0
        for (i, x) in io.bottoms.enumerated() {
            let length = x.shape[a] * inner
            if let dx = io.bottomGrads[i] {
                StructureKernel.copyBlocks(outer: outer, length: length, from: io.topGrads[0]!, stride: topBlock, offset: offset,
                                           to: dx, stride: length, offset: 0, accumulate: io.accumulateBottom[i])
            }
            offset += length
        }
    }
}
