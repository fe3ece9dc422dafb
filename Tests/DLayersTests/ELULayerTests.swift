import DCore
@testable import DLayers
import Testing

@Suite struct ELULayerTests {
    static let yaml = "{name: elu, type: ELU, bottom: x, top: y}"
    static func elu(_ alpha: String) throws -> any Layer {
        try makeLayer("{name: elu, type: ELU, bottom: x, top: y, elu_param: {alpha: \(alpha)}}")
    }
    static let x: [Float] = [-2, -0.5, 0, 0.5, 3, -1]

    @Test func forwardByHand() throws {
        // α = 1: y = x for x > 0, else eˣ − 1:  e⁻² − 1 = −0.8646647,  e^−0.5 − 1 = −0.3934693,  e⁰ − 1 = 0,  e⁻¹ − 1 = −0.6321206
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3]), Self.x)])
        #expect(rig.tops[0].shape == Shape([2, 3]))
        #expect(close(try rig.forward()[0], [-0.8646647, -0.3934693, 0, 0.5, 3, -0.6321206]))
        // dx = dy for x > 0, else dy·eˣ:  1·0.1353353,  2·0.6065307 = 1.2130613,  3·e⁰ = 3,  4,  5,  6·0.3678794 = 2.2072766
        rig.backward(topGrad: [[1, 2, 3, 4, 5, 6]])
        #expect(close(rig.bottomGrads[0].values, [0.1353353, 1.2130613, 3, 4, 5, 2.2072766]))
    }

    @Test func alphaByHand() throws {
        // α = 0.5: 0.5·(eˣ − 1) = −0.4323324, −0.1967347, 0, —, —, −0.3160603
        let rig = try LayerRig(try Self.elu("0.5"), bottoms: [(Shape([6]), Self.x)])
        #expect(close(try rig.forward()[0], [-0.4323324, -0.1967347, 0, 0.5, 3, -0.3160603]))
        // dx = dy·0.5·eˣ for x ≤ 0: 0.0676676, 2·0.3032653 = 0.6065307, 3·0.5 = 1.5, 4, 5, 6·0.1839397 = 1.1036383
        rig.backward(topGrad: [[1, 2, 3, 4, 5, 6]])
        #expect(close(rig.bottomGrads[0].values, [0.0676676, 0.6065307, 1.5, 4, 5, 1.1036383]))
    }

    // α ≠ 1 has a kink at 0; distinctValues keeps every input at least 0.05 from it.
    @Test(arguments: ["1", "0.5", "2"]) func gradients(_ alpha: String) throws {
        let rig = try LayerRig(try Self.elu(alpha), bottoms: [(Shape([2, 3, 4]), distinctValues(24, scale: 3))])
        #expect(try checkGradients(rig) == 24)
        try checkAccumulation(rig)
    }

    @Test func negativeAlphaReadsTheBottom() throws {
        // α < 0 makes y positive for x < 0 too, so the sign of y no longer tells x > 0.
        let layer = try Self.elu("-0.5")
        #expect(!layer.supportsInPlace)
        let rig = try LayerRig(layer, bottoms: [(Shape([3, 5]), distinctValues(15, seed: 4, scale: 2))])
        #expect(try checkGradients(rig) == 15)
        try checkAccumulation(rig)
    }

    @Test(arguments: ["1", "0.5", "0"]) func inPlaceMatchesOutOfPlace(_ alpha: String) throws {
        #expect(try Self.elu(alpha).supportsInPlace)
        let x = distinctValues(24, seed: 6, scale: 3), dy = randomValues(24, seed: 12)
        let out = try LayerRig(try Self.elu(alpha), bottoms: [(Shape([2, 3, 4]), x)])
        let inPlace = try LayerRig(try Self.elu(alpha), bottoms: [(Shape([2, 3, 4]), x)], inPlace: true)
        #expect(inPlace.tops[0].view.base == inPlace.bottoms[0].view.base)
        let y = try out.forward()[0]
        #expect(try inPlace.forward()[0] == y)
        out.backward(topGrad: [dy])
        inPlace.backward(topGrad: [dy])
        #expect(inPlace.bottomGrads[0].values == out.bottomGrads[0].values)
    }

    @Test func inPlaceGradients() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([12]), distinctValues(12, seed: 8, scale: 2))], inPlace: true)
        #expect(try checkGradients(rig) == 12)
    }

    @Test func configErrors() {
        #expect(layerError("{name: elu, type: ELU, elu_param: {alfa: 1}}")
                == "layer 'elu' (ELU): unknown key 'alfa' in elu_param")
        #expect(layerError("{name: elu, type: ELU, elu_param: {alpha: big}}")
                == "layer 'elu' (ELU): elu_param.alpha: expected a number, found 'big'")
    }

    @Test func flopsPerElement() throws {
        // 2·3·4 = 24 elements; forward a comparison, expm1 and a multiply (3 each), backward a comparison,
        // an add and a multiply (3 each).
        let layer = try makeLayer("{name: elu, type: ELU, bottom: x, top: y}")
        #expect(layer.flops(for: [Shape([2, 3, 4])]) == (72, 72))
    }
}
