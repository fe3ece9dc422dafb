import DCore
@testable import DLayers
import Testing

@Suite struct ReLULayerTests {
    static let yaml = "{name: relu, type: ReLU, bottom: x, top: y}"
    static let leaky = "{name: relu, type: ReLU, bottom: x, top: y, relu_param: {negative_slope: 0.1}}"

    @Test func forwardByHand() throws {
        // y = max(x, 0)
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3]), [-2, -0.5, 0, 0.5, 3, -1])])
        #expect(rig.tops[0].shape == Shape([2, 3]))
        #expect(try rig.forward()[0] == [0, 0, 0, 0.5, 3, 0])
        // dx = dy where x > 0, else 0
        rig.backward(topGrad: [[1, 2, 3, 4, 5, 6]])
        #expect(rig.bottomGrads[0].values == [0, 0, 0, 4, 5, 0])
    }

    @Test func leakyByHand() throws {
        // y = x for x > 0, else 0.1·x: −0.2, −0.05, 0, 0.5, 3, −0.1
        let rig = try LayerRig(try makeLayer(Self.leaky), bottoms: [(Shape([2, 3]), [-2, -0.5, 0, 0.5, 3, -1])])
        #expect(close(try rig.forward()[0], [-0.2, -0.05, 0, 0.5, 3, -0.1]))
        // dx = dy for x > 0, else 0.1·dy
        rig.backward(topGrad: [[1, 2, 3, 4, 5, 6]])
        #expect(close(rig.bottomGrads[0].values, [0.1, 0.2, 0.3, 4, 5, 0.6]))
    }

    // The kink at 0: distinctValues keeps every input at least 0.05 from it, beyond h = 0.01.
    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 4]), distinctValues(24))])
        #expect(try checkGradients(rig) == 24)
        try checkAccumulation(rig)
    }

    @Test func leakyGradients() throws {
        let rig = try LayerRig(try makeLayer(Self.leaky), bottoms: [(Shape([2, 3, 4]), distinctValues(24, seed: 9))])
        #expect(try checkGradients(rig) == 24)
        try checkAccumulation(rig)
    }

    @Test func negativeSlopeGradients() throws {
        // A negative slope flips the sign of y, so backward reads the bottom and the layer cannot run in place.
        let layer = try makeLayer("{name: relu, type: ReLU, bottom: x, top: y, relu_param: {negative_slope: -0.5}}")
        #expect(!layer.supportsInPlace)
        let rig = try LayerRig(layer, bottoms: [(Shape([3, 5]), distinctValues(15, seed: 4))])
        #expect(try checkGradients(rig) == 15)
        try checkAccumulation(rig)
    }

    @Test(arguments: [yaml, leaky]) func inPlaceMatchesOutOfPlace(_ yaml: String) throws {
        let layer = try makeLayer(yaml)
        #expect(layer.supportsInPlace)
        let x = distinctValues(24, seed: 6), dy = randomValues(24, seed: 12)
        let out = try LayerRig(layer, bottoms: [(Shape([2, 3, 4]), x)])
        let inPlace = try LayerRig(try makeLayer(yaml), bottoms: [(Shape([2, 3, 4]), x)], inPlace: true)
        #expect(inPlace.tops[0].view.base == inPlace.bottoms[0].view.base)
        let y = try out.forward()[0]
        #expect(try inPlace.forward()[0] == y)
        out.backward(topGrad: [dy])
        inPlace.backward(topGrad: [dy])
        #expect(inPlace.bottomGrads[0].values == out.bottomGrads[0].values)
    }

    @Test func configErrors() {
        #expect(layerError("{name: relu, type: ReLU, relu_param: {negative_slop: 0.1}}")
                == "layer 'relu' (ReLU): unknown key 'negative_slop' in relu_param")
        #expect(layerError("{name: relu, type: ReLU, relu_param: {negative_slope: steep}}")
                == "layer 'relu' (ReLU): relu_param.negative_slope: expected a number, found 'steep'")
    }
}
