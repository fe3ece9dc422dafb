import DCore
@testable import DLayers
import Foundation
import Testing

@Suite struct LRNLayerTests {
    static func lrn(_ param: String) throws -> any Layer {
        try makeLayer("{name: norm, type: LRN, bottom: x, top: y, lrn_param: {\(param)}}")
    }

    @Test func acrossChannelsByHand() throws {
        // x [1, 3, 1, 2]: pixel 0 has channels (1, 2, 3), pixel 1 has (0, 1, 0). local_size 3, α 3, β 1, k 1:
        // s = 1 + 3/3 · Σ x² over channels c − 1 … c + 1 (those outside 0..<3 count as zero), y = x / s.
        // pixel 0: c0 1 + (1 + 4) = 6 → 1/6;  c1 1 + (1 + 4 + 9) = 15 → 2/15;  c2 1 + (4 + 9) = 14 → 3/14
        // pixel 1: c0 1 + (0 + 1) = 2 → 0;    c1 1 + (0 + 1 + 0) = 2 → 1/2;    c2 1 + (1 + 0) = 2 → 0
        let layer = try Self.lrn("local_size: 3, alpha: 3, beta: 1")
        let rig = try LayerRig(layer, bottoms: [(Shape([1, 3, 1, 2]), [1, 0, 2, 1, 3, 0])])
        #expect(rig.tops[0].shape == Shape([1, 3, 1, 2]))
        let expected: [Float] = [1.0 / 6, 0, 2.0 / 15, 0.5, 3.0 / 14, 0]
        #expect(close(try rig.forward()[0], expected))
    }

    @Test func acrossChannelsDefaults() throws {
        // Defaults local_size 5, α 1, β 0.75, k 1. With three channels the window of every channel holds all three:
        // s = 1 + 1/5 · (1 + 4 + 9) = 3.8 and y = x / 3.8^0.75 (3.8^0.75 = e^(0.75 · ln 3.8) ≈ 2.7217).
        let rig = try LayerRig(try Self.lrn(""), bottoms: [(Shape([1, 3, 1, 1]), [1, 2, 3])])
        let d = Float(pow(3.8, 0.75))
        #expect(abs(d - 2.7217) < 1e-4)
        #expect(close(try rig.forward()[0], [1 / d, 2 / d, 3 / d]))
        // k takes part across channels: k 2 → s = 2 + 2.8 = 4.8.
        let k2 = try LayerRig(try Self.lrn("k: 2"), bottoms: [(Shape([1, 3, 1, 1]), [1, 2, 3])])
        let d2 = Float(pow(4.8, 0.75))
        #expect(close(try k2.forward()[0], [1 / d2, 2 / d2, 3 / d2]))
    }

