import DCore
@testable import DLayers
import Testing

@Suite struct EuclideanLossLayerTests {
    static let yaml = "{name: loss, type: EuclideanLoss, bottom: [a, b], top: loss}"

    @Test func forwardByHand() throws {
        // a = 1 2 3 / 4 5 6, b = 1 0 3 / 2 5 9: a − b = 0 2 0 / 2 0 −3, Σ² = 4 + 4 + 9 = 17,
        // N = 2: loss = 17 / (2·2) = 4.25
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3]), [1, 2, 3, 4, 5, 6]), (Shape([2, 3]), [1, 0, 3, 2, 5, 9])])
        #expect(rig.layer.isLoss)
        #expect(rig.tops[0].shape == .scalar)
        #expect(close(try rig.forward()[0], [4.25]))
        // da = dL·(a − b) / N with dL = 2: 0 2 0 / 2 0 −3;  db = −da
        rig.backward(topGrad: [[2]])
        #expect(close(rig.bottomGrads[0].values, [0, 2, 0, 2, 0, -3]))
        #expect(close(rig.bottomGrads[1].values, [0, -2, 0, -2, 0, 3]))
    }

    @Test func batchIsTheFirstDimension() throws {
        // The same 6 differences as one sample [1, 6]: 17 / 2 = 8.5; b may have another shape of the same count.
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([1, 6]), [1, 2, 3, 4, 5, 6]), (Shape([6]), [1, 0, 3, 2, 5, 9])])
        #expect(close(try rig.forward()[0], [8.5]))
    }

    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 4]), randomValues(12)), (Shape([3, 4]), randomValues(12, seed: 13))])
        #expect(try checkGradients(rig) == 12 + 12)
        try checkAccumulation(rig)
    }

    @Test func configErrors() {
        #expect(layerError("{name: loss, type: EuclideanLoss, euclidean_loss_param: {}}")
                == "layer 'loss' (EuclideanLoss): unknown key 'euclidean_loss_param'")
    }

    @Test func shapeErrors() throws {
        let e = #expect(throws: LayerError.self) { try makeLayer(Self.yaml).topShapes(for: [Shape([2, 3]), Shape([3, 3])]) }
        #expect(e?.message == "bottoms differ in size: 2×3 and 3×3")
    }
}
