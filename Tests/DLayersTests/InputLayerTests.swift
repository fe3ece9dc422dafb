import DCore
@testable import DLayers
import Testing

@Suite struct InputLayerTests {
    static let yaml = "{name: data, type: Input, top: data, input_param: {shape: {dim: [2, 1, 3, 3]}}}"

    @Test func topShapeFromConfig() throws {
        let layer = try makeLayer(Self.yaml)
        #expect(layer.bottomCount == 0...0)
        #expect(layer.topCount == 1...1)
        #expect(try layer.topShapes(for: []) == [Shape([2, 1, 3, 3])])
        #expect(layer.parameters(for: []).isEmpty)
    }

    @Test func severalTops() throws {
        let layer = try makeLayer("{name: data, type: Input, top: [data, label], input_param: {shape: [{dim: [4, 3]}, {dim: [4]}]}}")
        #expect(layer.topCount == 2...2)
        #expect(try layer.topShapes(for: []) == [Shape([4, 3]), Shape([4])])
    }

    @Test func forwardLeavesWhatTheCallerSet() throws {
        // The caller writes the tops; forward and backward touch nothing (no bottoms, no parameters:
        // there is no gradient to check).
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [])
        let x = randomValues(18)
        rig.tops[0].view.copy(from: x)
        #expect(try rig.forward()[0] == x)
        rig.backward(topGrad: [randomValues(18, seed: 4)])
        #expect(rig.tops[0].values == x)
    }

    @Test func configErrors() {
        #expect(layerError("{name: data, type: Input, input_param: {shape: {dim: [2, 0, 3]}}}")
                == "layer 'data' (Input): input_param.shape.dim: dimensions must be positive, found 0")
        #expect(layerError("{name: data, type: Input, input_param: {shape: [{dim: [2]}, {dim: [-1]}]}}")
                == "layer 'data' (Input): input_param.shape[1].dim: dimensions must be positive, found -1")
        #expect(layerError("{name: data, type: Input, input_param: {}}")
                == "layer 'data' (Input): missing required key 'input_param.shape'")
        #expect(layerError("{name: data, type: Input, input_param: {shape: {dims: [2]}}}")
                == "layer 'data' (Input): unknown key 'dims' in input_param.shape")
    }
}
