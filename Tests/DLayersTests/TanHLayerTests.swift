import DCore
@testable import DLayers
import Testing

@Suite struct TanHLayerTests {
    static let yaml = "{name: tanh, type: TanH, bottom: x, top: y}"

    @Test func forwardByHand() throws {
        // tanh(0) = 0;  tanh(ln 2) = (2 − 1/2) / (2 + 1/2) = 0.6;  tanh(−ln 2) = −0.6;  tanh(1) = 0.7615942
        let ln2: Float = 0.6931472  // ln 2
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([1, 4]), [0, ln2, -ln2, 1])])
        #expect(rig.tops[0].shape == Shape([1, 4]))
        #expect(close(try rig.forward()[0], [0, 0.6, -0.6, 0.7615942]))
        // dx = dy·(1 − y²): 2·1, 2·0.64, 2·0.64, 2·(1 − 0.5800257) = 0.8399486
        rig.backward(topGrad: [[2, 2, 2, 2]])
        #expect(close(rig.bottomGrads[0].values, [2, 1.28, 1.28, 0.8399486]))
    }

    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 2]), randomValues(12, scale: 2))])
        #expect(try checkGradients(rig) == 12)
        try checkAccumulation(rig)
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        #expect(try makeLayer(Self.yaml).supportsInPlace)
        let x = randomValues(12, scale: 2), dy = randomValues(12, seed: 12)
        let out = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 2]), x)])
        let inPlace = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 2]), x)], inPlace: true)
        #expect(inPlace.tops[0].view.base == inPlace.bottoms[0].view.base)
        let y = try out.forward()[0]
        #expect(try inPlace.forward()[0] == y)
        out.backward(topGrad: [dy])
        inPlace.backward(topGrad: [dy])
        #expect(inPlace.bottomGrads[0].values == out.bottomGrads[0].values)
    }

    @Test func configErrors() {
        #expect(layerError("{name: tanh, type: TanH, tanh_param: {engine: CAFFE}}")
                == "layer 'tanh' (TanH): unknown key 'tanh_param'")
    }
}
