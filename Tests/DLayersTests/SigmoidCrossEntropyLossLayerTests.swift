import DCore
@testable import DLayers
import Testing

@Suite struct SigmoidCrossEntropyLossLayerTests {
    static let yaml = "{name: loss, type: SigmoidCrossEntropyLoss, bottom: [x, t], top: loss}"
    static let ln3: Float = 1.0986123

    @Test func forwardByHand() throws {
        // Per element −[t·log σ(x) + (1 − t)·log(1 − σ(x))]:
        //   x = 0,     t = 1:   log 2                                  = 0.6931472
        //   x = ln 3,  t = 1:   −log 3/4                               = 0.2876821
        //   x = −ln 3, t = 0:   −log(1 − 1/4)                          = 0.2876821
        //   x = 2,     t = ½:   −½·(log 0.8807971 + log 0.1192029)     = 1.1269280
        // Sum 2.3954394 over N = 2 (BATCH_SIZE): 1.1977197.
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 2]), [0, Self.ln3, -Self.ln3, 2]), (Shape([2, 2]), [1, 1, 0, 0.5])])
        #expect(close(try rig.forward()[0], [1.1977197]))
        // dx = (σ(x) − t) / 2.
        rig.backward(topGrad: [[1]])
        #expect(close(rig.bottomGrads[0].values, [-0.25, -0.125, 0.125, 0.19039855]))
        // Large scores neither overflow nor lose the loss: x = ±100 against the wrong target costs 100 each.
        let far = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([1, 2]), [100, -100]), (Shape([1, 2]), [0, 1])])
        #expect(close(try far.forward()[0], [200]))
    }

    @Test func ignoredTargetsAndNormalization() throws {
        // Ignoring the last two targets leaves 0.6931472 + 0.2876821 over VALID = 2 targets.
        let yaml = "{name: loss, type: SigmoidCrossEntropyLoss, bottom: [x, t], top: loss, loss_param: {ignore_label: -1, normalization: VALID}}"
        let rig = try LayerRig(try makeLayer(yaml), bottoms: [(Shape([2, 2]), [0, Self.ln3, -Self.ln3, 2]), (Shape([2, 2]), [1, 1, -1, -1])])
        #expect(close(try rig.forward()[0], [0.49041465]))
        rig.backward(topGrad: [[1]])
        #expect(close(rig.bottomGrads[0].values, [-0.25, -0.125, 0, 0]))
        let full = try LayerRig(try makeLayer("{name: loss, type: SigmoidCrossEntropyLoss, bottom: [x, t], top: loss, loss_param: {normalization: FULL}}"),
                                bottoms: [(Shape([2, 2]), [0, Self.ln3, -Self.ln3, 2]), (Shape([2, 2]), [1, 1, 0, 0.5])])
        #expect(close(try full.forward()[0], [2.3954394 / 4]))
    }

    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 4]), randomValues(12, scale: 3)),
                                                                   (Shape([3, 4]), randomValues(12, seed: 4).map { ($0 + 1) / 2 })])
        #expect(try checkGradients(rig, checkBottoms: [0]) == 12)
        try checkAccumulation(rig)
    }

    @Test func shapeErrors() throws {
        #expect(throws: LayerError.self) { try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 2]), [0, 0, 0, 0]), (Shape([3]), [0, 0, 0])]) }
        #expect(layerError("{name: loss, type: SigmoidCrossEntropyLoss, loss_param: {normalization: SOME}}")?.contains("normalization") == true)
    }
}
