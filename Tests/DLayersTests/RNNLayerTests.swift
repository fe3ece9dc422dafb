import DCore
@testable import DLayers
import Testing

@Suite struct RNNLayerTests {
    static func yaml(_ h: Int, _ extra: String = "") -> String {
        "{name: rnn, type: RNN, bottom: [x, cont], top: o, recurrent_param: {num_output: \(h)\(extra)}}"
    }

    /// Parameters in Caffe's order: W_xh, b_h, [W_xh_static], W_hh, W_ho, b_o.
    static func suffixes(_ layer: any Layer, _ bottoms: [Shape]) -> [String] { layer.parameters(for: bottoms).map(\.suffix) }

    @Test func parametersInCaffesOrder() throws {
        let layer = try makeLayer(Self.yaml(4))
        let shapes = [Shape([5, 2, 3, 2]), Shape([5, 2])]
        #expect(Self.suffixes(layer, shapes) == ["W_xh", "b_h", "W_hh", "W_ho", "b_o"])
        #expect(layer.parameters(for: shapes).map(\.shape) == [Shape([4, 6]), Shape([4]), Shape([4, 4]), Shape([4, 4]), Shape([4])])
        #expect(try layer.topShapes(for: shapes) == [Shape([5, 2, 4])])
        let withStatic = shapes + [Shape([2, 7])]
        #expect(Self.suffixes(layer, withStatic) == ["W_xh", "b_h", "W_xh_static", "W_hh", "W_ho", "b_o"])
        #expect(layer.parameters(for: withStatic)[2].shape == Shape([4, 7]))
        #expect(!layer.propagates(toBottom: 1) && layer.propagates(toBottom: 0) && layer.propagates(toBottom: 2))
        let exposed = try makeLayer(Self.yaml(4, ", expose_hidden: true"))
        #expect(exposed.bottomCount == 3...4 && exposed.topCount == 2...2)
        #expect(try exposed.topShapes(for: shapes + [Shape([1, 2, 4])]) == [Shape([5, 2, 4]), Shape([1, 2, 4])])
        #expect(Self.suffixes(exposed, shapes + [Shape([1, 2, 4])]) == ["W_xh", "b_h", "W_hh", "W_ho", "b_o"])
    }

    @Test func forwardByHand() throws {
        // T 2, N 1, I 1, H 2. W_xh [[1], [−1]], b_h [0, 0.5], W_hh [[0.5, −1], [1, 0.25]],
        // W_ho [[1, 1], [0, −2]], b_o [0.1, 0]; x = [1, 2], cont = [0, 1].
        // t1: pre = W_xh·1 + b_h = [1, −0.5] (h_0 gated away), h_1 = [0.761594, −0.462117];
        //     W_ho·h_1 + b_o = [0.399477, 0.924234], o_1 = [0.379501, 0.727894].
        // t2: pre = W_xh·2 + b_h + W_hh·h_1 = [2 + 0.380797 + 0.462117, −1.5 + 0.761594 − 0.115529]
        //     = [2.842914, −0.853935], h_2 = [0.993236, −0.693120];
        //     W_ho·h_2 + b_o = [0.400116, 1.386239], o_2 = [0.380048, 0.882341].
        let rig = try LayerRig(try makeLayer(Self.yaml(2)), bottoms: [(Shape([2, 1, 1]), [1, 2]), (Shape([2, 1]), [0, 1])])
        for (p, v) in zip(rig.params, [[1, -1], [0, 0.5], [0.5, -1, 1, 0.25], [1, 1, 0, -2], [0.1, 0]] as [[Float]]) { p.view.copy(from: v) }
        let o = try rig.forward()[0]
        #expect(rig.tops[0].shape == Shape([2, 1, 2]))
        #expect(close(o, [0.379501, 0.727894, 0.380048, 0.882341]), "\(o)")
        // The state carried to the next forward is h_2.
        #expect(close(rig.work[5].values, [0.993236, -0.693120]), "\(rig.work[5].values)")
        // Without the reset (cont_1 = 1) the carried h_2 enters step 1:
        // pre = [1, −0.5] + W_hh·h_2 = [1 + 0.496618 + 0.693120, −0.5 + 0.993236 − 0.173280]
        // = [2.189738, 0.319956], h_1 = [0.975246, 0.309467].
        rig.bottoms[1].view.copy(from: [1, 1])
        try rig.forward()
        #expect(close(Array(rig.work[0].values[2..<4]), [0.975246, 0.309467]), "\(rig.work[0].values)")
    }

