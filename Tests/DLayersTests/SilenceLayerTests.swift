import DCore
@testable import DLayers
import Testing

@Suite struct SilenceLayerTests {
    @Test func noTopsAndZeroGradients() throws {
        let layer = try makeLayer("{name: s, type: Silence, bottom: [a, b]}")
        #expect(layer.topCount == 0...0)
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 2]), [1, 2, 3, 4]), (Shape([3]), [5, 6, 7])])
        #expect(rig.tops.isEmpty)
        #expect(try rig.forward().isEmpty)
        // Backward writes 0 over whatever the gradients held, as Caffe's does.
        rig.bottomGrads[0].view.fill(9)
        rig.bottomGrads[1].view.fill(9)
        rig.backward(topGrad: [])
        #expect(rig.bottomGrads.map(\.values) == [[0, 0, 0, 0], [0, 0, 0]])
        // Accumulating, it adds nothing.
        #expect(try checkGradients(rig) == 4 + 3)
        try checkAccumulation(rig)
    }

    @Test func configErrors() {
        #expect(layerError("{name: s, type: Silence, silence_param: {}}") == "layer 's' (Silence): unknown key 'silence_param'")
    }
}
