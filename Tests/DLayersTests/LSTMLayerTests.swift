import DCore
@testable import DLayers
import Testing

@Suite struct LSTMLayerTests {
    static func yaml(_ h: Int, expose: Bool = false) -> String {
        "{name: lstm, type: LSTM, bottom: [x, cont], top: h, recurrent_param: {num_output: \(h), expose_hidden: \(expose)}}"
    }

    @Test func forwardByHand() throws {
        // T = 2, N = 1, I = 1, H = 1. Gate order i, f, o, g; W_xc [4, 1], b_c [4], W_hc [4, 1].
        let rig = try LayerRig(try makeLayer(Self.yaml(1)), bottoms: [(Shape([2, 1, 1]), [0.5, -1]), (Shape([2, 1]), [0, 1])])
        #expect(rig.params.map(\.shape) == [Shape([4, 1]), Shape([4]), Shape([4, 1])])
        rig.params[0].view.copy(from: [1, 2, -1, 0.5])
        rig.params[1].view.copy(from: [0, -1, 0.5, 0.2])
        rig.params[2].view.copy(from: [0.3, -0.4, 0.8, 1.0])
        let h = try rig.forward()[0]
        // t = 0 (cont 0, h_{-1} = c_{-1} = 0): pre-activations [0.5, 0, 0, 0.45]
        //   i = σ(0.5) = 0.622459, f = o = 0.5, g = tanh(0.45) = 0.421899
        //   c0 = i·g = 0.262615, h0 = 0.5·tanh(c0) = 0.128370
        // t = 1 (cont 1): pre = W_xc·(−1) + b_c + W_hc·h0 = [−0.961489, −3.051348, 1.602696, −0.171630]
        //   i = 0.276580, f = 0.045159, o = 0.832395, g = −0.169965
        //   c1 = f·c0 + i·g = −0.035149, h1 = o·tanh(c1) = −0.029246
        #expect(rig.tops[0].shape == Shape([2, 1, 1]))
        #expect(close(h, [0.1283699, -0.0292461], tolerance: 1e-5))
    }

