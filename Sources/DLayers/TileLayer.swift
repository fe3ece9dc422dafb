import DConfig
import DCore

/// Repeats its bottom `tile_param.tiles` times along `axis` (default 1), repeating the whole
/// block from that axis on: [N, C, H, W] with 2 tiles → [N, 2C, H, W], channels 0…C−1 twice.
/// Backward sums the copies' gradients.
public final class TileLayer: Layer {
    public let name: String
    public let axis: Int
    public let tiles: Int

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("tile_param")
        axis = try p.int("axis", default: 1)
        guard p.has("tiles") else { throw p.missing("tiles") }
        tiles = try p.int("tiles", default: 1, min: 1)
        try p.finish()
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        guard let a = bottoms[0].canonicalAxis(axis) else {
            throw LayerError("axis \(axis) is out of range for bottom shape \(bottoms[0])")
        }
        var top = bottoms[0]
        top[a] *= tiles
        return [top]
    }

    /// outer = the dimensions before the axis, inner = the block from it on.
    func blocks(_ s: Shape) -> (outer: Int, inner: Int) {
        let a = s.canonicalAxis(axis)!
        return (s.count(from: 0, to: a), s.count(from: a))
    }

    /// Copies forward; backward adds the copies' gradients, one add per bottom element for each
    /// tile after the first.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        elementwiseFlops(bottoms[0].count, forward: 0, backward: Double(tiles - 1))
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let (outer, inner) = blocks(io.bottoms[0].shape)
        for t in 0..<tiles {
            StructureKernel.copyBlocks(outer: outer, length: inner, from: io.bottoms[0], stride: inner, offset: 0,
                                       to: io.tops[0], stride: tiles * inner, offset: t * inner, accumulate: false)
        }
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        let (outer, inner) = blocks(io.bottoms[0].shape)
        for t in 0..<tiles {
            StructureKernel.copyBlocks(outer: outer, length: inner, from: io.topGrads[0]!, stride: tiles * inner, offset: t * inner,
                                       to: dx, stride: inner, offset: 0, accumulate: io.accumulateBottom[0] || t > 0)
        }
    }
}
