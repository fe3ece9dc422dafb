import DCore
@testable import DLayers
import Testing

@Suite struct HingeLossLayerTests {
    static let yaml = "{name: loss, type: HingeLoss, bottom: [x, label], top: loss}"
    static let l2Yaml = "{name: loss, type: HingeLoss, bottom: [x, label], top: loss, hinge_loss_param: {norm: L2}}"
    /// Two samples of three classes, labels 0 and 2.
    static let scores: [Float] = [0.5, -0.2, 2.0, 0.3, -1.5, 0.8]
    static let labels: [Float] = [0, 2]

    @Test func l1ByHand() throws {
        // Margins max(0, 1 + δ·x), δ = −1 at the label:
        //   sample 0 (label 0): 1 − 0.5 = 0.5,  1 − 0.2 = 0.8,  1 + 2 = 3      Σ 4.3
        //   sample 1 (label 2): 1 + 0.3 = 1.3,  1 − 1.5 → 0,    1 − 0.8 = 0.2  Σ 1.5
        // L1: (4.3 + 1.5) / N = 5.8 / 2 = 2.9
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3]), Self.scores), (Shape([2]), Self.labels)])
        #expect(rig.layer.isLoss && rig.tops[0].shape == .scalar)
        #expect(close(try rig.forward()[0], [2.9]))
        // dx = δ·[margin > 0] / N: sample 0 (−½, ½, ½), sample 1 (½, 0, −½); doubled by a top gradient of 2.
        rig.backward(topGrad: [[2]])
        #expect(close(rig.bottomGrads[0].values, [-1, 1, 1, 1, 0, -1]))
        #expect(rig.layer.propagates(toBottom: 0) && !rig.layer.propagates(toBottom: 1))
    }

    @Test func l2ByHand() throws {
        // Squared margins: sample 0 0.25 + 0.64 + 9 = 9.89, sample 1 1.69 + 0 + 0.04 = 1.73; (9.89 + 1.73) / 2 = 5.81
        let rig = try LayerRig(try makeLayer(Self.l2Yaml), bottoms: [(Shape([2, 3]), Self.scores), (Shape([2]), Self.labels)])
        #expect(close(try rig.forward()[0], [5.81]))
        // dx = 2δ·margin / N = δ·margin: sample 0 (−0.5, 0.8, 3), sample 1 (1.3, 0, −0.2)
        rig.backward(topGrad: [[1]])
        #expect(close(rig.bottomGrads[0].values, [-0.5, 0.8, 3, 1.3, 0, -0.2]))
    }

    @Test func spatialScoresAreClasses() throws {
        // Scores [1, 2, 2]: K = 4 classes (every axis after the first), label 3:
        // margins 1 + 0 = 1, 1 − 2 → 0, 1 + 0.5 = 1.5, 1 − 0.25 = 0.75: L1 3.25 over N = 1
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([1, 2, 2]), [0, -2, 0.5, 0.25]), (Shape([1]), [3])])
        #expect(close(try rig.forward()[0], [3.25]))
    }

    /// Scores kept at least 0.05 from the kinks at ±1, where the L1 gradient jumps.
    static func awayFromKinks(_ values: [Float]) -> [Float] {
        values.map { abs(abs($0) - 1) < 0.05 ? $0 * 1.1 : $0 }
    }

    @Test(arguments: [yaml, l2Yaml])
    func gradients(_ yaml: String) throws {
        let rig = try LayerRig(try makeLayer(yaml), bottoms: [(Shape([3, 4]), Self.awayFromKinks(randomValues(12, scale: 2))),
                                                              (Shape([3]), [0, 3, 2])])
        #expect(try checkGradients(rig, checkBottoms: [0]) == 12)
        try checkAccumulation(rig)
    }

    @Test func badLabels() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3]), Self.scores), (Shape([2]), [0, 3])])
        let e = #expect(throws: LayerError.self) { try rig.forward() }
        #expect(e?.message == "label 3 of sample 1 is not a class index in 0..<3")
        #expect(e?.hint?.contains("ignore_label") == false)
        rig.bottoms[1].view.copy(from: [.nan, 1])
        let nan = #expect(throws: LayerError.self) { try rig.forward() }
        #expect(nan?.message == "label nan of sample 0 is not a class index in 0..<3")
    }

    @Test func configAndShapeErrors() throws {
        #expect(layerError("{name: loss, type: HingeLoss, hinge_loss_param: {norm: L3}}")
                == "layer 'loss' (HingeLoss): hinge_loss_param.norm: expected one of L1, L2, found 'L3'")
        // Caffe's HingeLoss divides by N whatever loss_param says: Dendrite refuses the block.
        #expect(layerError("{name: loss, type: HingeLoss, loss_param: {ignore_label: 0}}")?.contains("unknown key 'loss_param'") == true)
        let layer = try makeLayer(Self.yaml)
        let e = #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([2, 3]), Shape([3])]) }
        #expect(e?.message == "3 labels (shape 3) for 2 samples (scores 2×3)")
    }
}
