import DCore
@testable import DLayers
import Testing

@Suite struct BatchNormLayerTests {
    static let yaml = "{name: bn, type: BatchNorm, bottom: x, top: y, batch_norm_param: {eps: 4}}"
    // x [N=2, C=2, S=2]: channel 0 holds 1, 3 | 5, 7 and channel 1 holds 0, 2 | 4, 6.
    static let x: [Float] = [1, 3, 0, 2,
                             5, 7, 4, 6]

    @Test func forwardByHand() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 2, 2]), Self.x)])
        #expect(rig.params.map(\.shape) == [Shape([2]), Shape([2]), Shape([1])])
        // TRAIN, batch statistics: channel 0 has μ = 4, σ² = (9 + 1 + 1 + 9) / 4 = 5, channel 1
        // μ = 3, σ² = 5; with eps 4, y = (x − μ) / 3.
        let third: Float = 1 / 3
        #expect(close(try rig.forward()[0], [-1, -third, -1, -third, third, 1, third, 1]))
        // The running sums after one batch (maf 0.999 times zeros): factor 1, mean μ, variance
        // m/(m − 1)·σ² = 4/3 · 5.
        #expect(close(rig.params[0].values, [4, 3]) && close(rig.params[1].values, [20 / 3, 20 / 3]) && rig.params[2].values == [1])
        // A second batch: every sum is maf times the old plus the new.
        try rig.forward()
        #expect(close(rig.params[2].values, [1.999]) && close(rig.params[0].values, [4 * 1.999, 3 * 1.999]))

        // TEST, global statistics: μ = mean / factor = 4 and 3, σ² = 20/3; y = (x − μ) / √(20/3 + 4).
        let test = try LayerRig(try makeLayer(Self.yaml, phase: .test), bottoms: [(Shape([2, 2, 2]), Self.x)], phase: .test)
        test.params[0].view.copy(from: [8, 6])
        test.params[1].view.copy(from: [40 / 3, 40 / 3])
        test.params[2].view.copy(from: [2])
        let k = 1 / (Float(20) / 3 + 4).squareRoot()
        #expect(close(try test.forward()[0], [-3 * k, -k, -3 * k, -k, k, 3 * k, k, 3 * k]))
        #expect(test.params[2].values == [2])  // TEST leaves the statistics alone
        // Nothing accumulated yet (factor 0): the mean and variance count as zero.
        test.params[2].view.copy(from: [0])
        #expect(close(try test.forward()[0], Self.x.map { $0 / 2 }))
    }

    @Test func gradients() throws {
        // TRAIN: the batch statistics depend on x. The running sums do not reach the output, and
        // no gradient is computed for them (both sides of the check are zero).
        let train = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 2, 4]), randomValues(24, scale: 2))])
        #expect(try checkGradients(train) == 24 + 5)
        try checkAccumulation(train)
        // TEST: constants.
        let test = try LayerRig(try makeLayer(Self.yaml, phase: .test), bottoms: [(Shape([3, 2, 4]), randomValues(24, scale: 2))], phase: .test)
        test.params[0].view.copy(from: [0.5, -1]); test.params[1].view.copy(from: [2, 3]); test.params[2].view.copy(from: [1.5])
        #expect(try checkGradients(test, checkParameters: []) == 24)
        // use_global_stats in TRAIN as well.
        let global = try LayerRig(try makeLayer("{name: bn, type: BatchNorm, bottom: x, top: y, batch_norm_param: {use_global_stats: true}}"),
                                  bottoms: [(Shape([2, 3]), randomValues(6))])
        global.params[1].view.copy(from: [1, 2, 3]); global.params[2].view.copy(from: [1])
        #expect(try checkGradients(global, checkParameters: []) == 6)
        #expect(global.params[2].values == [1])
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        let x = randomValues(24, scale: 2), dy = randomValues(24, seed: 12)
        let out = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 2, 4]), x)])
        let inPlace = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 2, 4]), x)], inPlace: true)
        #expect(try inPlace.forward()[0] == (try out.forward()[0]))
        out.backward(topGrad: [dy])
        inPlace.backward(topGrad: [dy])
        #expect(inPlace.bottomGrads[0].values == out.bottomGrads[0].values)
    }

    @Test func configErrors() {
        #expect(layerError("{name: bn, type: BatchNorm, batch_norm_param: {eps: 0}}") == "layer 'bn' (BatchNorm): batch_norm_param.eps: must be a positive number, found 0.0")
        #expect(layerError("{name: bn, type: BatchNorm, batch_norm_param: {moving_average_fraction: 1.5}}")?.contains("must be in [0, 1]") == true)
        #expect(layerError("{name: bn, type: BatchNorm, batch_norm_param: {scale_bias: true}}")?.contains("unknown key 'scale_bias'") == true)
    }
}
