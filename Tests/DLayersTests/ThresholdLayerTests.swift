import DCore
@testable import DLayers
import Testing

@Suite struct ThresholdLayerTests {
    static let yaml = "{name: th, type: Threshold, bottom: x, top: y}"
    static let half = "{name: th, type: Threshold, bottom: x, top: y, threshold_param: {threshold: 0.5}}"

    @Test func forwardByHand() throws {
        // x > 0.5 → 1, else 0 (0.5 itself is not above)
        let rig = try LayerRig(try makeLayer(Self.half), bottoms: [(Shape([5]), [0.2, 0.5, 0.7, -1, 2])])
        #expect(try rig.forward()[0] == [0, 0, 1, 0, 1])
        // default threshold 0
        let zero = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3]), [-1, 0, 1e-6])])
        #expect(try zero.forward()[0] == [0, 0, 1])
    }

    @Test func noGradient() throws {
        let layer = try makeLayer(Self.yaml)
        #expect(!layer.propagates(toBottom: 0))
        let rig = try LayerRig(layer, bottoms: [(Shape([3]), [-1, 0, 1])])
        #expect(rig.io().bottomGrads[0] == nil)
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        #expect(try makeLayer(Self.half).supportsInPlace)
        let x = randomValues(12)
        let out = try LayerRig(try makeLayer(Self.half), bottoms: [(Shape([3, 4]), x)])
        let inPlace = try LayerRig(try makeLayer(Self.half), bottoms: [(Shape([3, 4]), x)], inPlace: true)
        #expect(inPlace.tops[0].view.base == inPlace.bottoms[0].view.base)
        #expect(try inPlace.forward()[0] == out.forward()[0])
        #expect(out.tops[0].values.contains(1) && out.tops[0].values.contains(0))
    }

    @Test func configErrors() {
        #expect(layerError("{name: th, type: Threshold, threshold_param: {thresh: 1}}")
                == "layer 'th' (Threshold): unknown key 'thresh' in threshold_param")
        #expect(layerError("{name: th, type: Threshold, threshold_param: {threshold: high}}")
                == "layer 'th' (Threshold): threshold_param.threshold: expected a number, found 'high'")
    }
}
