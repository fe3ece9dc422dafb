import DCore
@testable import DLayers
import Testing

@Suite struct InnerProductLayerTests {
    static let yaml = "{name: ip, type: InnerProduct, bottom: x, top: y, inner_product_param: {num_output: 2}}"

    @Test func forwardByHand() throws {
        // x [2, 3], W [2, 3], b [2]: y[n, o] = Σ_k x[n, k]·W[o, k] + b[o]
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3]), [1, 2, 3, -1, 0, 2])])
        rig.params[0].view.copy(from: [1, 0, -1, 0.5, 0.5, 0.5])
        rig.params[1].view.copy(from: [0.1, -0.2])
        let y = try rig.forward()[0]
        // row 0: 1 − 3 + 0.1 = −1.9;  0.5·(1+2+3) − 0.2 = 2.8
        // row 1: −1 − 2 + 0.1 = −2.9;  0.5·(−1+0+2) − 0.2 = 0.3
        #expect(rig.tops[0].shape == Shape([2, 2]))
        #expect(close(y, [-1.9, 2.8, -2.9, 0.3]))
    }

    @Test func flattensFromAxis() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 1, 2, 2]), randomValues(8))])
        #expect(rig.tops[0].shape == Shape([2, 2]))
        #expect(rig.params[0].shape == Shape([2, 4]))
    }

    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 4]), randomValues(12))])
        #expect(try checkGradients(rig) == 12 + 8 + 2)
        try checkAccumulation(rig)
    }

    @Test func transposedWeightGradients() throws {
        let layer = try makeLayer("{name: ip, type: InnerProduct, bottom: x, top: y, inner_product_param: {num_output: 3, transpose: true}}")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 4]), randomValues(8))])
        #expect(rig.params[0].shape == Shape([4, 3]))
        #expect(try checkGradients(rig) == 8 + 12 + 3)
    }

    @Test func gemmShapes() throws {
        // x [3, 4] → 5 outputs. Forward y = x·Wᵀ, [3, 4]·[4, 5] with W [5, 4] read transposed;
        // dW = dyᵀ·x [5, 3]·[3, 4]; dx = dy·W [3, 5]·[5, 4].
        let plain = try makeLayer("{name: ip, type: InnerProduct, bottom: x, top: y, inner_product_param: {num_output: 5}}")
        let g = plain.gemms(for: [Shape([3, 4])])
        #expect(g.forward == [GEMMShape(m: 3, n: 5, k: 4, transB: true)])
        #expect(g.backward == [GEMMShape(m: 5, n: 4, k: 3, transA: true)])
        #expect(g.inputGradient == [GEMMShape(m: 3, n: 4, k: 5)])
        let f = plain.flops(for: [Shape([3, 4])])
        #expect(g.flops.forward == f.forward && g.flops.backward + g.flops.inputGradient == f.backward)
        #expect(g.flops.inputGradient == plain.inputGradientFlops(for: [Shape([3, 4])]))
        // With transpose, W is [4, 5]: y = x·W, dW = xᵀ·dy [4, 3]·[3, 5], dx = dy·Wᵀ.
        let transposed = try makeLayer("{name: ip, type: InnerProduct, bottom: x, top: y, inner_product_param: {num_output: 5, transpose: true}}")
        let t = transposed.gemms(for: [Shape([3, 4])])
        #expect(t.forward == [GEMMShape(m: 3, n: 5, k: 4)])
        #expect(t.backward == [GEMMShape(m: 4, n: 5, k: 3, transA: true)])
        #expect(t.inputGradient == [GEMMShape(m: 3, n: 4, k: 5, transB: true)])
    }

    @Test func withoutBias() throws {
        let layer = try makeLayer("{name: ip, type: InnerProduct, bottom: x, top: y, inner_product_param: {num_output: 2, bias_term: false}}")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 3]), randomValues(6))])
        #expect(rig.params.count == 1)
        try checkGradients(rig)
    }

    @Test func missingNumOutput() {
        #expect(layerError("{name: ip, type: InnerProduct, inner_product_param: {}}")
                == "layer 'ip' (InnerProduct): missing required key 'inner_product_param.num_output'")
    }
}
