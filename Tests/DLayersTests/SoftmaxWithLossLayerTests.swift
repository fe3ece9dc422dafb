import DCore
@testable import DLayers
import Testing

@Suite struct SoftmaxWithLossLayerTests {
    static let yaml = "{name: loss, type: SoftmaxWithLoss, bottom: [x, label], top: loss}"
    static let ln3: Float = 1.0986123

    static func loss(_ lossParam: String) throws -> any Layer {
        try makeLayer("{name: loss, type: SoftmaxWithLoss, bottom: [x, label], top: loss, loss_param: {\(lossParam)}}")
    }

    @Test func forwardByHand() throws {
        // Both samples score (0, ln 3) → p = (1/4, 3/4).
        // sample 0, label 1: −ln(3/4) = 0.2876821;  sample 1, label 0: −ln(1/4) = 1.3862944
        // VALID (the default) divides by the 2 samples: (0.2876821 + 1.3862944) / 2 = 0.8369882
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 2]), [0, Self.ln3, 0, Self.ln3]), (Shape([2]), [1, 0])])
        let layer = rig.layer
        #expect(layer.isLoss)
        #expect(rig.tops[0].shape == .scalar)
        #expect(close(try rig.forward()[0], [0.8369882]))
        // dx = (p − onehot(label)) / 2: sample 0 (1/4, −1/4) / 2, sample 1 (−3/4, 3/4) / 2
        rig.backward(topGrad: [[1]])
        #expect(close(rig.bottomGrads[0].values, [0.125, -0.125, -0.375, 0.375]))
        #expect(layer.propagates(toBottom: 0))
        #expect(!layer.propagates(toBottom: 1))
    }

    @Test func singleSample() throws {
        // scores (0, ln 3), label 1: p = 3/4, loss = ln(4/3) = 0.2876821
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([1, 2]), [0, Self.ln3]), (Shape([1]), [1])])
        #expect(close(try rig.forward()[0], [0.2876821]))
        // scaled by the top gradient 2: 2·(1/4, −1/4)
        rig.backward(topGrad: [[2]])
        #expect(close(rig.bottomGrads[0].values, [0.5, -0.5]))
    }

    /// scores [2, 2, 2]: 2 samples × 2 positions, every position scoring (0, ln 3), so p = (1/4, 3/4);
    /// labels (1, 0, 1, −1) with −1 ignored: Σ = ln(4/3) + ln 4 + ln(4/3) = ln(64/9) = 1.9616585 over 3 valid.
    static let spatialScores: [Float] = [0, 0, ln3, ln3, 0, 0, ln3, ln3]
    static let spatialLabels: [Float] = [1, 0, 1, -1]

    @Test(arguments: [
        // FULL: all 4 positions, ignored included: 1.9616585 / 4
        ("normalization: FULL", Float(0.4904146)),
        // VALID: the 3 that are not ignored
        ("normalization: VALID", Float(0.6538862)),
        // BATCH_SIZE: the 2 samples
        ("normalization: BATCH_SIZE", Float(0.9808292)),
        // NONE: the sum
        ("normalization: NONE", Float(1.9616585)),
        // Caffe's older flag: true is VALID, false BATCH_SIZE
        ("normalize: true", Float(0.6538862)),
        ("normalize: false", Float(0.9808292)),
    ])
    func normalization(_ param: String, _ expected: Float) throws {
        let layer = try Self.loss("ignore_label: -1, \(param)")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 2, 2]), Self.spatialScores), (Shape([2, 2]), Self.spatialLabels)])
        #expect(close(try rig.forward()[0], [expected]))
    }

    @Test func ignoredLabelHasNoGradient() throws {
        // VALID over 3: dx = (p − onehot(label)) / 3 at the counted positions, 0 at the ignored one.
        let rig = try LayerRig(try Self.loss("ignore_label: -1"),
                               bottoms: [(Shape([2, 2, 2]), Self.spatialScores), (Shape([2, 2]), Self.spatialLabels)])
        try rig.forward()
        rig.backward(topGrad: [[1]])
        // Layout [sample, class, position]:
        // sample 0: position 0 (label 1) → (1/4, −1/4)/3, position 1 (label 0) → (−3/4, 3/4)/3
        // sample 1: position 0 (label 1) → (1/4, −1/4)/3, position 1 (ignored) → (0, 0)
        let third: Float = 1.0 / 3
        #expect(close(rig.bottomGrads[0].values, [0.25 * third, -0.75 * third, -0.25 * third, 0.75 * third,
                                                  0.25 * third, 0, -0.25 * third, 0]))
    }

    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 4]), randomValues(12, scale: 2)), (Shape([3]), [0, 3, 2])])
        #expect(try checkGradients(rig, checkBottoms: [0]) == 12)
        try checkAccumulation(rig)
    }

    @Test func spatialGradientsWithIgnoreLabel() throws {
        let rig = try LayerRig(try Self.loss("ignore_label: 255, normalization: FULL"),
                               bottoms: [(Shape([2, 3, 2]), randomValues(12, seed: 8, scale: 2)), (Shape([2, 2]), [2, 255, 0, 1])])
        #expect(try checkGradients(rig, checkBottoms: [0]) == 12)
        try checkAccumulation(rig)
    }

    @Test func labelOutOfRange() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 2]), [0, 1, 1, 0]), (Shape([2]), [0, 2])])
        let e = #expect(throws: LayerError.self) { try rig.forward() }
        #expect(e?.message == "label 2 of sample 1 is not a class index in 0..<2")
        rig.bottoms[1].view.copy(from: [0.5, 1])
        let fractional = #expect(throws: LayerError.self) { try rig.forward() }
        #expect(fractional?.message == "label 0.5 of sample 0 is not a class index in 0..<2")
        // −1 is a class index only when it is the ignore_label
        rig.bottoms[1].view.copy(from: [1, -1])
        let negative = #expect(throws: LayerError.self) { try rig.forward() }
        #expect(negative?.message == "label -1 of sample 1 is not a class index in 0..<2")
    }

    @Test func configErrors() {
        #expect(layerError("{name: loss, type: SoftmaxWithLoss, loss_param: {normalize: true, normalization: FULL}}")
                == "layer 'loss' (SoftmaxWithLoss): loss_param.normalize: give normalization or the older normalize, not both")
        #expect(layerError("{name: loss, type: SoftmaxWithLoss, loss_param: {normalization: MEAN}}")
                == "layer 'loss' (SoftmaxWithLoss): loss_param.normalization: expected one of FULL, VALID, BATCH_SIZE, NONE, found 'MEAN'")
    }

    @Test func shapeErrors() throws {
        let layer = try makeLayer(Self.yaml)
        let e1 = #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([2, 2]), Shape([3])]) }
        #expect(e1?.message == "3 labels (shape 3) for 2 predictions (scores 2×2)")
        let axis = try makeLayer("{name: loss, type: SoftmaxWithLoss, bottom: [x, label], top: loss, softmax_param: {axis: 2}}")
        let e2 = #expect(throws: LayerError.self) { try axis.topShapes(for: [Shape([2, 2]), Shape([2])]) }
        #expect(e2?.message == "axis 2 is out of range for bottom shape 2×2")
    }
}
