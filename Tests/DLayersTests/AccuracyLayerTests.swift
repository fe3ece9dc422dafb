import DCore
@testable import DLayers
import Testing

@Suite struct AccuracyLayerTests {
    static func accuracy(_ param: String = "") throws -> any Layer {
        try makeLayer("{name: acc, type: Accuracy, bottom: [x, label], top: accuracy, accuracy_param: {\(param)}}")
    }

    // sample 0: (0.1, 0.7, 0.2), label 1 → rank 1
    // sample 1: (0.5, 0.3, 0.2), label 2 → rank 3
    // sample 2: (0.2, 0.5, 0.3), label 2 → rank 2
    static let scores: [Float] = [0.1, 0.7, 0.2, 0.5, 0.3, 0.2, 0.2, 0.5, 0.3]
    static let labels: [Float] = [1, 2, 2]

    @Test(arguments: [
        // top 1: only sample 0 → 1/3;  top 2: samples 0 and 2 → 2/3;  top 3: all → 1
        ("", Float(1.0 / 3)), ("top_k: 2", Float(2.0 / 3)), ("top_k: 3", Float(1)),
    ])
    func forwardByHand(_ param: String, _ expected: Float) throws {
        let rig = try LayerRig(try Self.accuracy(param), bottoms: [(Shape([3, 3]), Self.scores), (Shape([3]), Self.labels)])
        #expect(rig.tops[0].shape == .scalar)
        #expect(close(try rig.forward()[0], [expected]))
    }

    @Test func tiesCountAgainst() throws {
        // Caffe's rule: every other class scoring ≥ the true one ranks above it.
        // (0.5, 0.5), label 0: class 1 ties → rank 2, wrong at top 1.
        let pair = try LayerRig(try Self.accuracy(), bottoms: [(Shape([1, 2]), [0.5, 0.5]), (Shape([1]), [0])])
        #expect(try pair.forward()[0] == [0])
        // (1, 0.4, 0.4, 0.2), label 1: classes 0 and 2 score ≥ 0.4 → rank 3: wrong at top 2, right at top 3.
        let x: [Float] = [1, 0.4, 0.4, 0.2]
        let top2 = try LayerRig(try Self.accuracy("top_k: 2"), bottoms: [(Shape([1, 4]), x), (Shape([1]), [1])])
        #expect(try top2.forward()[0] == [0])
        let top3 = try LayerRig(try Self.accuracy("top_k: 3"), bottoms: [(Shape([1, 4]), x), (Shape([1]), [1])])
        #expect(try top3.forward()[0] == [1])
    }

    @Test func ignoreLabel() throws {
        // labels (1, −1, 2) with −1 ignored: sample 0 right, sample 2 wrong at top 1 → 1/2
        let rig = try LayerRig(try Self.accuracy("ignore_label: -1"), bottoms: [(Shape([3, 3]), Self.scores), (Shape([3]), [1, -1, 2])])
        #expect(try rig.forward()[0] == [0.5])
        // every sample ignored: nothing counted, accuracy 0
        rig.bottoms[1].view.copy(from: [-1, -1, -1])
        #expect(try rig.forward()[0] == [0])
    }

    @Test func perPosition() throws {
        // scores [1, 2, 2]: position 0 scores (0.9, 0.1), position 1 scores (0.1, 0.9); labels (0, 0) → 1/2
        let rig = try LayerRig(try Self.accuracy(), bottoms: [(Shape([1, 2, 2]), [0.9, 0.1, 0.1, 0.9]), (Shape([1, 2]), [0, 0])])
        #expect(try rig.forward()[0] == [0.5])
    }

    @Test func noBackward() throws {
        // Nothing flows back through accuracy, to either bottom; there is nothing to gradient-check.
        let layer = try Self.accuracy()
        #expect(!layer.propagates(toBottom: 0))
        #expect(!layer.propagates(toBottom: 1))
        #expect(!layer.isLoss)
        let rig = try LayerRig(layer, bottoms: [(Shape([3, 3]), Self.scores), (Shape([3]), Self.labels)])
        #expect(rig.io().bottomGrads.allSatisfy { $0 == nil })
    }

    @Test func labelOutOfRange() throws {
        let rig = try LayerRig(try Self.accuracy(), bottoms: [(Shape([3, 3]), Self.scores), (Shape([3]), [3, 0, 1])])
        let e = #expect(throws: LayerError.self) { try rig.forward() }
        #expect(e?.message == "label 3 of sample 0 is not a class index in 0..<3")
    }

    @Test func configErrors() {
        #expect(layerError("{name: acc, type: Accuracy, accuracy_param: {top_k: 0}}")
                == "layer 'acc' (Accuracy): accuracy_param.top_k: must be at least 1, found 0")
    }

    @Test func shapeErrors() throws {
        let e1 = #expect(throws: LayerError.self) { try Self.accuracy("top_k: 4").topShapes(for: [Shape([3, 3]), Shape([3])]) }
        #expect(e1?.message == "top_k 4 is more than the 3 classes")
        let e2 = #expect(throws: LayerError.self) { try Self.accuracy().topShapes(for: [Shape([3, 3]), Shape([2])]) }
        #expect(e2?.message == "2 labels (shape 2) for 3 predictions (scores 3×3)")
    }
}