    /// cont 0 in the middle of stream 0 (t = 2); the carried state does not matter since cont is
    /// 0 at t = 0 for every stream.
    @Test func gradientsThroughTime() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml(2)),
                               bottoms: [(Shape([3, 2, 3]), randomValues(18)), (Shape([3, 2]), [0, 0, 1, 1, 0, 1])], seed: 4)
        rig.params[1].view.copy(from: randomValues(8, seed: 5, scale: 0.5))
        #expect(try checkGradients(rig, checkBottoms: [0]) == 18 + 24 + 8 + 16)
        try checkAccumulation(rig)
    }

    @Test func exposedHiddenGradients() throws {
        let yaml = "{name: lstm, type: LSTM, bottom: [x, cont, h0, c0], top: [h, hT, cT], recurrent_param: {num_output: 2, expose_hidden: true}}"
        let rig = try LayerRig(try makeLayer(yaml), bottoms: [
            (Shape([3, 2, 3]), randomValues(18)), (Shape([3, 2]), [1, 1, 1, 0, 1, 1]),
            (Shape([1, 2, 2]), randomValues(4, seed: 12)), (Shape([1, 2, 2]), randomValues(4, seed: 13))])
        #expect(rig.tops.map(\.shape) == [Shape([3, 2, 2]), Shape([1, 2, 2]), Shape([1, 2, 2])])
        #expect(try checkGradients(rig, checkBottoms: [0, 2, 3]) == 18 + 4 + 4 + 24 + 8 + 16)
        // hT and cT are the last step's h and c.
        #expect(Array(rig.tops[0].values[8...]) == rig.tops[1].values)
    }

    @Test func staticInputGradients() throws {
        let yaml = "{name: lstm, type: LSTM, bottom: [x, cont, xs], top: h, recurrent_param: {num_output: 2}}"
        let rig = try LayerRig(try makeLayer(yaml), bottoms: [
            (Shape([3, 2, 3]), randomValues(18)), (Shape([3, 2]), [0, 0, 1, 1, 0, 1]), (Shape([2, 2]), randomValues(4, seed: 21))])
        #expect(rig.params.map(\.shape) == [Shape([8, 3]), Shape([8]), Shape([8, 2]), Shape([8, 2])])
        #expect(try checkGradients(rig, checkBottoms: [0, 2]) == 18 + 4 + 24 + 8 + 16 + 16)
    }

    /// Two forwards of T = 2 carry h and c: they equal one forward over the T = 4 sequence.
    @Test func carriesStateAcrossForwards() throws {
        let x = randomValues(4 * 2 * 3, seed: 31)
        let cont: [Float] = [0, 0, 1, 1, 1, 1, 1, 1]
        let whole = try LayerRig(try makeLayer(Self.yaml(2)), bottoms: [(Shape([4, 2, 3]), x), (Shape([4, 2]), cont)])
        let halves = try LayerRig(try makeLayer(Self.yaml(2)), bottoms: [(Shape([2, 2, 3]), Array(x[..<12])), (Shape([2, 2]), Array(cont[..<4]))])
        for (p, q) in zip(halves.params, whole.params) { p.view.copy(from: q.view) }
        let expected = try whole.forward()[0]
        let first = try halves.forward()[0]
        halves.bottoms[0].view.copy(from: Array(x[12...]))
        halves.bottoms[1].view.copy(from: Array(cont[4...]))
        let second = try halves.forward()[0]
        #expect(close(first + second, expected, tolerance: 1e-6))
    }

    /// cont 0 at the second batch's first step starts afresh: the same as a layer that never ran.
    @Test func contZeroResetsCarriedState() throws {
        let x1 = randomValues(12, seed: 41), x2 = randomValues(12, seed: 42)
        let cont: [Float] = [0, 0, 1, 1]
        let carried = try LayerRig(try makeLayer(Self.yaml(2)), bottoms: [(Shape([2, 2, 3]), x1), (Shape([2, 2]), cont)])
        let fresh = try LayerRig(try makeLayer(Self.yaml(2)), bottoms: [(Shape([2, 2, 3]), x2), (Shape([2, 2]), cont)])
        for (p, q) in zip(carried.params, fresh.params) { p.view.copy(from: q.view) }
        try carried.forward()
        carried.bottoms[0].view.copy(from: x2)
        let afterReset = try carried.forward()[0]
        #expect(afterReset == (try fresh.forward()[0]))
        // And with cont 1 there, the state does carry: the outputs differ.
        try carried.forward()
        carried.bottoms[1].view.copy(from: [1, 1, 1, 1])
        #expect(try carried.forward()[0] != (try fresh.forward()[0]))
    }

    @Test func flopCounts() throws {
        let layer = try makeLayer(Self.yaml(4))
        let shapes = [Shape([5, 3, 2]), Shape([5, 3])]
        // GEMMs: 2·T·N·4H·(I + H) = 2·15·16·6 = 2880; element-wise 16·T·N·H = 960, 24·60 = 1440.
        let f = layer.flops(for: shapes)
        #expect(f.forward == 2880 + 960)
        #expect(f.backward == 2 * 2880 + 1440)
        #expect(layer.inputGradientFlops(for: shapes) == 2 * 15 * 16 * 2)
        // The GEMM terms again, as products: x's projection [15, 2]·[2, 16] and its two
        // gradients; per step [3, 4]·[4, 16] forward and [3, 16]·[16, 4] backward; dW_hc once.
        let g = layer.gemms(for: shapes)
        #expect(g.flops.forward == 2880 && g.flops.backward + g.flops.inputGradient == 2 * 2880)
        #expect(g.flops.inputGradient == layer.inputGradientFlops(for: shapes))
        #expect(g.forward.filter { $0 == GEMMShape(m: 3, n: 16, k: 4, transB: true) }.count == 5)
        #expect(g.backward.filter { $0 == GEMMShape(m: 3, n: 4, k: 16) }.count == 5)
        #expect(g.inputGradient == [GEMMShape(m: 15, n: 2, k: 16)])
        #expect(!layer.propagates(toBottom: 1))
    }

    @Test func shapeErrors() throws {
        let layer = try makeLayer(Self.yaml(2))
        #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([3, 2, 4]), Shape([3, 1])]) }
        #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([3]), Shape([3, 1])]) }
        #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([3, 2, 4]), Shape([3, 2]), Shape([3, 5])]) }
        let exposed = try makeLayer("{name: lstm, type: LSTM, bottom: [x, cont, h0, c0], top: [h, hT, cT], recurrent_param: {num_output: 2, expose_hidden: true}}")
        #expect(throws: LayerError.self) { try exposed.topShapes(for: [Shape([3, 2, 4]), Shape([3, 2]), Shape([1, 2, 3]), Shape([1, 2, 2])]) }
        #expect(layerError("{name: lstm, type: LSTM, recurrent_param: {}}")
                == "layer 'lstm' (LSTM): missing required key 'recurrent_param.num_output'")
        #expect(layerError("{name: lstm, type: LSTM, recurrent_param: {num_output: 2, clip: 1}}") != nil)
    }
}
