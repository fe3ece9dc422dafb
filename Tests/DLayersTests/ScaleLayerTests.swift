import DCore
@testable import DLayers
import Testing

@Suite struct ScaleLayerTests {
    static func scale(_ param: String, bottoms: String = "x") throws -> any Layer {
        try makeLayer("{name: scale, type: Scale, bottom: \(bottoms), top: y, scale_param: {\(param)}}")
    }

    @Test func forwardByHand() throws {
        // x [2, 2, 2] = 0…7 (N 2, C 2, 2 values per channel); γ = 2, −1 and β = 0.5, 1 per channel.
        let rig = try LayerRig(try Self.scale("bias_term: true"), bottoms: [(Shape([2, 2, 2]), (0..<8).map(Float.init))])
        #expect(rig.params.map(\.shape) == [Shape([2]), Shape([2])])
        #expect(rig.params.map(\.values) == [[1, 1], [0, 0]])  // fillers: constant 1 and 0
        rig.params[0].view.copy(from: [2, -1])
        rig.params[1].view.copy(from: [0.5, 1])
        // y = γ·x + β: 0.5, 2.5 | −1, −2 | 8.5, 10.5 | −5, −6
        #expect(try rig.forward()[0] == [0.5, 2.5, -1, -2, 8.5, 10.5, -5, -6])
        // dy = 1…8: dx = γ·dy = 2, 4, −3, −4, 10, 12, −7, −8;
        // dγ[0] = 1·0 + 2·1 + 5·4 + 6·5 = 52, dγ[1] = 3·2 + 4·3 + 7·6 + 8·7 = 116; dβ = 14, 22.
        rig.backward(topGrad: [(1...8).map(Float.init)])
        #expect(rig.bottomGrads[0].values == [2, 4, -3, -4, 10, 12, -7, -8])
        #expect(rig.paramGrads.map(\.values) == [[52, 116], [14, 22]])
    }

    @Test func scaleFromBottom1() throws {
        // γ = bottom 1 [2]; with bias_term the only parameter is β, shaped like bottom 1.
        let rig = try LayerRig(try Self.scale("bias_term: true", bottoms: "[x, g]"),
                               bottoms: [(Shape([2, 2, 2]), (0..<8).map(Float.init)), (Shape([2]), [2, -1])])
        #expect(rig.params.map(\.shape) == [Shape([2])])
        #expect(try rig.forward()[0] == [0, 2, -2, -3, 8, 10, -6, -7])
        rig.backward(topGrad: [(1...8).map(Float.init)])
        #expect(rig.bottomGrads[1].values == [52, 116])
        #expect(rig.paramGrads[0].values == [14, 22])
        // Without bias_term: no parameters at all.
        #expect(try Self.scale("", bottoms: "[x, g]").parameters(for: [Shape([2, 2, 2]), Shape([2])]).isEmpty)
    }

    @Test func gradients() throws {
        // Per channel of [N, C, H, W], the BatchNorm partner.
        let channel = try LayerRig(try Self.scale("bias_term: true, filler: {type: uniform, min: -1, max: 1}, bias_filler: {type: gaussian}"),
                                   bottoms: [(Shape([2, 3, 2, 2]), randomValues(24))])
        #expect(try checkGradients(channel) == 24 + 3 + 3)
        try checkAccumulation(channel)
        // Bottom 1 as γ over axes 2…3, and a learned β.
        let two = try LayerRig(try Self.scale("axis: 2, bias_term: true", bottoms: "[x, g]"),
                               bottoms: [(Shape([2, 3, 2, 2]), randomValues(24)), (Shape([2, 2]), randomValues(4, seed: 12))])
        #expect(try checkGradients(two) == 24 + 4 + 4)
        try checkAccumulation(two)
        // A scalar γ (num_axes 0).
        let scalar = try LayerRig(try Self.scale("num_axes: 0, filler: {type: constant, value: 0.7}"), bottoms: [(Shape([3, 4]), randomValues(12))])
        #expect(scalar.params[0].shape == .scalar)
        #expect(try checkGradients(scalar) == 12 + 1)
    }

    @Test func parameterGradientsAreAdded() throws {
        // Parameter gradients pile up over calls (several layers may share a parameter); the solver zeroes them.
        let rig = try LayerRig(try Self.scale("bias_term: true"), bottoms: [(Shape([2, 2, 2]), (0..<8).map(Float.init))])
        try rig.forward()
        rig.backward(topGrad: [(1...8).map(Float.init)])
        let once = rig.paramGrads.map(\.values)
        rig.layer.backward(rig.io(), rig.step)
        #expect(rig.paramGrads.map(\.values) == once.map { $0.map { 2 * $0 } })
    }

    @Test func manyChannelsAndThreads() throws {
        // The per-channel loops against the definition, on more channels than threads and rows longer than one SIMD step.
        let (n, c, inner) = (3, 5, 19)
        let x = randomValues(n * c * inner), dy = randomValues(n * c * inner, seed: 21)
        let rig = try LayerRig(try Self.scale("bias_term: true"), bottoms: [(Shape([n, c, inner]), x)])
        let gamma = randomValues(c, seed: 22), beta = randomValues(c, seed: 23)
        rig.params[0].view.copy(from: gamma)
        rig.params[1].view.copy(from: beta)
        let y = try rig.forward()[0]
        rig.backward(topGrad: [dy])
        var dGamma = [Float](repeating: 0, count: c), dBeta = dGamma
        for i in 0..<(n * c * inner) {
            let ch = (i / inner) % c
            #expect(abs(y[i] - (gamma[ch] * x[i] + beta[ch])) <= 1e-6)
            #expect(abs(rig.bottomGrads[0].values[i] - gamma[ch] * dy[i]) <= 1e-6)
            dGamma[ch] += dy[i] * x[i]
            dBeta[ch] += dy[i]
        }
        #expect(close(rig.paramGrads[0].values, dGamma, tolerance: 1e-4))
        #expect(close(rig.paramGrads[1].values, dBeta, tolerance: 1e-4))
    }

    @Test func configErrors() {
        #expect(layerError("{name: s, type: Scale, scale_param: {bias_filler: {type: xavier, value: 1}}}")
                == "layer 's' (Scale): unknown key 'value' in scale_param.bias_filler")
        #expect(layerError("{name: s, type: Scale, scale_param: {num_axes: -3}}")
                == "layer 's' (Scale): scale_param.num_axes: must be at least -1, found -3")
    }

    @Test func shapeErrors() throws {
        let e = #expect(throws: LayerError.self) { try Self.scale("axis: 2", bottoms: "[x, g]").topShapes(for: [Shape([2, 3, 4]), Shape([4, 1])]) }
        #expect(e?.message == "the scale (bottom 1) has shape 4×1, which does not match bottom shape 2×3×4 from axis 2")
        let axis = #expect(throws: LayerError.self) { try Self.scale("axis: 3").topShapes(for: [Shape([2, 3, 4])]) }
        #expect(axis?.message == "axis 3 is out of range for bottom shape 2×3×4")
    }
}
