import DCore
@testable import DLayers
import Testing

@Suite struct PReLULayerTests {
    static let yaml = "{name: prelu, type: PReLU, bottom: x, top: y}"
    static let shared = "{name: prelu, type: PReLU, bottom: x, top: y, prelu_param: {channel_shared: true}}"
    /// [N 2, C 2, 3]: n0c0, n0c1, n1c0, n1c1
    static let x: [Float] = [-2, 1, -0.4, 3, -1, 0, 0.5, -4, 2, -3, -0.2, 1]

    @Test func defaultSlopesAreAQuarter() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 4]), randomValues(24))])
        #expect(rig.params.count == 1)
        #expect(rig.params[0].shape == Shape([3]))
        #expect(rig.params[0].values == [0.25, 0.25, 0.25])
        let shared = try LayerRig(try makeLayer(Self.shared), bottoms: [(Shape([2, 3, 4]), randomValues(24))])
        #expect(shared.params[0].shape == Shape([1]))
        #expect(shared.params[0].values == [0.25])
    }

    @Test func forwardByHand() throws {
        // slopes a = [0.25, −0.5]: y = x for x > 0, else a_c·x
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 2, 3]), Self.x)])
        rig.params[0].view.copy(from: [0.25, -0.5])
        // n0c0: −0.5, 1, −0.1;  n0c1: 3, 0.5, 0;  n1c0: 0.5, −1, 2;  n1c1: 1.5, 0.1, 1
        #expect(close(try rig.forward()[0], [-0.5, 1, -0.1, 3, 0.5, 0, 0.5, -1, 2, 1.5, 0.1, 1]))
        rig.backward(topGrad: [(1...12).map(Float.init)])
        // dx = dy for x > 0, else a_c·dy: 0.25·1, 2, 0.25·3;  4, −0.5·5, −0.5·6;  7, 0.25·8, 9;  −0.5·10, −0.5·11, 12
        #expect(close(rig.bottomGrads[0].values, [0.25, 2, 0.75, 4, -2.5, -3, 7, 2, 9, -5, -5.5, 12]))
        // da_c = Σ dy·x over x ≤ 0:  c0: 1·(−2) + 3·(−0.4) + 8·(−4) = −35.2;  c1: 5·(−1) + 6·0 + 10·(−3) + 11·(−0.2) = −37.2
        #expect(close(rig.paramGrads[0].values, [-35.2, -37.2]))
    }

    @Test func sharedByHand() throws {
        let rig = try LayerRig(try makeLayer(Self.shared), bottoms: [(Shape([2, 2, 3]), Self.x)])
        rig.params[0].view.copy(from: [-0.5])
        // every x ≤ 0 times −0.5: 1, 1, 0.2, 3, 0.5, 0, 0.5, 2, 2, 1.5, 0.1, 1
        #expect(close(try rig.forward()[0], [1, 1, 0.2, 3, 0.5, 0, 0.5, 2, 2, 1.5, 0.1, 1]))
        rig.backward(topGrad: [(1...12).map(Float.init)])
        // da = −35.2 − 37.2 = −72.4, the sum over both channels
        #expect(close(rig.paramGrads[0].values, [-72.4]))
    }

    @Test func gradients() throws {
        // distinct slopes, and inputs at least 0.05 from the kink at 0
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 2, 2]), distinctValues(24, scale: 2))])
        rig.params[0].view.copy(from: [0.25, -0.7, 1.3])
        #expect(try checkGradients(rig) == 24 + 3)
        try checkAccumulation(rig)
    }

    @Test func sharedGradients() throws {
        let rig = try LayerRig(try makeLayer(Self.shared), bottoms: [(Shape([3, 5]), distinctValues(15, seed: 5, scale: 2))])
        rig.params[0].view.copy(from: [0.6])
        #expect(try checkGradients(rig) == 15 + 1)
        try checkAccumulation(rig)
    }

    @Test func slopeGradientAddsOn() throws {
        // Parameter gradients are added to what they hold (iter_size, shared parameters):
        // from [1, 2], the hand values above give [1 − 35.2, 2 − 37.2].
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 2, 3]), Self.x)])
        rig.params[0].view.copy(from: [0.25, -0.5])
        try rig.forward()
        rig.topGrads[0].view.copy(from: (1...12).map(Float.init))
        rig.paramGrads[0].view.copy(from: [1, 2])
        rig.layer.backward(rig.io(), rig.step)
        #expect(close(rig.paramGrads[0].values, [-34.2, -35.2]))
    }

    @Test func needsAChannelAxis() throws {
        let layer = try makeLayer(Self.yaml)
        #expect(!layer.supportsInPlace)
        let e = #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([4])]) }
        #expect(e?.message == "the bottom needs a channel axis (rank ≥ 2), found shape 4")
    }

    @Test func configErrors() {
        #expect(layerError("{name: prelu, type: PReLU, prelu_param: {channel_shared: maybe}}")
                == "layer 'prelu' (PReLU): prelu_param.channel_shared: expected true or false, found 'maybe'")
        #expect(layerError("{name: prelu, type: PReLU, prelu_param: {filler: {type: constant, std: 1}}}")
                == "layer 'prelu' (PReLU): unknown key 'std' in prelu_param.filler")
        #expect(layerError("{name: prelu, type: PReLU, prelu_param: {slope: 0.1}}")
                == "layer 'prelu' (PReLU): unknown key 'slope' in prelu_param")
    }
}
