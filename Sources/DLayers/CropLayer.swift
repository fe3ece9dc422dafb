import DConfig
import DCore

/// Crops bottom 0 to the shape of bottom 1 (the reference) in axes `crop_param.axis`
/// (default 2, the spatial ones) onwards, starting at `offset`: one value for every cropped
/// axis, one per cropped axis, or none (0). Axes before `axis` are kept. Bottom 1 gives only
/// its shape and gets no gradient.
public final class CropLayer: Layer {
    public let name: String
    public let axis: Int
    public let offsets: [Int]
    public var bottomCount: ClosedRange<Int> { 2...2 }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("crop_param")
        axis = try p.int("axis", default: 2)
        offsets = try p.ints("offset")
        try p.finish()
        if let bad = offsets.first(where: { $0 < 0 }) { throw p.error("offset", "offsets are ≥ 0, found \(bad)") }
    }

    public func propagates(toBottom i: Int) -> Bool { i == 0 }

    /// The offset of every axis of a bottom of this shape, 0 before the crop axis.
    public func axisOffsets(_ s: Shape) -> [Int] {
        let a = s.canonicalAxis(axis)!
        return (0..<s.rank).map { i in
            i < a ? 0 : (offsets.count == 1 ? offsets[0] : (offsets.isEmpty ? 0 : offsets[i - a]))
        }
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        let b = bottoms[0], reference = bottoms[1]
        guard let a = b.canonicalAxis(axis) else {
            throw LayerError("axis \(axis) is out of range for bottom shape \(b)")
        }
        guard offsets.count <= 1 || offsets.count == b.rank - a else {
            throw LayerError("\(offsets.count) offsets for the \(b.rank - a) axes cropped from axis \(a) of \(b)",
                             hint: "give one offset for every cropped axis, or one per cropped axis")
        }
        guard reference.rank >= b.rank else {
            throw LayerError("the reference (bottom 1) \(reference) has fewer axes than bottom 0 \(b)")
        }
        let off = axisOffsets(b)
        var top = b
        for i in a..<b.rank {
            guard off[i] + reference[i] <= b[i] else {
                throw LayerError("cropping axis \(i) of \(b) to \(reference[i]) at offset \(off[i]) runs past its end")
            }
            top[i] = reference[i]
        }
        return [top]
    }

    /// Copies a window of the bottom, and its gradient back into zeros: moving data, no floating-point operations.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) { (0, 0) }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        StructureKernel.crop(io.bottoms[0], offsets: axisOffsets(io.bottoms[0].shape), into: io.tops[0])
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        StructureKernel.cropBackward(outputGrad: io.topGrads[0]!, offsets: axisOffsets(io.bottoms[0].shape),
                                     inputGrad: dx, accumulate: io.accumulateBottom[0])
    }
}
