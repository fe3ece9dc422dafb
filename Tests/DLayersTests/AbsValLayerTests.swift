import DCore
@testable import DLayers
import Testing

@Suite struct AbsValLayerTests {
    static let yaml = "{name: abs, type: AbsVal, bottom: x, top: y}"

    @Test func forwardByHand() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3]), [-2, -0.5, 0, 0.5, 3, -1])])
        #expect(rig.tops[0].shape == Shape([2, 3]))
        #expect(try rig.forward()[0] == [2, 0.5, 0, 0.5, 3, 1])
        // dx = dy·sign(x), sign(0) = 0
        rig.backward(topGrad: [[1, 2, 3, 4, 5, 6]])
        #expect(rig.bottomGrads[0].values == [-1, -2, 0, 4, 5, -6])
    }

    // The kink at 0: distinctValues keeps every input at least 0.05 from it.
    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 4]), distinctValues(24, seed: 2, scale: 2))])
        #expect(try checkGradients(rig) == 24)
        try checkAccumulation(rig)
    }

    @Test func notInPlace() throws {
        // y has lost the sign backward needs.
        #expect(try !makeLayer(Self.yaml).supportsInPlace)
    }

    @Test func configErrors() {
        #expect(layerError("{name: abs, type: AbsVal, absval_param: {}}")
                == "layer 'abs' (AbsVal): unknown key 'absval_param'")
    }
}
