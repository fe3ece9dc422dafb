import DCore
@testable import DLayers
import Testing

@Suite struct ContrastiveLossLayerTests {
    static let yaml = "{name: loss, type: ContrastiveLoss, bottom: [a, b, sim], top: loss}"
    static let legacyYaml = "{name: loss, type: ContrastiveLoss, bottom: [a, b, sim], top: loss, contrastive_loss_param: {legacy_version: true}}"
    /// Three pairs of 2 features: similar at d = 0.5 (diff (0, 0.5)), dissimilar at d = 0.5
    /// (diff (−0.3, −0.4)), dissimilar at d = 2 (diff (2, 0)).
    static let a: [Float] = [1, 2, 0, 0, 2, 0]
    static let b: [Float] = [1, 1.5, 0.3, 0.4, 0, 0]
    static let similar: [Float] = [1, 0, 0]

    static func rig(_ yaml: String) throws -> LayerRig {
        try LayerRig(try makeLayer(yaml), bottoms: [(Shape([3, 2]), a), (Shape([3, 2]), b), (Shape([3]), similar)])
    }

    @Test func forwardAndBackwardByHand() throws {
        // margin 1: similar d² = 0.25; dissimilar inside the margin max(1 − 0.5, 0)² = 0.25; outside 0.
        // (0.25 + 0.25 + 0) / 2N = 0.5 / 6 = 0.0833333
        let rig = try Self.rig(Self.yaml)
        #expect(rig.layer.isLoss && rig.tops[0].shape == .scalar)
        #expect(close(try rig.forward()[0], [0.5 / 6]))
        // da = dL/N · g: pair 0 g = diff = (0, 0.5); pair 1 g = −(1 − 0.5)/(0.5 + 1e−4)·(−0.3, −0.4),
        // so da = (0.3, 0.4)·0.5/0.5001/3 = (0.0999800, 0.1333067); pair 2 outside the margin: 0. db = −da.
        rig.backward(topGrad: [[1]])
        let da: [Float] = [0, 0.5 / 3, 0.099980004, 0.13330667, 0, 0]
        #expect(close(rig.bottomGrads[0].values, da))
        #expect(close(rig.bottomGrads[1].values, da.map { -$0 }))
        #expect(rig.layer.propagates(toBottom: 0) && rig.layer.propagates(toBottom: 1) && !rig.layer.propagates(toBottom: 2))
    }

    @Test func legacyByHand() throws {
        // legacy: dissimilar pairs cost max(margin − d², 0): 1 − 0.25 = 0.75 and max(1 − 4, 0) = 0.
        // (0.25 + 0.75 + 0) / 6 = 0.1666667
        let rig = try Self.rig(Self.legacyYaml)
        #expect(close(try rig.forward()[0], [1.0 / 6]))
        // pair 1: g = −diff = (0.3, 0.4), over N = 3, times the top gradient 3: (0.3, 0.4).
        rig.backward(topGrad: [[3]])
        #expect(close(rig.bottomGrads[0].values, [0, 0.5, 0.3, 0.4, 0, 0]))
        #expect(close(rig.bottomGrads[1].values, [0, -0.5, -0.3, -0.4, 0, 0]))
    }

    @Test func margin() throws {
        // margin 3: the third pair (d = 2) now costs (3 − 2)² = 1, the second (3 − 0.5)² = 6.25:
        // (0.25 + 6.25 + 1) / 6 = 1.25
        let rig = try Self.rig("{name: loss, type: ContrastiveLoss, bottom: [a, b, sim], top: loss, contrastive_loss_param: {margin: 3}}")
        #expect(close(try rig.forward()[0], [1.25]))
    }

    @Test(arguments: [yaml, legacyYaml])
    func gradients(_ yaml: String) throws {
        let margin: Float = 1
        let a = randomValues(12, seed: 21, scale: 0.6), b = randomValues(12, seed: 22, scale: 0.6)
        let similar: [Float] = [1, 0, 0]
        // Keep the dissimilar pairs off the margin, where the gradient jumps (d² for legacy).
        for n in 1..<3 {
            let d2 = (0..<4).reduce(Float(0)) { $0 + (a[4 * n + $1] - b[4 * n + $1]) * (a[4 * n + $1] - b[4 * n + $1]) }
            try #require(abs(d2.squareRoot() - margin) > 0.1 && abs(d2 - margin) > 0.1, "pair \(n): d² = \(d2)")
        }
        let rig = try LayerRig(try makeLayer(yaml), bottoms: [(Shape([3, 4]), a), (Shape([3, 4]), b), (Shape([3]), similar)])
        try rig.forward()
        // at least one dissimilar pair inside the margin, so that its gradient is checked
        #expect((1..<3).contains(where: { n in rig.work[0].values[12 + n] < margin * margin }))
        #expect(try checkGradients(rig, checkBottoms: [0, 1]) == 24)
        try checkAccumulation(rig)
    }

    @Test func badSimilarity() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 2]), Self.a), (Shape([3, 2]), Self.b), (Shape([3]), [1, 0.5, 0])])
        let e = #expect(throws: LayerError.self) { try rig.forward() }
        #expect(e?.message == "similarity 0.5 of pair 1 is neither 1 (similar) nor 0 (dissimilar)")
        rig.bottoms[2].view.copy(from: [1, 0, 2])
        #expect(throws: LayerError.self) { try rig.forward() }
    }

    @Test func configAndShapeErrors() throws {
        #expect(layerError("{name: loss, type: ContrastiveLoss, contrastive_loss_param: {margin: wide}}")?.contains("contrastive_loss_param.margin") == true)
        #expect(layerError("{name: loss, type: ContrastiveLoss, contrastive_loss_param: {legacy: true}}")?.contains("unknown key 'legacy'") == true)
        let layer = try makeLayer(Self.yaml)
        let e1 = #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([3, 2]), Shape([3, 3]), Shape([3])]) }
        #expect(e1?.message == "the two feature bottoms differ in shape: 3×2 and 3×3")
        let e2 = #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([3, 2]), Shape([3, 2]), Shape([2])]) }
        #expect(e2?.message == "2 similarities (shape 2) for 3 pairs (features 3×2)")
    }
}