    /// T 3, N 2, I 3, H 2; stream 1 starts a new sequence at t = 1 (cont 0 mid-sequence) and
    /// both start at t = 0, so the carried state never enters and forwards repeat.
    static let cont: [Float] = [0, 0, 1, 0, 1, 1]

    @Test func gradientsThroughTime() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml(2)), bottoms: [(Shape([3, 2, 3]), randomValues(18)), (Shape([3, 2]), Self.cont)])
        // x, then W_xh 6, b_h 2, W_hh 4, W_ho 4, b_o 2
        #expect(try checkGradients(rig, checkBottoms: [0]) == 18 + 6 + 2 + 4 + 4 + 2)
        try checkAccumulation(rig)
    }

    /// A cont that is neither 0 nor 1 scales h_{t−1} (Caffe multiplies); x flattened from axis 2.
    @Test func gradientsWithAFractionalContAndWiderInput() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml(3)), bottoms: [(Shape([3, 2, 2, 2]), randomValues(24, seed: 4)),
                                                                       (Shape([3, 2]), [0, 0, 0.5, 1, 1, 0])])
        #expect(try checkGradients(rig, checkBottoms: [0]) == 24 + 12 + 3 + 9 + 9 + 3)
    }

    @Test func exposedHiddenStateGradients() throws {
        // cont 1 at t = 0: h_0 enters; stream 0 restarts at t = 2.
        let layer = try makeLayer("{name: rnn, type: RNN, bottom: [x, cont, h0], top: [o, hT], recurrent_param: {num_output: 2, expose_hidden: true}}")
        let rig = try LayerRig(layer, bottoms: [(Shape([3, 2, 3]), randomValues(18)), (Shape([3, 2]), [1, 1, 1, 0, 0, 1]),
                                                (Shape([1, 2, 2]), randomValues(4, seed: 8))])
        #expect(rig.work.count == 5)  // no carried state
        try rig.forward()
        #expect(rig.tops[1].values == Array(rig.work[0].values[12..<16]))  // h_T = h_3
        // x, h0, then the parameters; both tops weigh in the objective.
        #expect(try checkGradients(rig, checkBottoms: [0, 2]) == 18 + 4 + 18)
        try checkAccumulation(rig)
    }

    @Test func staticInputGradients() throws {
        let layer = try makeLayer("{name: rnn, type: RNN, bottom: [x, cont, xs], top: o, recurrent_param: {num_output: 2}}")
        let rig = try LayerRig(layer, bottoms: [(Shape([3, 2, 3]), randomValues(18)), (Shape([3, 2]), Self.cont),
                                                (Shape([2, 2, 2]), randomValues(8, seed: 9))])
        #expect(rig.params[2].shape == Shape([2, 4]))  // W_xh_static [H, S]
        #expect(try checkGradients(rig, checkBottoms: [0, 2]) == 18 + 8 + 6 + 2 + 8 + 4 + 4 + 2)
        try checkAccumulation(rig)
    }

    @Test func staticInputAndExposedHiddenGradients() throws {
        let layer = try makeLayer("{name: rnn, type: RNN, bottom: [x, cont, xs, h0], top: [o, hT], recurrent_param: {num_output: 2, expose_hidden: true}}")
        let rig = try LayerRig(layer, bottoms: [(Shape([3, 2, 3]), randomValues(18)), (Shape([3, 2]), [1, 1, 0, 1, 1, 1]),
                                                (Shape([2, 3]), randomValues(6, seed: 9)), (Shape([1, 2, 2]), randomValues(4, seed: 8))])
        #expect(try checkGradients(rig, checkBottoms: [0, 2, 3]) == 18 + 6 + 4 + 6 + 2 + 6 + 4 + 4 + 2)
        try checkAccumulation(rig)
    }

    /// Two forwards of T steps, the second continuing (cont 1 at its first step), give what one
    /// forward over the 2T steps gives: the carried h_T is the next batch's h_0.
    @Test func carriedStateContinuesTheSequence() throws {
        let x = randomValues(4 * 2 * 3, seed: 21)
        let whole = try LayerRig(try makeLayer(Self.yaml(3)), bottoms: [(Shape([4, 2, 3]), x), (Shape([4, 2]), [0, 0, 1, 1, 1, 0, 1, 1])])
        let expected = try whole.forward()[0]
        let halves = try LayerRig(try makeLayer(Self.yaml(3)), bottoms: [(Shape([2, 2, 3]), Array(x[..<12])), (Shape([2, 2]), [0, 0, 1, 1])])
        for (p, q) in zip(halves.params, whole.params) { p.view.copy(from: q.view) }
        let first = try halves.forward()[0]
        halves.bottoms[0].view.copy(from: Array(x[12...]))
        halves.bottoms[1].view.copy(from: [1, 0, 1, 1])
        let second = try halves.forward()[0]
        #expect(close(first + second, expected), "\(first + second) vs \(expected)")
        // cont 0 at a batch's first step ignores what was carried: as a fresh layer.
        halves.bottoms[1].view.copy(from: [0, 0, 1, 1])
        let restarted = try halves.forward()[0]
        let fresh = try LayerRig(try makeLayer(Self.yaml(3)), bottoms: [(Shape([2, 2, 3]), Array(x[12...])), (Shape([2, 2]), [0, 0, 1, 1])])
        for (p, q) in zip(fresh.params, whole.params) { p.view.copy(from: q.view) }
        #expect(close(restarted, try fresh.forward()[0]))
    }

    @Test func testPhaseGivesTheSameOutputs() throws {
        let bottoms = [(Shape([3, 2, 3]), randomValues(18)), (Shape([3, 2]), Self.cont)]
        let train = try LayerRig(try makeLayer(Self.yaml(2)), bottoms: bottoms)
        let test = try LayerRig(try makeLayer(Self.yaml(2), phase: .test), bottoms: bottoms, phase: .test)
        #expect(test.layer.workspace(for: bottoms.map(\.0), phase: .test, threads: 1).map(\.lifetime)
                == [.scratch, .scratch, .scratch, .scratch, .scratch, .persistent])
        #expect(try train.forward() == test.forward())
    }

    @Test func flops() throws {
        // T 5, N 2, I 6, H 4, S 7: forward 2·10·4·(6 + 2·4) + 2·2·7·4 = 1232, backward twice that.
        let layer = try makeLayer(Self.yaml(4))
        let shapes = [Shape([5, 2, 6]), Shape([5, 2]), Shape([2, 7])]
        #expect(layer.flops(for: shapes) == (1232, 2464))
        // dx: 2·10·6·4 = 480, dx_static: 2·2·7·4 = 112
        #expect(layer.inputGradientFlops(for: shapes) == 592)
        // The same counts from the products themselves: dx [10, 4]·[4, 6] and dx_static [2, 4]·[4, 7].
        let g = layer.gemms(for: shapes)
        #expect(g.flops.forward == 1232 && g.flops.backward + g.flops.inputGradient == 2464)
        #expect(g.inputGradient == [GEMMShape(m: 10, n: 6, k: 4), GEMMShape(m: 2, n: 7, k: 4)])
    }

    @Test func shapeErrors() throws {
        let layer = try makeLayer(Self.yaml(2))
        let cont = #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([3, 2, 4]), Shape([3])]) }
        #expect(cont?.message == "cont (bottom 1) has shape 3; it must be T×N = 3×2, one flag per step and stream of x (3×2×4)")
        let x = #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([6]), Shape([6])]) }
        #expect(x?.message == "x (bottom 0) has shape 6; it needs axes [T, N, …]: time steps, then streams")
        let xs = #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([3, 2, 4]), Shape([3, 2]), Shape([3, 5])]) }
        #expect(xs?.message == "x_static (bottom 2) has shape 3×5; it must be [N, …] with N = 2, the streams of x (3×2×4)")
        let exposed = try makeLayer(Self.yaml(2, ", expose_hidden: true"))
        let h0 = #expect(throws: LayerError.self) { try exposed.topShapes(for: [Shape([3, 2, 4]), Shape([3, 2]), Shape([2, 2])]) }
        #expect(h0?.message == "h_0 (bottom 2) has shape 2×2; with expose_hidden it must be 1×N×H = 1×2×2")
    }

    @Test func configErrors() {
        #expect(layerError("{name: rnn, type: RNN, recurrent_param: {}}")
                == "layer 'rnn' (RNN): missing required key 'recurrent_param.num_output'")
        #expect(layerError("{name: rnn, type: RNN, recurrent_param: {num_output: 0}}")
                == "layer 'rnn' (RNN): recurrent_param.num_output: must be at least 1, found 0")
        #expect(layerError("{name: rnn, type: RNN, recurrent_param: {num_output: 2, expose_hiden: true}}")
                == "layer 'rnn' (RNN): unknown key 'expose_hiden' in recurrent_param")
        // Caffe's debug_info is accepted (and has nothing to print here).
        #expect(layerError("{name: rnn, type: RNN, recurrent_param: {num_output: 2, debug_info: true}}") == nil)
    }
}
