import DCore
@testable import DLayers
import Testing

@Suite struct SoftmaxLayerTests {
    static let yaml = "{name: prob, type: Softmax, bottom: x, top: y}"
    static let ln2: Float = 0.6931472, ln3: Float = 1.0986123, ln4: Float = 1.3862944

    @Test func forwardByHand() throws {
        // row 0: e^(0, ln 2, ln 3) = (1, 2, 3), sum 6 → (1/6, 1/3, 1/2)
        // row 1: equal scores (large, so an unshifted exp would overflow) → 1/3 each
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3]), [0, Self.ln2, Self.ln3, 100, 100, 100])])
        #expect(rig.tops[0].shape == Shape([2, 3]))
        #expect(close(try rig.forward()[0], [1.0 / 6, 1.0 / 3, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3]))
    }

    @Test func backwardByHand() throws {
        // y = (1/6, 1/3, 1/2), dy = (1, 0, 0): Σ dy·y = 1/6, dx = y ⊙ (dy − 1/6) = (5/36, −1/18, −1/12)
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([1, 3]), [0, Self.ln2, Self.ln3])])
        try rig.forward()
        rig.backward(topGrad: [[1, 0, 0]])
        #expect(close(rig.bottomGrads[0].values, [5.0 / 36, -1.0 / 18, -1.0 / 12]))
    }

    @Test func alongChannelsOfEachPosition() throws {
        // x [1, 2, 2] read as [outer 1, channels 2, inner 2]: channel 0 = (0, ln 4), channel 1 = (ln 3, 0).
        // position 0: e^(0, ln 3) = (1, 3) → (1/4, 3/4);  position 1: e^(ln 4, 0) = (4, 1) → (4/5, 1/5)
        // laid out channel-major: (1/4, 4/5, 3/4, 1/5)
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([1, 2, 2]), [0, Self.ln4, Self.ln3, 0])])
        #expect(close(try rig.forward()[0], [0.25, 0.8, 0.75, 0.2]))
    }

    @Test func negativeAxis() throws {
        // axis −1 of [2, 2] is the last: each row sums to one. (0, ln 3) → (1/4, 3/4); (ln 4, 0) → (4/5, 1/5)
        let layer = try makeLayer("{name: prob, type: Softmax, bottom: x, top: y, softmax_param: {axis: -1}}")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 2]), [0, Self.ln3, Self.ln4, 0])])
        #expect(close(try rig.forward()[0], [0.25, 0.75, 0.8, 0.2]))
    }

    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 2]), randomValues(12, scale: 2))])
        #expect(try checkGradients(rig) == 12)
        try checkAccumulation(rig)
    }

    @Test func gradientsAlongAxis0() throws {
        let layer = try makeLayer("{name: prob, type: Softmax, bottom: x, top: y, softmax_param: {axis: 0}}")
        let rig = try LayerRig(layer, bottoms: [(Shape([4, 3]), randomValues(12, seed: 5, scale: 2))])
        #expect(try checkGradients(rig) == 12)
    }

    @Test func configErrors() {
        #expect(layerError("{name: prob, type: Softmax, softmax_param: {axes: 1}}")
                == "layer 'prob' (Softmax): unknown key 'axes' in softmax_param")
        #expect(layerError("{name: prob, type: Softmax, softmax_param: {axis: [1, 2]}}")
                == "layer 'prob' (Softmax): softmax_param.axis: expected an integer, found a list")
    }

    @Test func axisOutOfRange() throws {
        let layer = try makeLayer("{name: prob, type: Softmax, bottom: x, top: y, softmax_param: {axis: 2}}")
        let e = #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([2, 3])]) }
        #expect(e?.message == "axis 2 is out of range for bottom shape 2×3")
    }
}
