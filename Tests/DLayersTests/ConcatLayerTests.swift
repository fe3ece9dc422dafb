import DCore
@testable import DLayers
import Testing

@Suite struct ConcatLayerTests {
    static let yaml = "{name: cat, type: Concat, bottom: [a, b], top: y}"

    @Test func forwardByHand() throws {
        // a [2, 1, 2], b [2, 2, 2] on axis 1 → [2, 3, 2]: per sample a's 1×2 block then b's 2×2 block.
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 1, 2]), [1, 2, 3, 4]),
                                                                  (Shape([2, 2, 2]), [5, 6, 7, 8, 9, 10, 11, 12])])
        #expect(rig.tops[0].shape == Shape([2, 3, 2]))
        #expect(try rig.forward()[0] == [1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12])
        // Each bottom gets its part back: the top gradient 1…12 splits as 1 2 | 3 4 5 6 per sample.
        rig.backward(topGrad: [(1...12).map(Float.init)])
        #expect(rig.bottomGrads[0].values == [1, 2, 7, 8])
        #expect(rig.bottomGrads[1].values == [3, 4, 5, 6, 9, 10, 11, 12])
    }

    @Test func otherAxes() throws {
        let bottoms = [Shape([2, 3]), Shape([2, 3])]
        // axis 0 stacks the rows, axis −1 (the last) joins them side by side, legacy concat_dim 0 is axis 0.
        #expect(try makeLayer("{name: c, type: Concat, concat_param: {axis: 0}}").topShapes(for: bottoms) == [Shape([4, 3])])
        #expect(try makeLayer("{name: c, type: Concat, concat_param: {axis: -1}}").topShapes(for: bottoms) == [Shape([2, 6])])
        #expect(try makeLayer("{name: c, type: Concat, concat_param: {concat_dim: 0}}").topShapes(for: bottoms) == [Shape([4, 3])])
        // On axis 0 the blocks are whole bottoms: a then b.
        let rig = try LayerRig(try makeLayer("{name: c, type: Concat, bottom: [a, b], top: y, concat_param: {axis: 0}}"),
                               bottoms: [(Shape([1, 2]), [1, 2]), (Shape([2, 2]), [3, 4, 5, 6])])
        #expect(try rig.forward()[0] == [1, 2, 3, 4, 5, 6])
    }

    @Test func gradients() throws {
        let layer = try makeLayer("{name: cat, type: Concat, bottom: [a, b, c], top: y, concat_param: {axis: 2}}")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 2, 1, 2]), randomValues(8)), (Shape([2, 2, 3, 2]), randomValues(24, seed: 12)),
                                                (Shape([2, 2, 2, 2]), randomValues(16, seed: 13))])
        #expect(rig.tops[0].shape == Shape([2, 2, 6, 2]))
        #expect(try checkGradients(rig) == 8 + 24 + 16)
        try checkAccumulation(rig)
    }

    @Test func configErrors() {
        #expect(layerError("{name: c, type: Concat, concat_param: {axis: 1, concat_dim: 1}}")
                == "layer 'c' (Concat): concat_param.concat_dim: give axis or concat_dim, not both")
        #expect(layerError("{name: c, type: Concat, concat_param: {concat_dim: -1}}")
                == "layer 'c' (Concat): concat_param.concat_dim: must be at least 0, found -1")
    }

    @Test func shapeErrors() throws {
        let layer = try makeLayer(Self.yaml)
        let mismatch = #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([2, 3, 4]), Shape([2, 3, 5])]) }
        #expect(mismatch?.message == "bottom 1 has shape 2×3×5, which does not fit bottom 0's 2×3×4 outside axis 1")
        let rank = #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([2, 3]), Shape([2, 3, 1])]) }
        #expect(rank?.message == "bottom 1 has shape 2×3×1, which does not fit bottom 0's 2×3 outside axis 1")
        let axis = #expect(throws: LayerError.self) { try makeLayer("{name: c, type: Concat, concat_param: {axis: 2}}").topShapes(for: [Shape([2, 3])]) }
        #expect(axis?.message == "axis 2 is out of range for bottom shape 2×3")
        // concat_dim takes no negative axis, and is checked against the rank like axis.
        let legacy = #expect(throws: LayerError.self) { try makeLayer("{name: c, type: Concat, concat_param: {concat_dim: 2}}").topShapes(for: [Shape([2, 3])]) }
        #expect(legacy?.message == "axis 2 is out of range for bottom shape 2×3")
    }
}
