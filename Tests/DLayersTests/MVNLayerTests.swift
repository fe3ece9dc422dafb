import DCore
@testable import DLayers
import Testing

@Suite struct MVNLayerTests {
    static func mvn(_ param: String) throws -> any Layer {
        try makeLayer("{name: mvn, type: MVN, bottom: x, top: y, mvn_param: {\(param)}}")
    }

    // One sample, two channels of four: 1 2 3 6 (mean 3) and 2 2 2 2 (mean 2, std 0).
    static let x = (Shape([1, 2, 4]), [Float(1), 2, 3, 6, 2, 2, 2, 2])

    @Test func forwardByHand() throws {
        // Mean only: x − mean per channel.
        let mean = try LayerRig(try Self.mvn("normalize_variance: false"), bottoms: [Self.x])
        #expect(try mean.forward()[0] == [-2, -1, 0, 3, 0, 0, 0, 0])
        // var = (4 + 1 + 0 + 9) / 4 = 3.5, std = 1.870829; the constant channel is 0 / (0 + eps) = 0.
        let s = Float(3.5).squareRoot()
        let rig = try LayerRig(try makeLayer("{name: mvn, type: MVN, bottom: x, top: y}"), bottoms: [Self.x])
        #expect(close(try rig.forward()[0], [-2 / s, -1 / s, 0, 3 / s, 0, 0, 0, 0]))
        // across_channels: one row of 8, mean 20 / 8 = 2.5, var = (2.25 + 0.25 + 0.25 + 12.25 + 4·0.25) / 8 = 2.
        let across = try LayerRig(try Self.mvn("across_channels: true"), bottoms: [Self.x])
        #expect(close(try across.forward()[0], [-1.5, -0.5, 0.5, 3.5, -0.5, -0.5, -0.5, -0.5].map { $0 / Float(2).squareRoot() }))
    }

    @Test func epsIsAddedToTheStandardDeviation() throws {
        // eps 1: (x − mean) / (std + 1), not / √(var + 1).
        let s = Float(3.5).squareRoot() + 1
        let rig = try LayerRig(try Self.mvn("eps: 1"), bottoms: [Self.x])
        #expect(close(Array(try rig.forward()[0].prefix(4)), [-2 / s, -1 / s, 0, 3 / s]))
    }

    @Test func backwardByHand() throws {
        // Mean only: dx = dy − mean(dy): dy 1 2 3 6 (mean 3) and 4 4 4 0 (mean 3).
        let rig = try LayerRig(try Self.mvn("normalize_variance: false"), bottoms: [Self.x])
        try rig.forward()
        rig.backward(topGrad: [[1, 2, 3, 6, 4, 4, 4, 0]])
        #expect(rig.bottomGrads[0].values == [-2, -1, 0, 3, 1, 1, 1, -3])
        // Normalised, with dy = y: mean(dy) = 0 and mean(y·dy) = mean(y²) = 1, so dx = (y − y) / std = 0.
        let norm = try LayerRig(try makeLayer("{name: mvn, type: MVN, bottom: x, top: y}"), bottoms: [(Shape([1, 1, 4]), [1, 2, 3, 6])])
        let y = try norm.forward()[0]
        norm.backward(topGrad: [y])
        #expect(close(norm.bottomGrads[0].values, [0, 0, 0, 0]))
    }

    @Test(arguments: ["", "normalize_variance: false", "across_channels: true"])
    func gradients(_ param: String) throws {
        let rig = try LayerRig(try Self.mvn(param), bottoms: [(Shape([2, 3, 6]), randomValues(36))])
        #expect(try checkGradients(rig) == 36)
        try checkAccumulation(rig)
    }

    @Test func configErrors() {
        #expect(layerError("{name: mvn, type: MVN, mvn_param: {eps: -1}}") == "layer 'mvn' (MVN): mvn_param.eps: must not be negative, found -1.0")
        #expect(layerError("{name: mvn, type: MVN, mvn_param: {epsilon: 1}}") == "layer 'mvn' (MVN): unknown key 'epsilon' in mvn_param")
    }
}
