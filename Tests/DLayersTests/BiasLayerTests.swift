import DCore
@testable import DLayers
import Testing

@Suite struct BiasLayerTests {
    static let yaml = "{name: bias, type: Bias, bottom: x, top: y}"
    static func bias(_ param: String, bottoms: String = "x") throws -> any Layer {
        try makeLayer("{name: bias, type: Bias, bottom: \(bottoms), top: y, bias_param: {\(param)}}")
    }

    @Test func forwardByHand() throws {
        // x [2, 2, 2] = 0…7 (N 2, C 2, 2 values per channel), b [C] = 10, −1 (default axis 1, num_axes 1).
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 2, 2]), (0..<8).map(Float.init))])
        #expect(rig.params.map(\.shape) == [Shape([2])])
        #expect(rig.params[0].values == [0, 0])  // filler: constant 0
        rig.params[0].view.copy(from: [10, -1])
        #expect(try rig.forward()[0] == [10, 11, 1, 2, 14, 15, 5, 6])
        // dx = dy; db[c] = Σ dy over the channel: 1 + 2 + 5 + 6 = 14, 3 + 4 + 7 + 8 = 22.
        rig.backward(topGrad: [(1...8).map(Float.init)])
        #expect(rig.bottomGrads[0].values == (1...8).map(Float.init))
        #expect(rig.paramGrads[0].values == [14, 22])
    }

    @Test func biasFromBottom1() throws {
        // b = bottom 1 [2, 2] matches x [2, 2, 2] from axis 1: added to each sample. No parameter.
        let rig = try LayerRig(try Self.bias("axis: 1", bottoms: "[x, b]"),
                               bottoms: [(Shape([2, 2, 2]), (0..<8).map(Float.init)), (Shape([2, 2]), [1, 2, 3, 4])])
        #expect(rig.params.isEmpty)
        #expect(try rig.forward()[0] == [1, 3, 5, 7, 5, 7, 9, 11])
        // db = Σ over samples: 1 + 5, 2 + 6, 3 + 7, 4 + 8.
        rig.backward(topGrad: [(1...8).map(Float.init)])
        #expect(rig.bottomGrads[1].values == [6, 8, 10, 12])
    }

    @Test func operandShapes() throws {
        let x = [Shape([2, 3, 4, 5])]
        #expect(try Self.bias("num_axes: 0").parameters(for: x).map(\.shape) == [.scalar])
        #expect(try Self.bias("num_axes: -1").parameters(for: x).map(\.shape) == [Shape([3, 4, 5])])
        #expect(try Self.bias("axis: -2, num_axes: 2").parameters(for: x).map(\.shape) == [Shape([4, 5])])
        // A scalar bottom 1 applies everywhere, whatever the axis.
        #expect(try Self.bias("axis: 3", bottoms: "[x, b]").topShapes(for: x + [.scalar]) == x)
        #expect(try Self.bias("filler: {type: constant, value: 0.5}").parameters(for: x) == [ParameterDecl("bias", Shape([3]), filler: .constant(value: 0.5))])
    }

    @Test func gradients() throws {
        let one = try LayerRig(try Self.bias("axis: 1, num_axes: 2"), bottoms: [(Shape([2, 3, 2, 2]), randomValues(24))])
        #expect(one.params[0].shape == Shape([3, 2]))
        #expect(try checkGradients(one) == 24 + 6)
        try checkAccumulation(one)
        let two = try LayerRig(try Self.bias("axis: 2", bottoms: "[x, b]"),
                               bottoms: [(Shape([2, 3, 2, 2]), randomValues(24)), (Shape([2, 2]), randomValues(4, seed: 12))])
        #expect(try checkGradients(two) == 24 + 4)
        try checkAccumulation(two)
        let scalar = try LayerRig(try Self.bias("num_axes: 0"), bottoms: [(Shape([3, 4]), randomValues(12))])
        #expect(try checkGradients(scalar) == 12 + 1)
    }

    @Test func parameterGradientsAreAdded() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 2, 2]), (0..<8).map(Float.init))])
        try rig.forward()
        rig.backward(topGrad: [(1...8).map(Float.init)])
        rig.layer.backward(rig.io(), rig.step)
        #expect(rig.paramGrads[0].values == [28, 44])  // 2 · (14, 22)
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        #expect(try makeLayer(Self.yaml).supportsInPlace)
        let x = randomValues(12), dy = randomValues(12, seed: 12)
        let out = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 2]), x)])
        let inPlace = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 2]), x)], inPlace: true)
        for rig in [out, inPlace] { rig.params[0].view.copy(from: [0.5, -1, 2]) }
        let y = try out.forward()[0]
        #expect(try inPlace.forward()[0] == y)
        out.backward(topGrad: [dy])
        inPlace.backward(topGrad: [dy])
        #expect(inPlace.bottomGrads[0].values == out.bottomGrads[0].values)
        #expect(inPlace.paramGrads[0].values == out.paramGrads[0].values)
    }

    @Test func configErrors() {
        #expect(layerError("{name: bias, type: Bias, bias_param: {num_axes: -2}}")
                == "layer 'bias' (Bias): bias_param.num_axes: must be at least -1, found -2")
        #expect(layerError("{name: bias, type: Bias, bias_param: {bias_term: true}}")
                == "layer 'bias' (Bias): unknown key 'bias_term' in bias_param")
    }

    @Test func shapeErrors() throws {
        let past = #expect(throws: LayerError.self) { try Self.bias("axis: 2, num_axes: 2").topShapes(for: [Shape([2, 3, 4])]) }
        #expect(past?.message == "num_axes 2 from axis 2 runs past bottom shape 2×3×4")
        let mismatch = #expect(throws: LayerError.self) { try Self.bias("", bottoms: "[x, b]").topShapes(for: [Shape([2, 3, 4]), Shape([4])]) }
        #expect(mismatch?.message == "the bias (bottom 1) has shape 4, which does not match bottom shape 2×3×4 from axis 1")
    }
}
