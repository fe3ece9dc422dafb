import DCore
@testable import DLayers
import Testing

@Suite struct SplitLayerTests {
    static let yaml = "{name: split, type: Split, bottom: x, top: [a, b, c]}"

    @Test func forwardByHand() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 2]), [1, -2, 3, 0.5])])
        #expect(try rig.forward() == [[1, -2, 3, 0.5], [1, -2, 3, 0.5], [1, -2, 3, 0.5]])
        // dx = da + db + dc: 1 + 10 + 100, 2 + 20 + 200, …
        rig.backward(topGrad: [[1, 2, 3, 4], [10, 20, 30, 40], [100, 200, 300, 400]])
        #expect(rig.bottomGrads[0].values == [111, 222, 333, 444])
    }

    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 2]), randomValues(12))])
        #expect(try checkGradients(rig) == 12)
        try checkAccumulation(rig)
    }

    @Test func configErrors() {
        #expect(layerError("{name: split, type: Split, split_param: {}}") == "layer 'split' (Split): unknown key 'split_param'")
    }

    @Test func flopsCountTheGradientAdditions() throws {
        // Three tops of 12 elements: copies forward, two additions per element backward.
        let layer = try makeLayer("{name: s, type: Split, bottom: x, top: [a, b, c]}")
        #expect(layer.flops(for: [Shape([3, 4])]) == (0, 24))
    }
}