    @Test func withinChannelByHand() throws {
        // A 3×3 plane of ones, local_size 3, α 9, β 1, WITHIN_CHANNEL: Caffe averages the squares over the
        // 3×3 window with pad 1, dividing by 3·3 = 9 even where the window hangs over the border
        // (padding counts as zeros), so s = 1 + 9 · (ones in the window) / 9:
        // corner 1 + 4 = 5, edge 1 + 6 = 7, centre 1 + 9 = 10, and y = 1 / s.
        // (Dividing by the clipped window instead would give s = 10 everywhere.)
        let layer = try Self.lrn("local_size: 3, alpha: 9, beta: 1, norm_region: WITHIN_CHANNEL")
        let rig = try LayerRig(layer, bottoms: [(Shape([1, 1, 3, 3]), [Float](repeating: 1, count: 9))])
        let y = try rig.forward()[0]
        let corner: Float = 1.0 / 5, edge: Float = 1.0 / 7, centre: Float = 1.0 / 10
        #expect(close(y, [corner, edge, corner,
                          edge, centre, edge,
                          corner, edge, corner]))
    }

    @Test func withinChannelKeepsChannelsApart() throws {
        // Two channels of one pixel, local_size 1, α 1, β 1: s = 1 + x² of the value itself, y = x / (1 + x²):
        // 2 / 5 and −3 / 10. Across channels (local_size 1, k 1) gives the same here: the window is the value.
        let within = try LayerRig(try Self.lrn("local_size: 1, beta: 1, norm_region: WITHIN_CHANNEL"), bottoms: [(Shape([1, 2, 1, 1]), [2, -3])])
        #expect(close(try within.forward()[0], [0.4, -0.3]))
        let across = try LayerRig(try Self.lrn("local_size: 1, beta: 1"), bottoms: [(Shape([1, 2, 1, 1]), [2, -3])])
        #expect(close(try across.forward()[0], [0.4, -0.3]))
    }

    @Test func acrossChannelsGradients() throws {
        // N 2, C 6, 3×2: each channel's window (local_size 3) is cut at both ends of the channel axis.
        let layer = try Self.lrn("local_size: 3, alpha: 2, beta: 0.75, k: 1.5")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 6, 3, 2]), randomValues(72))])
        #expect(try checkGradients(rig) == 72)
        try checkAccumulation(rig)
    }

    @Test func acrossChannelsGradientsWithDefaults() throws {
        // local_size 5 over 4 channels: no window is whole.
        let rig = try LayerRig(try Self.lrn(""), bottoms: [(Shape([3, 4, 2, 2]), randomValues(48, seed: 12, scale: 2))])
        #expect(try checkGradients(rig) == 48)
        try checkAccumulation(rig)
    }

    @Test func withinChannelGradients() throws {
        // N 2, C 2, 4×5, local_size 3: border windows hang over the image.
        let layer = try Self.lrn("local_size: 3, alpha: 4, beta: 0.75, norm_region: WITHIN_CHANNEL")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 2, 4, 5]), randomValues(80, seed: 13))])
        #expect(try checkGradients(rig) == 80)
        try checkAccumulation(rig)
    }

    @Test func withinChannelGradientsWindowLargerThanImage() throws {
        // local_size 5 (pad 2) over a 3×2 image: every window holds the whole plane.
        let layer = try Self.lrn("local_size: 5, alpha: 20, beta: 1.5, norm_region: WITHIN_CHANNEL")
        let rig = try LayerRig(layer, bottoms: [(Shape([1, 3, 3, 2]), randomValues(18, seed: 14))])
        #expect(try checkGradients(rig) == 18)
        try checkAccumulation(rig)
    }

    @Test(arguments: ["local_size: 3, alpha: 2, k: 1.5", "local_size: 3, alpha: 4, norm_region: WITHIN_CHANNEL"])
    func backwardDoesNotReadTheTop(_ param: String) throws {
        // A layer after LRN may work in place on its top; backward reads x and the kept scale only.
        let rig = try LayerRig(try Self.lrn(param), bottoms: [(Shape([2, 4, 3, 3]), randomValues(72, seed: 15))])
        try rig.forward()
        let g = randomValues(72, seed: 16)
        rig.backward(topGrad: [g])
        let dx = rig.bottomGrads[0].values
        rig.tops[0].view.fill(.nan)
        rig.backward(topGrad: [g])
        #expect(rig.bottomGrads[0].values == dx)
        #expect(dx.allSatisfy { $0.isFinite })
    }

    @Test func configErrors() {
        func error(_ param: String) -> String? { layerError("{name: norm, type: LRN, lrn_param: {\(param)}}") }
        #expect(error("local_size: 4") == "layer 'norm' (LRN): lrn_param.local_size: must be odd (the window is centred on each value), found 4")
        #expect(error("local_size: 0") == "layer 'norm' (LRN): lrn_param.local_size: must be at least 1, found 0")
        #expect(error("alpha: -1") == "layer 'norm' (LRN): lrn_param.alpha: must not be negative, found -1.0")
        #expect(error("k: 0") == "layer 'norm' (LRN): lrn_param.k: must be positive (it keeps k + α/n·Σx² away from zero), found 0.0")
        #expect(error("norm_region: WITHIN_CHANNEL, k: 2")
                == "layer 'norm' (LRN): lrn_param.k: WITHIN_CHANNEL has no k: Caffe fixes it at 1 and ignores the key, found 2.0")
        #expect(error("norm_region: WITHIN_CHANNEL, k: 1") == nil)
        #expect(error("norm_region: ACROSS") == "layer 'norm' (LRN): lrn_param.norm_region: expected one of ACROSS_CHANNELS, WITHIN_CHANNEL, found 'ACROSS'")
        #expect(error("size: 5") == "layer 'norm' (LRN): unknown key 'size' in lrn_param")
    }

    @Test func shapeErrors() throws {
        let e = #expect(throws: LayerError.self) { try Self.lrn("").topShapes(for: [Shape([2, 9])]) }
        #expect(e?.message == "expects a bottom of shape N×C×H×W, found 2×9")
    }
}
