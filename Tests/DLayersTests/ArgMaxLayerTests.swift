import DCore
@testable import DLayers
import Testing

@Suite struct ArgMaxLayerTests {
    static func argmax(_ param: String) throws -> any Layer {
        try makeLayer("{name: am, type: ArgMax, bottom: x, top: y, argmax_param: {\(param)}}")
    }

    // Sample 0: 1 5 2; sample 1: 7 7 0 (a tie).
    static let x = (Shape([2, 3]), [Float(1), 5, 2, 7, 7, 0])

    @Test func perSample() throws {
        // Without axis each sample's values are ranked: top [N, 1, top_k]. The tie 7 = 7 goes to the larger index, 1.
        let rig = try LayerRig(try makeLayer("{name: am, type: ArgMax, bottom: x, top: y}"), bottoms: [Self.x])
        #expect(rig.tops[0].shape == Shape([2, 1, 1]))
        #expect(try rig.forward()[0] == [1, 1])
        // out_max_val, top_k 2: [N, 2, 2], the indices then the values: (5 at 1, 2 at 2); (7 at 1, 7 at 0).
        let both = try LayerRig(try Self.argmax("out_max_val: true, top_k: 2"), bottoms: [Self.x])
        #expect(both.tops[0].shape == Shape([2, 2, 2]))
        #expect(try both.forward()[0] == [1, 2, 5, 2, 1, 0, 7, 7])
        // A rank-4 bottom keeps rank 4, padded with 1s: [N, 1, top_k, 1]; the sample's 4 values flattened.
        let image = try LayerRig(try Self.argmax("top_k: 3"), bottoms: [(Shape([1, 1, 2, 2]), [0.5, -1, 3, 2])])
        #expect(image.tops[0].shape == Shape([1, 1, 3, 1]))
        #expect(try image.forward()[0] == [2, 3, 0])
    }

    @Test func alongAxis() throws {
        // x [1, 3, 2]: channels 1 9 / 4 2 / 3 2 at two positions. Along axis 1, top_k 2: position 0 ranks
        // 4 (c1), 3 (c2); position 1 ranks 9 (c0), then the tie 2 = 2 goes to c2. Top [1, 2, 2] is [rank, position].
        let x = (Shape([1, 3, 2]), [Float(1), 9, 4, 2, 3, 2])
        let indices = try LayerRig(try Self.argmax("axis: 1, top_k: 2"), bottoms: [x])
        #expect(indices.tops[0].shape == Shape([1, 2, 2]))
        #expect(try indices.forward()[0] == [1, 0, 2, 2])
        // With axis, out_max_val gives the values instead of the indices.
        let values = try LayerRig(try Self.argmax("axis: -2, top_k: 2, out_max_val: true"), bottoms: [x])
        #expect(try values.forward()[0] == [4, 9, 3, 2])
    }

    @Test func notDifferentiable() throws {
        let layer = try makeLayer("{name: am, type: ArgMax, bottom: x, top: y}")
        #expect(!layer.propagates(toBottom: 0))
    }

    @Test func configErrors() {
        #expect(layerError("{name: am, type: ArgMax, argmax_param: {top_k: 0}}")
                == "layer 'am' (ArgMax): argmax_param.top_k: must be at least 1, found 0")
    }

    @Test func shapeErrors() throws {
        let sample = #expect(throws: LayerError.self) { try Self.argmax("top_k: 4").topShapes(for: [Shape([2, 3])]) }
        #expect(sample?.message == "top_k 4 is more than the 3 values of each sample of 2×3")
        let axis = #expect(throws: LayerError.self) { try Self.argmax("axis: 0, top_k: 3").topShapes(for: [Shape([2, 3])]) }
        #expect(axis?.message == "top_k 3 is more than the 2 values along axis 0 of 2×3")
        let range = #expect(throws: LayerError.self) { try Self.argmax("axis: 2").topShapes(for: [Shape([2, 3])]) }
        #expect(range?.message == "axis 2 is out of range for bottom shape 2×3")
    }
}
