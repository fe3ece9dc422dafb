import DCore
@testable import DLayers
import Testing

@Suite struct ReshapeLayerTests {
    static let yaml = "{name: reshape, type: Reshape, bottom: x, top: y, reshape_param: {shape: {dim: [0, -1]}}}"

    static func reshape(_ param: String) throws -> any Layer {
        try makeLayer("{name: reshape, type: Reshape, bottom: x, top: y, reshape_param: {\(param)}}")
    }

    @Test func forwardByHand() throws {
        // dim (0, −1) on [2, 3, 4]: 0 copies the 2, −1 is 24 / 2 = 12 → [2, 12]; the data is unchanged.
        let x = (0..<24).map(Float.init)
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 4]), x)])
        #expect(rig.tops[0].shape == Shape([2, 12]))
        #expect(try rig.forward()[0] == x)
        let dy = (0..<24).map { Float($0) * 0.25 - 1 }
        rig.backward(topGrad: [dy])
        #expect(rig.bottomGrads[0].values == dy)
    }

    @Test func shapes() throws {
        let b = [Shape([2, 3, 4])]
        // (4, 0, −1): 4, the bottom's 3, and 24 / 12 = 2
        #expect(try Self.reshape("shape: {dim: [4, 0, -1]}").topShapes(for: b) == [Shape([4, 3, 2])])
        // (−1): everything in one axis
        #expect(try Self.reshape("shape: {dim: [-1]}").topShapes(for: b) == [Shape([24])])
        // axis 1, num_axes 1 replaces only the 3: (3, 1) → [2, 3, 1, 4]
        #expect(try Self.reshape("shape: {dim: [3, 1]}, axis: 1, num_axes: 1").topShapes(for: b) == [Shape([2, 3, 1, 4])])
        // num_axes 0 inserts: a leading axis of 1 → [1, 2, 3, 4]
        #expect(try Self.reshape("shape: {dim: [1]}, axis: 0, num_axes: 0").topShapes(for: b) == [Shape([1, 2, 3, 4])])
        // axis −1 is after the last axis: appends (1) → [2, 3, 4, 1]
        #expect(try Self.reshape("shape: {dim: [1]}, axis: -1, num_axes: 0").topShapes(for: b) == [Shape([2, 3, 4, 1])])
        // axis 1 with num_axes −1 (the default) replaces axes 1 … end: (−1) → [2, 12]
        #expect(try Self.reshape("shape: {dim: [-1]}, axis: 1").topShapes(for: b) == [Shape([2, 12])])
    }

    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 4]), randomValues(24))])
        #expect(try checkGradients(rig) == 24)
        try checkAccumulation(rig)
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        #expect(try makeLayer(Self.yaml).supportsInPlace)
        let x = randomValues(24), dy = randomValues(24, seed: 12)
        let out = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 4]), x)])
        let inPlace = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 4]), x)], inPlace: true)
        #expect(inPlace.tops[0].view.base == inPlace.bottoms[0].view.base)
        let y = try out.forward()[0]
        #expect(try inPlace.forward()[0] == y)
        out.backward(topGrad: [dy])
        inPlace.backward(topGrad: [dy])
        #expect(inPlace.bottomGrads[0].values == out.bottomGrads[0].values)
        #expect(out.bottomGrads[0].values == dy)
    }

    @Test func twoInferredDims() {
        #expect(layerError("{name: reshape, type: Reshape, reshape_param: {shape: {dim: [-1, 2, -1]}}}")
                == "layer 'reshape' (Reshape): reshape_param.shape.dim: at most one dimension can be -1 (inferred)")
    }

    @Test func configErrors() {
        #expect(layerError("{name: reshape, type: Reshape, reshape_param: {shape: {dim: [2, -3]}}}")
                == "layer 'reshape' (Reshape): reshape_param.shape.dim: dimensions are ≥ 0, or -1 to infer; found -3")
        #expect(layerError("{name: reshape, type: Reshape, reshape_param: {axis: 1}}")
                == "layer 'reshape' (Reshape): missing required key 'reshape_param.shape'")
        #expect(layerError("{name: reshape, type: Reshape, reshape_param: {shape: {dim: [2]}, num_axes: -2}}")
                == "layer 'reshape' (Reshape): reshape_param.num_axes: must be at least -1, found -2")
    }

    @Test func shapeErrors() throws {
        let b = [Shape([2, 3, 4])]
        let e1 = #expect(throws: LayerError.self) { try Self.reshape("shape: {dim: [5, -1]}").topShapes(for: b) }
        #expect(e1?.message == "cannot infer a dimension: 24 elements of 2×3×4 do not divide by 5")
        let e2 = #expect(throws: LayerError.self) { try Self.reshape("shape: {dim: [5, 5]}").topShapes(for: b) }
        #expect(e2?.message == "reshaping 2×3×4 (24 elements) to 5×5 (25 elements)")
        let e3 = #expect(throws: LayerError.self) { try Self.reshape("shape: {dim: [0, 0, 0, 0]}").topShapes(for: b) }
        #expect(e3?.message == "dim 3 is 0 (copy), but bottom shape 2×3×4 has no axis 3")
        let e4 = #expect(throws: LayerError.self) { try Self.reshape("shape: {dim: [2]}, axis: 2, num_axes: 2").topShapes(for: b) }
        #expect(e4?.message == "axis 2 and num_axes 2 do not fit bottom shape 2×3×4")
    }
}
