import DCore
@testable import DLayers
import Testing

@Suite struct CropLayerTests {
    static func crop(_ param: String) throws -> any Layer {
        try makeLayer("{name: crop, type: Crop, bottom: [x, ref], top: y, crop_param: {\(param)}}")
    }

    @Test func forwardByHand() throws {
        // x [1, 1, 3, 4] holds 0…11 row by row; cropped to the reference's 2×2 from row 1, column 1:
        // rows 1–2, columns 1–2 → 5 6 / 9 10.
        let rig = try LayerRig(try Self.crop("offset: [1, 1]"), bottoms: [(Shape([1, 1, 3, 4]), (0..<12).map(Float.init)),
                                                                         (Shape([1, 1, 2, 2]), [0, 0, 0, 0])])
        #expect(rig.tops[0].shape == Shape([1, 1, 2, 2]))
        #expect(try rig.forward()[0] == [5, 6, 9, 10])
        // The gradient goes back into the window; the rest of x gets 0, the reference nothing.
        rig.bottomGrads[1].view.fill(7)
        rig.backward(topGrad: [[1, 2, 3, 4]])
        #expect(rig.bottomGrads[0].values == [0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0])
        #expect(rig.bottomGrads[1].values == [7, 7, 7, 7])
        #expect(!rig.layer.propagates(toBottom: 1))
    }

    @Test func offsets() throws {
        let x = (Shape([2, 2, 3, 4]), (0..<48).map(Float.init))
        // One offset for every cropped axis: the same window as [1, 1]; none starts at 0 (rows 0–1, columns 0–1).
        let one = try LayerRig(try Self.crop("offset: 1"), bottoms: [x, (Shape([2, 2, 2, 2]), [Float](repeating: 0, count: 16))])
        #expect(try one.forward()[0].prefix(4) == [5, 6, 9, 10])
        let none = try LayerRig(try Self.crop("axis: -2"), bottoms: [x, (Shape([2, 2, 2, 2]), [Float](repeating: 0, count: 16))])
        #expect(try none.forward()[0].prefix(4) == [0, 1, 4, 5])
        // From axis 1 with one offset per axis: channel 1, row 1, columns 2–3 of each sample (12 per channel, 24 per sample).
        let deep = try LayerRig(try Self.crop("axis: 1, offset: [1, 1, 2]"), bottoms: [x, (Shape([2, 1, 1, 2]), [0, 0, 0, 0])])
        #expect(deep.tops[0].shape == Shape([2, 1, 1, 2]))
        #expect(try deep.forward()[0] == [18, 19, 42, 43])
    }

    @Test func gradients() throws {
        let rig = try LayerRig(try Self.crop("axis: 1, offset: [1, 0, 2]"),
                               bottoms: [(Shape([2, 3, 2, 5]), randomValues(60)), (Shape([2, 2, 2, 3]), randomValues(24, seed: 12))])
        #expect(try checkGradients(rig, checkBottoms: [0]) == 60)
        try checkAccumulation(rig)
    }

    @Test func configErrors() {
        #expect(layerError("{name: crop, type: Crop, crop_param: {offset: [1, -1]}}")
                == "layer 'crop' (Crop): crop_param.offset: offsets are ≥ 0, found -1")
        #expect(layerError("{name: crop, type: Crop, crop_param: {axes: 1}}")
                == "layer 'crop' (Crop): unknown key 'axes' in crop_param")
    }

    @Test func shapeErrors() throws {
        let count = #expect(throws: LayerError.self) { try Self.crop("offset: [1, 1, 1]").topShapes(for: [Shape([1, 1, 4, 4]), Shape([1, 1, 2, 2])]) }
        #expect(count?.message == "3 offsets for the 2 axes cropped from axis 2 of 1×1×4×4")
        let past = #expect(throws: LayerError.self) { try Self.crop("offset: [1, 3]").topShapes(for: [Shape([1, 1, 4, 4]), Shape([1, 1, 2, 2])]) }
        #expect(past?.message == "cropping axis 3 of 1×1×4×4 to 2 at offset 3 runs past its end")
        let axis = #expect(throws: LayerError.self) { try Self.crop("axis: 4").topShapes(for: [Shape([1, 1, 4, 4]), Shape([1, 1, 2, 2])]) }
        #expect(axis?.message == "axis 4 is out of range for bottom shape 1×1×4×4")
    }
}
