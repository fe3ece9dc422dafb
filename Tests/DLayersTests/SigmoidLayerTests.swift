import DCore
@testable import DLayers
import Testing

@Suite struct SigmoidLayerTests {
    static let yaml = "{name: sig, type: Sigmoid, bottom: x, top: y}"

    @Test func forwardByHand() throws {
        // σ(0) = 1/2;  σ(ln 3) = 1 / (1 + 1/3) = 3/4;  σ(−ln 3) = 1 / (1 + 3) = 1/4;  σ(2) = 1 / (1 + e^−2) = 0.8807971
        let ln3: Float = 1.0986123  // ln 3
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 2]), [0, ln3, -ln3, 2])])
        #expect(rig.tops[0].shape == Shape([2, 2]))
        #expect(close(try rig.forward()[0], [0.5, 0.75, 0.25, 0.8807971]))
        // dx = dy·y·(1 − y): 1/4, 3/16, 3/16, 0.8807971·0.1192029 = 0.1049936
        rig.backward(topGrad: [[1, 1, 1, 1]])
        #expect(close(rig.bottomGrads[0].values, [0.25, 0.1875, 0.1875, 0.1049936]))
    }

    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 4]), randomValues(12, scale: 3))])
        #expect(try checkGradients(rig) == 12)
        try checkAccumulation(rig)
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        #expect(try makeLayer(Self.yaml).supportsInPlace)
        let x = randomValues(12, scale: 3), dy = randomValues(12, seed: 12)
        let out = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 4]), x)])
        let inPlace = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 4]), x)], inPlace: true)
        #expect(inPlace.tops[0].view.base == inPlace.bottoms[0].view.base)
        let y = try out.forward()[0]
        #expect(try inPlace.forward()[0] == y)
        out.backward(topGrad: [dy])
        inPlace.backward(topGrad: [dy])
        #expect(inPlace.bottomGrads[0].values == out.bottomGrads[0].values)
    }

    @Test func configErrors() {
        #expect(layerError("{name: sig, type: Sigmoid, sigmoid_param: {}}")
                == "layer 'sig' (Sigmoid): unknown key 'sigmoid_param'")
    }
}
