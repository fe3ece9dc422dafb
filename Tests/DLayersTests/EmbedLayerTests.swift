import DCore
@testable import DLayers
import Testing

@Suite struct EmbedLayerTests {
    static let yaml = "{name: embed, type: Embed, bottom: x, top: y, embed_param: {num_output: 2, input_dim: 4}}"

    @Test func forwardAndBackwardByHand() throws {
        // W [4, 2] = rows [0, 1], [2, 3], [4, 5], [6, 7]; b = [0.5, −1]; indices [2, 0, 2].
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3]), [2, 0, 2])])
        rig.params[0].view.copy(from: (0..<8).map(Float.init))
        rig.params[1].view.copy(from: [0.5, -1])
        #expect(rig.params[0].shape == Shape([4, 2]))
        #expect(rig.tops[0].shape == Shape([3, 2]))
        // rows 2, 0, 2 plus b: [4.5, 4], [0.5, 0], [4.5, 4]
        #expect(try rig.forward()[0] == [4.5, 4, 0.5, 0, 4.5, 4])
        rig.backward(topGrad: [[1, 2, 3, 4, 5, 6]])
        // dW row 2 = [1 + 5, 2 + 6], row 0 = [3, 4], rows 1 and 3 untouched; db = Σ rows = [9, 12]
        #expect(rig.paramGrads[0].values == [3, 4, 0, 0, 6, 8, 0, 0])
        #expect(rig.paramGrads[1].values == [9, 12])
    }

    @Test func topAddsAnAxis() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3]), [0, 1, 2, 3, 2, 1])])
        #expect(rig.tops[0].shape == Shape([2, 3, 2]))
        let w = rig.params[0].values, y = try rig.forward()[0]
        // bias 0 by default: row 3 of W at position 3
        #expect(Array(y[6..<8]) == Array(w[6..<8]))
    }

    /// Weight and bias, with indices repeating (rows accumulate) and a row never picked.
    @Test func gradients() throws {
        let layer = try makeLayer("{name: embed, type: Embed, bottom: x, top: y, embed_param: {num_output: 3, input_dim: 5}}")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 3]), [1, 3, 1, 0, 2, 3])])
        #expect(!layer.propagates(toBottom: 0))
        #expect(try checkGradients(rig, checkBottoms: []) == 15 + 3)
    }

    @Test func withoutBias() throws {
        let layer = try makeLayer("{name: embed, type: Embed, bottom: x, top: y, embed_param: {num_output: 3, input_dim: 5, bias_term: false}}")
        let rig = try LayerRig(layer, bottoms: [(Shape([4]), [4, 0, 4, 2])])
        #expect(rig.params.count == 1)
        #expect(try checkGradients(rig, checkBottoms: []) == 15)
    }

    /// Parameter gradients add to what they hold (iter_size, shared parameters).
    @Test func gradientsAddOn() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3]), [2, 0, 2])])
        try rig.forward()
        rig.topGrads[0].view.copy(from: [1, 2, 3, 4, 5, 6])
        rig.paramGrads[0].view.fill(1)
        rig.paramGrads[1].view.copy(from: [-9, -12])
        rig.layer.backward(rig.io(), rig.step)
        #expect(rig.paramGrads[0].values == [4, 5, 1, 1, 7, 9, 1, 1])
        #expect(rig.paramGrads[1].values == [0, 0])
    }

    @Test(arguments: [(Float(4), "4"), (-1, "-1"), (1.5, "1.5"), (.nan, "nan"), (1e20, "1e+20")])
    func anIndexOutsideTheTableIsAnError(_ value: Float, _ shown: String) throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3]), [0, value, 1])])
        let e = #expect(throws: LayerError.self) { try rig.forward() }
        #expect(e?.message == "index \(shown) at position 1 of the bottom (shape 3) is not a whole number in 0..<4")
        #expect(e?.hint?.contains("input_dim (4) must exceed the largest index") == true)
    }

    @Test func flops() throws {
        // 6 indices × 3 outputs: the bias adds forward; row and bias sums backward.
        let layer = try makeLayer("{name: embed, type: Embed, embed_param: {num_output: 3, input_dim: 5}}")
        #expect(layer.flops(for: [Shape([2, 3])]) == (18, 36))
        #expect(layer.inputGradientFlops(for: [Shape([2, 3])]) == 0)
    }

    @Test func configErrors() {
        #expect(layerError("{name: embed, type: Embed, embed_param: {num_output: 2}}")
                == "layer 'embed' (Embed): missing required key 'embed_param.input_dim'")
        #expect(layerError("{name: embed, type: Embed, embed_param: {input_dim: 2}}")
                == "layer 'embed' (Embed): missing required key 'embed_param.num_output'")
        #expect(layerError("{name: embed, type: Embed, embed_param: {num_output: 2, input_dim: 0}}")
                == "layer 'embed' (Embed): embed_param.input_dim: must be at least 1, found 0")
        #expect(layerError("{name: embed, type: Embed, embed_param: {num_output: 2, input_dim: 3, axis: 1}}")
                == "layer 'embed' (Embed): unknown key 'axis' in embed_param")
    }
}
