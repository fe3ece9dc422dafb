import DCore
@testable import DLayers
import Testing

@Suite struct DropoutLayerTests {
    static let yaml = "{name: drop, type: Dropout, bottom: x, top: y}"

    static func dropout(_ ratio: String) throws -> any Layer {
        try makeLayer("{name: drop, type: Dropout, bottom: x, top: y, dropout_param: {dropout_ratio: \(ratio)}}")
    }

    /// 1…100: no zero, so a zero in the top is a dropped unit.
    static let x: [Float] = (1...100).map(Float.init)

    @Test func trainMaskIsZeroOrScaled() throws {
        // ratio 0.5: kept units are scaled by 1 / (1 − 0.5) = 2
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([4, 25]), Self.x)])
        let y = try rig.forward()[0]
        for (yi, xi) in zip(y, Self.x) { #expect(yi == 0 || yi == 2 * xi) }
        let kept = y.filter { $0 != 0 }.count
        #expect(kept > 25 && kept < 75, "kept \(kept) of 100")
    }

    @Test func otherRatioScales() throws {
        // ratio 0.75: kept units scaled by 1 / 0.25 = 4, about a quarter kept
        let rig = try LayerRig(try Self.dropout("0.75"), bottoms: [(Shape([100]), Self.x)])
        let y = try rig.forward()[0]
        for (yi, xi) in zip(y, Self.x) { #expect(yi == 0 || yi == 4 * xi) }
        let kept = y.filter { $0 != 0 }.count
        #expect(kept > 5 && kept < 45, "kept \(kept) of 100")
    }

    @Test func zeroRatioKeepsEverything() throws {
        let rig = try LayerRig(try Self.dropout("0"), bottoms: [(Shape([100]), Self.x)])
        #expect(try rig.forward()[0] == Self.x)
    }

    @Test func maskDependsOnIteration() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([4, 25]), Self.x)])
        rig.iteration = 3
        let first = try rig.forward()[0]
        #expect(try rig.forward()[0] == first)  // same iteration, same mask
        rig.iteration = 4
        let next = try rig.forward()[0]
        #expect(next != first)
        // every value is still 0 or 2x
        for (yi, xi) in zip(next, Self.x) { #expect(yi == 0 || yi == 2 * xi) }
        rig.iteration = 3
        #expect(try rig.forward()[0] == first)  // and back
        // A fresh layer and rig at the same iteration draw the same mask (a resumed run).
        let again = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([4, 25]), Self.x)])
        again.iteration = 3
        #expect(try again.forward()[0] == first)
    }

    /// With iter_size > 1, each batch of a step draws its own mask, as Caffe's fresh draws do;
    /// the first keeps the mask of the iteration alone.
    @Test func maskDependsOnTheBatchWithinAStep() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([4, 25]), Self.x)])
        rig.iteration = 3
        let first = try rig.forward()[0]
        rig.subBatch = 1
        let second = try rig.forward()[0]
        #expect(second != first)
        for (yi, xi) in zip(second, Self.x) { #expect(yi == 0 || yi == 2 * xi) }
        rig.subBatch = 2
        let third = try rig.forward()[0]
        #expect(third != first && third != second)
        rig.subBatch = 1
        #expect(try rig.forward()[0] == second)
        let plain = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([4, 25]), Self.x)])
        plain.iteration = 3
        #expect(try plain.forward()[0] == first)
    }

    @Test func backwardUsesTheMask() throws {
        // dx = dy · mask: zero where the unit was dropped, 2·dy where it was kept
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([4, 25]), Self.x)])
        let y = try rig.forward()[0]
        rig.backward(topGrad: [[Float](repeating: 1, count: 100)])
        #expect(rig.bottomGrads[0].values == y.map { $0 == 0 ? 0 : 2 })
    }

    @Test func testPhaseIsIdentity() throws {
        let layer = try makeLayer(Self.yaml, phase: .test)
        #expect(layer.workspace(for: [Shape([4, 25])], phase: .test, threads: 1).isEmpty)
        let rig = try LayerRig(layer, bottoms: [(Shape([4, 25]), Self.x)], phase: .test)
        rig.iteration = 5
        #expect(try rig.forward()[0] == Self.x)
    }

    @Test func gradients() throws {
        // The mask is fixed for an iteration, so finite differences see the same mask.
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([4, 5]), randomValues(20))])
        rig.iteration = 2
        #expect(try checkGradients(rig) == 20)
        try checkAccumulation(rig)
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        #expect(try makeLayer(Self.yaml).supportsInPlace)
        let dy = randomValues(100, seed: 12)
        let out = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([4, 25]), Self.x)])
        let inPlace = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([4, 25]), Self.x)], inPlace: true)
        #expect(inPlace.tops[0].view.base == inPlace.bottoms[0].view.base)
        out.iteration = 1
        inPlace.iteration = 1
        let y = try out.forward()[0]
        #expect(try inPlace.forward()[0] == y)
        out.backward(topGrad: [dy])
        inPlace.backward(topGrad: [dy])
        #expect(inPlace.bottomGrads[0].values == out.bottomGrads[0].values)
    }

    @Test func ratioOutOfRange() {
        #expect(layerError("{name: drop, type: Dropout, dropout_param: {dropout_ratio: 1.5}}")
                == "layer 'drop' (Dropout): dropout_param.dropout_ratio: must be in [0, 1), found 1.5")
        #expect(layerError("{name: drop, type: Dropout, dropout_param: {dropout_ratio: 1}}")
                == "layer 'drop' (Dropout): dropout_param.dropout_ratio: must be in [0, 1), found 1.0")
        #expect(layerError("{name: drop, type: Dropout, dropout_param: {dropout_ratio: -0.25}}")
                == "layer 'drop' (Dropout): dropout_param.dropout_ratio: must be in [0, 1), found -0.25")
    }
}
