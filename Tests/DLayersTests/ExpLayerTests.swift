import DCore
@testable import DLayers
import Testing

@Suite struct ExpLayerTests {
    static let yaml = "{name: exp, type: Exp, bottom: x, top: y}"
    static let base2 = "{name: exp, type: Exp, bottom: x, top: y, exp_param: {base: 2, scale: 3, shift: -1}}"

    @Test func naturalByHand() throws {
        // eˣ: 1, e = 2.7182817, e⁻² = 0.1353353;  dx = dy·y
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3]), [0, 1, -2])])
        #expect(close(try rig.forward()[0], [1, 2.7182817, 0.1353353]))
        rig.backward(topGrad: [[1, 2, 3]])
        #expect(close(rig.bottomGrads[0].values, [1, 5.4365635, 0.4060058]))
    }

    @Test func baseScaleShiftByHand() throws {
        // 2^(3x − 1): exponents −1, 2, −4, 0.5 → 0.5, 4, 0.0625, √2 = 1.4142135
        let rig = try LayerRig(try makeLayer(Self.base2), bottoms: [(Shape([2, 2]), [0, 1, -1, 0.5])])
        #expect(close(try rig.forward()[0], [0.5, 4, 0.0625, 1.4142135]))
        // dx = dy·y·3·ln 2 = y·2.0794415: 1.0397208, 8.3177662, 0.1299651, 2.9407744
        rig.backward(topGrad: [[1, 1, 1, 1]])
        #expect(close(rig.bottomGrads[0].values, [1.0397208, 8.3177662, 0.1299651, 2.9407744]))
    }

    @Test(arguments: [yaml, base2]) func gradients(_ yaml: String) throws {
        let rig = try LayerRig(try makeLayer(yaml), bottoms: [(Shape([3, 4]), randomValues(12))])
        #expect(try checkGradients(rig) == 12)
        try checkAccumulation(rig)
    }

    @Test(arguments: [yaml, base2]) func inPlaceMatchesOutOfPlace(_ yaml: String) throws {
        #expect(try makeLayer(yaml).supportsInPlace)
        let x = randomValues(12), dy = randomValues(12, seed: 12)
        let out = try LayerRig(try makeLayer(yaml), bottoms: [(Shape([3, 4]), x)])
        let inPlace = try LayerRig(try makeLayer(yaml), bottoms: [(Shape([3, 4]), x)], inPlace: true)
        #expect(inPlace.tops[0].view.base == inPlace.bottoms[0].view.base)
        let y = try out.forward()[0]
        #expect(try inPlace.forward()[0] == y)
        out.backward(topGrad: [dy])
        inPlace.backward(topGrad: [dy])
        #expect(inPlace.bottomGrads[0].values == out.bottomGrads[0].values)
    }

    @Test func configErrors() {
        #expect(layerError("{name: exp, type: Exp, exp_param: {base: -2}}")
                == "layer 'exp' (Exp): exp_param.base: must be positive, or −1 for e; found -2.0")
        #expect(layerError("{name: exp, type: Exp, exp_param: {base: 0}}")
                == "layer 'exp' (Exp): exp_param.base: must be positive, or −1 for e; found 0.0")
        #expect(layerError("{name: exp, type: Exp, exp_param: {power: 2}}")
                == "layer 'exp' (Exp): unknown key 'power' in exp_param")
    }
}
