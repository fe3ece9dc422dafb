import DCore
@testable import DLayers
import Testing

@Suite struct FlattenLayerTests {
    static let yaml = "{name: flat, type: Flatten, bottom: x, top: y}"

    static func flatten(_ param: String) throws -> any Layer {
        try makeLayer("{name: flat, type: Flatten, bottom: x, top: y, flatten_param: {\(param)}}")
    }

    @Test func forwardByHand() throws {
        // [2, 3, 2, 2] → [2, 3·2·2] = [2, 12]; the data is unchanged, in order.
        let x = (0..<24).map(Float.init)
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 2, 2]), x)])
        #expect(rig.tops[0].shape == Shape([2, 12]))
        #expect(try rig.forward()[0] == x)
        // backward passes the gradient through unchanged
        let dy = (0..<24).map { Float($0) * -0.5 }
        rig.backward(topGrad: [dy])
        #expect(rig.bottomGrads[0].values == dy)
    }

    @Test func axes() throws {
        let b = [Shape([2, 3, 4, 5])]
        // axis 2 … end: [2, 3, 20];  axis 1 … 2: [2, 12, 5];  axis 0 … −2: [24, 5];  axis 1 … 1: unchanged
        #expect(try Self.flatten("axis: 2").topShapes(for: b) == [Shape([2, 3, 20])])
        #expect(try Self.flatten("axis: 1, end_axis: 2").topShapes(for: b) == [Shape([2, 12, 5])])
        #expect(try Self.flatten("axis: 0, end_axis: -2").topShapes(for: b) == [Shape([24, 5])])
        #expect(try Self.flatten("axis: 1, end_axis: 1").topShapes(for: b) == b)
    }

    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 2, 2]), randomValues(24))])
        #expect(try checkGradients(rig) == 24)
        try checkAccumulation(rig)
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        #expect(try makeLayer(Self.yaml).supportsInPlace)
        let x = randomValues(24), dy = randomValues(24, seed: 12)
        let out = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 2, 2]), x)])
        let inPlace = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3, 2, 2]), x)], inPlace: true)
        #expect(inPlace.tops[0].view.base == inPlace.bottoms[0].view.base)
        let y = try out.forward()[0]
        #expect(try inPlace.forward()[0] == y)
        out.backward(topGrad: [dy])
        inPlace.backward(topGrad: [dy])
        #expect(inPlace.bottomGrads[0].values == out.bottomGrads[0].values)
        #expect(out.bottomGrads[0].values == dy)
    }

    @Test func configErrors() {
        #expect(layerError("{name: flat, type: Flatten, flatten_param: {axis: first}}")
                == "layer 'flat' (Flatten): flatten_param.axis: expected an integer, found 'first'")
        #expect(layerError("{name: flat, type: Flatten, flatten_param: {start_axis: 1}}")
                == "layer 'flat' (Flatten): unknown key 'start_axis' in flatten_param")
    }

    @Test func shapeErrors() throws {
        let reversed = try Self.flatten("axis: 3, end_axis: 1")
        let e1 = #expect(throws: LayerError.self) { try reversed.topShapes(for: [Shape([2, 3, 2, 2])]) }
        #expect(e1?.message == "axes 3…1 do not fit bottom shape 2×3×2×2")
        let e2 = #expect(throws: LayerError.self) { try makeLayer(Self.yaml).topShapes(for: [Shape([6])]) }
        #expect(e2?.message == "axes 1…-1 do not fit bottom shape 6")
    }
}
