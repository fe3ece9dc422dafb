import DConfig
import DCore
import DData
@testable import DLayers
import Foundation
import Testing

@Suite struct InfogainLossLayerTests {
    static let ln2: Float = 0.6931472, ln3: Float = 1.0986123
    /// H rows: label 0 rewards class 0 and half class 1, label 1 class 1 twice, label 2 class 2 and half class 0.
    static let h: [Float] = [1, 0.5, 0,
                             0, 2, 0,
                             0.5, 0, 1]
    /// Sample 0 scores (0, ln 2, ln 3) → p = (1/6, 1/3, 1/2); sample 1 (ln 3, ln 2, 0) → p = (1/2, 1/3, 1/6).
    static let scores: [Float] = [0, ln2, ln3, ln3, ln2, 0]

    static let dir: String = {
        let dir = NSTemporaryDirectory() + "dendrite-infogain-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try? IDXFile(dims: [3, 3], floats: h).write(to: dir + "/h.idx", gzip: false)
        try? IDXFile(dims: [3, 3], bytes: [1, 0, 0, 0, 1, 0, 0, 0, 1]).write(to: dir + "/identity.idx.gz", gzip: true)
        try? IDXFile(dims: [2, 2], floats: [1, 0, 0, 1]).write(to: dir + "/h2.idx", gzip: false)
        try? IDXFile(dims: [2, 3], floats: [1, 0, 0, 0, 1, 0]).write(to: dir + "/oblong.idx", gzip: false)
        return dir
    }()

    static func layer(_ params: String, bottoms: String = "[x, label]") throws -> any Layer {
        try makeLayer("{name: loss, type: InfogainLoss, bottom: \(bottoms), top: loss\(params.isEmpty ? "" : ", " + params)}",
                      netFile: dir + "/net.yaml")
    }

    /// −Σ_k H[label, k]·log p_k:
    ///   sample 0, label 0: −(1·log(1/6) + 0.5·log(1/3)) = ln 6 + ½ ln 3 = 2.3410656
    ///   sample 1, label 2: −(0.5·log(1/2) + 1·log(1/6)) = ½ ln 2 + ln 6 = 2.1383331
    /// VALID (the default) over 2 samples: 4.4793987 / 2 = 2.2396993.
    /// Gradients (p_j·Σ_k H[label, k] − H[label, j]) / 2, both row sums 1.5:
    ///   sample 0: ((1/4, 1/2, 3/4) − (1, 0.5, 0)) / 2 = (−0.375, 0, 0.375)
    ///   sample 1: ((3/4, 1/2, 1/4) − (0.5, 0, 1)) / 2 = (0.125, 0.25, −0.375)
    static let loss: Float = 2.2396993
    static let gradient: [Float] = [-0.375, 0, 0.375, 0.125, 0.25, -0.375]

