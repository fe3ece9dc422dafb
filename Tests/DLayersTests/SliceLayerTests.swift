import DCore
@testable import DLayers
import Testing

@Suite struct SliceLayerTests {
    @Test func forwardByHand() throws {
        // x [2, 3, 2] sliced on axis 1 at 1: [2, 1, 2] and [2, 2, 2]. Sample 0 is 0…5, sample 1 is 6…11.
        let layer = try makeLayer("{name: s, type: Slice, bottom: x, top: [a, b], slice_param: {slice_point: 1}}")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 3, 2]), (0..<12).map(Float.init))])
        #expect(rig.tops.map(\.shape) == [Shape([2, 1, 2]), Shape([2, 2, 2])])
        let y = try rig.forward()
        #expect(y[0] == [0, 1, 6, 7])
        #expect(y[1] == [2, 3, 4, 5, 8, 9, 10, 11])
        // Backward puts each top's gradient back in its place.
        rig.backward(topGrad: [[-1, -2, -3, -4], [10, 20, 30, 40, 50, 60, 70, 80]])
        #expect(rig.bottomGrads[0].values == [-1, -2, 10, 20, 30, 40, -3, -4, 50, 60, 70, 80])
    }

    @Test func equalPartsWithoutSlicePoints() throws {
        // 6 channels into 3 tops: 2 each; axis −1 of [2, 6] is the same axis.
        let layer = try makeLayer("{name: s, type: Slice, bottom: x, top: [a, b, c], slice_param: {axis: -1}}")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 6]), (0..<12).map(Float.init))])
        #expect(try rig.forward() == [[0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11]])
        // slice_dim 0 (legacy) cuts the batch.
        let batch = try makeLayer("{name: s, type: Slice, bottom: x, top: [a, b], slice_param: {slice_dim: 0}}")
        #expect(try batch.topShapes(for: [Shape([4, 3])]) == [Shape([2, 3]), Shape([2, 3])])
    }

    @Test func gradients() throws {
        let layer = try makeLayer("{name: s, type: Slice, bottom: x, top: [a, b, c], slice_param: {axis: 2, slice_point: [1, 4]}}")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 2, 5, 2]), randomValues(40))])
        #expect(rig.tops.map(\.shape) == [Shape([2, 2, 1, 2]), Shape([2, 2, 3, 2]), Shape([2, 2, 1, 2])])
        #expect(try checkGradients(rig) == 40)
        try checkAccumulation(rig)
    }

    @Test func configErrors() {
        #expect(layerError("{name: s, type: Slice, top: [a, b], slice_param: {slice_point: [1, 2]}}")
                == "layer 's' (Slice): slice_param.slice_point: 2 slice points for 2 tops")
        #expect(layerError("{name: s, type: Slice, top: [a, b, c], slice_param: {slice_point: [2, 2]}}")
                == "layer 's' (Slice): slice_param.slice_point: slice points must increase from above 0, found [2, 2]")
        #expect(layerError("{name: s, type: Slice, top: [a, b], slice_param: {slice_point: 0}}")
                == "layer 's' (Slice): slice_param.slice_point: slice points must increase from above 0, found [0]")
        #expect(layerError("{name: s, type: Slice, top: [a, b], slice_param: {axis: 0, slice_dim: 0}}")
                == "layer 's' (Slice): slice_param.slice_dim: give axis or slice_dim, not both")
    }

    @Test func shapeErrors() throws {
        let unequal = #expect(throws: LayerError.self) {
            try makeLayer("{name: s, type: Slice, bottom: x, top: [a, b]}").topShapes(for: [Shape([2, 3])])
        }
        #expect(unequal?.message == "2 tops do not divide axis 1 of bottom shape 2×3 (3) into equal parts")
        let past = #expect(throws: LayerError.self) {
            try makeLayer("{name: s, type: Slice, bottom: x, top: [a, b], slice_param: {slice_point: 3}}").topShapes(for: [Shape([2, 3])])
        }
        #expect(past?.message == "slice point 3 is not inside axis 1 of bottom shape 2×3 (3)")
    }
}