    @Test func byHandWithMatrixBottom() throws {
        let layer = try Self.layer("", bottoms: "[x, label, H]")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 3]), Self.scores), (Shape([2]), [0, 2]), (Shape([3, 3]), Self.h)])
        #expect(layer.isLoss && rig.tops[0].shape == .scalar)
        #expect(close(try rig.forward()[0], [Self.loss]))
        rig.backward(topGrad: [[1]])
        #expect(close(rig.bottomGrads[0].values, Self.gradient))
        #expect(layer.propagates(toBottom: 0) && !layer.propagates(toBottom: 1) && !layer.propagates(toBottom: 2))
    }

    @Test func byHandWithSourceRelativeToTheNetFile() throws {
        let rig = try LayerRig(try Self.layer("infogain_loss_param: {source: h.idx}"), bottoms: [(Shape([2, 3]), Self.scores), (Shape([2]), [0, 2])])
        #expect(close(try rig.forward()[0], [Self.loss]))
        rig.backward(topGrad: [[2]])
        #expect(close(rig.bottomGrads[0].values, Self.gradient.map { 2 * $0 }))
    }

    @Test func identityIsSoftmaxWithLoss() throws {
        // H = I (a gzip'd byte file) makes it SoftmaxWithLoss, here along axis 1 of [2, 3, 2] with an ignored label.
        let scores = randomValues(12, seed: 6, scale: 2), labels: [Float] = [2, 255, 0, 1]
        let infogain = try LayerRig(try Self.layer("infogain_loss_param: {source: identity.idx.gz}, loss_param: {ignore_label: 255}"),
                                    bottoms: [(Shape([2, 3, 2]), scores), (Shape([2, 2]), labels)])
        let softmax = try LayerRig(try makeLayer("{name: loss, type: SoftmaxWithLoss, bottom: [x, label], top: loss, loss_param: {ignore_label: 255}}"),
                                   bottoms: [(Shape([2, 3, 2]), scores), (Shape([2, 2]), labels)])
        #expect(close(try infogain.forward()[0], try softmax.forward()[0]))
        infogain.backward(topGrad: [[1]])
        softmax.backward(topGrad: [[1]])
        #expect(close(infogain.bottomGrads[0].values, softmax.bottomGrads[0].values))
        // the ignored label is sample 0's position 1: elements (0, c, 1) of [sample, class, position]
        #expect([1, 3, 5].map { infogain.bottomGrads[0].values[$0] } == [0, 0, 0])
    }

    @Test func normalizationAndIgnoredSamples() throws {
        // Ignoring sample 1 (label 1 = ignore_label) leaves 2.3410656; BATCH_SIZE divides it by the 2 samples.
        let rig = try LayerRig(try Self.layer("loss_param: {ignore_label: 1, normalization: BATCH_SIZE}", bottoms: "[x, label, H]"),
                               bottoms: [(Shape([2, 3]), Self.scores), (Shape([2]), [0, 1]), (Shape([3, 3]), Self.h)])
        #expect(close(try rig.forward()[0], [2.3410656 / 2]))
        rig.backward(topGrad: [[1]])
        #expect(close(rig.bottomGrads[0].values, [-0.375, 0, 0.375, 0, 0, 0]))
    }

    @Test func caffesLogThreshold() throws {
        // Scores (0, −100): p_1 = e^−100 ≈ 3.7e−44, floored at Caffe's 1e−20 before the log. With
        // H row 0 = (0, 1) the loss is −log 1e−20 = 46.0517019 (SoftmaxWithLoss's FLT_MIN floor would give about 87.3).
        let rig = try LayerRig(try Self.layer("", bottoms: "[x, label, H]"),
                               bottoms: [(Shape([1, 2]), [0, -100]), (Shape([1]), [0]), (Shape([2, 2]), [0, 1, 0, 1])])
        #expect(close(try rig.forward()[0], [46.0517019]))
    }

    @Test func gradients() throws {
        var rng = RandomStream(seed: 17)
        let h = (0..<16).map { _ in rng.nextUnitFloat() * 2 }
        let rig = try LayerRig(try Self.layer("infogain_loss_param: {axis: 1}", bottoms: "[x, label, H]"),
                               bottoms: [(Shape([3, 4]), randomValues(12, scale: 2)), (Shape([3]), [0, 3, 2]), (Shape([4, 4]), h)])
        #expect(try checkGradients(rig, checkBottoms: [0]) == 12)
        try checkAccumulation(rig)
        // Along axis 2 of [2, 2, 3], the source file's H.
        let spatial = try LayerRig(try Self.layer("infogain_loss_param: {source: h.idx, axis: -1}, loss_param: {normalization: FULL}"),
                                   bottoms: [(Shape([2, 2, 3]), randomValues(12, seed: 9, scale: 2)), (Shape([2, 2]), [0, 2, 1, 1])])
        #expect(try checkGradients(spatial, checkBottoms: [0]) == 12)
        try checkAccumulation(spatial)
    }

    @Test func badLabels() throws {
        let rig = try LayerRig(try Self.layer("infogain_loss_param: {source: h.idx}"), bottoms: [(Shape([2, 3]), Self.scores), (Shape([2]), [0, 3])])
        let e = #expect(throws: LayerError.self) { try rig.forward() }
        #expect(e?.message == "label 3 of sample 1 is not a class index in 0..<3")
        rig.bottoms[1].view.copy(from: [1.5, 0])
        let fraction = #expect(throws: LayerError.self) { try rig.forward() }
        #expect(fraction?.message == "label 1.5 of sample 0 is not a class index in 0..<3")
    }

    @Test func matrixShapeErrors() throws {
        let fromBottom = try Self.layer("", bottoms: "[x, label, H]")
        let e1 = #expect(throws: LayerError.self) { try fromBottom.topShapes(for: [Shape([2, 3]), Shape([2]), Shape([2, 2])]) }
        #expect(e1?.message == "the infogain matrix (bottom 2) is 2×2, the scores have 3 classes (2×3, axis 1)")
        let fromFile = try Self.layer("infogain_loss_param: {source: h2.idx}")
        let e2 = #expect(throws: LayerError.self) { try fromFile.topShapes(for: [Shape([2, 3]), Shape([2])]) }
        #expect(e2?.message == "the infogain matrix in \(Self.dir)/h2.idx is 2×2, the scores have 3 classes (2×3, axis 1)")
        let e3 = #expect(throws: LayerError.self) { try fromFile.topShapes(for: [Shape([2, 2]), Shape([3])]) }
        #expect(e3?.message == "3 labels (shape 3) for 2 predictions (scores 2×2)")
        let axis = try Self.layer("infogain_loss_param: {source: h2.idx, axis: 2}")
        let e4 = #expect(throws: LayerError.self) { try axis.topShapes(for: [Shape([2, 2]), Shape([2])]) }
        #expect(e4?.message == "axis 2 is out of range for bottom shape 2×2")
    }

    @Test func configErrors() {
        func message(_ params: String, bottoms: String = "[x, label]") -> String {
            do { _ = try Self.layer(params, bottoms: bottoms); return "accepted" } catch let e as ConfigError { return e.message + " | " + (e.hint ?? "") } catch { return "\(error)" }
        }
        for (params, bottoms, expected) in [
            ("", "[x, label]", "missing required key 'infogain_loss_param.source'"),
            ("infogain_loss_param: {source: H.binaryproto}", "[x, label]", "Caffe's binaryproto files are not read | write the infogain matrix H [K, K] as an IDX file"),
            ("infogain_loss_param: {source: nowhere.idx}", "[x, label]", "infogain_loss_param.source: \(Self.dir)/nowhere.idx: cannot open the infogain matrix file"),
            ("infogain_loss_param: {source: oblong.idx}", "[x, label]", "the infogain matrix is 2×3, not square"),
            ("infogain_loss_param: {source: h.idx}", "[x, label, H]", "the third bottom 'H' is the infogain matrix; give it as a bottom or as source, not both"),
            ("infogain_loss_param: {source: h.idx, axes: 1}", "[x, label]", "unknown key 'axes' in infogain_loss_param"),
            ("infogain_loss_param: {source: h.idx}, loss_param: {normalization: MEAN}", "[x, label]", "loss_param.normalization: expected one of"),
        ] {
            #expect(message(params, bottoms: bottoms).contains(expected), "\(message(params, bottoms: bottoms))")
        }
    }
}
