import DCore
@testable import DLayers
import Testing

@Suite struct NoiseLayerTests {
    @Test func maskingZeroesAFractionAndKeepsTheRest() throws {
        let x = (0..<4000).map { Float($0 % 13) + 1 }  // no zeros of its own
        let rig = try LayerRig(try makeLayer("{name: n, type: Noise, bottom: x, top: y, noise_param: {ratio: 0.3}}"), bottoms: [(Shape([40, 100]), x)])
        let y = try rig.forward()[0]
        let zeroed = y.filter { $0 == 0 }.count
        #expect(abs(Double(zeroed) / 4000 - 0.3) < 0.03, "\(zeroed)")
        #expect(zip(x, y).allSatisfy { $1 == 0 || $1 == $0 })  // kept values are not rescaled
        // The gradient passes where the value was kept.
        rig.backward(topGrad: [Array(repeating: 2, count: 4000)])
        #expect(zip(y, rig.bottomGrads[0].values).allSatisfy { $1 == ($0 == 0 ? 0 : 2) })
        // The same seed and iteration draw the same mask; the next iteration another.
        #expect(try rig.forward()[0] == y)
        rig.iteration = 1
        #expect(try rig.forward()[0] != y)
        // TEST: the identity.
        let test = try LayerRig(try makeLayer("{name: n, type: Noise, bottom: x, top: y, noise_param: {ratio: 0.3}}", phase: .test),
                                bottoms: [(Shape([40, 100]), x)], phase: .test)
        #expect(try test.forward()[0] == x)
    }

    @Test func gaussianAddsNoiseOfTheGivenStd() throws {
        let rig = try LayerRig(try makeLayer("{name: n, type: Noise, bottom: x, top: y, noise_param: {type: GAUSSIAN, sigma: 0.5}}"),
                               bottoms: [(Shape([50, 100]), Array(repeating: 1, count: 5000))])
        let noise = try rig.forward()[0].map { Double($0) - 1 }
        let mean = noise.reduce(0, +) / 5000, std = (noise.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 5000).squareRoot()
        #expect(abs(mean) < 0.03 && abs(std - 0.5) < 0.03, "mean \(mean), std \(std)")
        #expect(try checkGradients(try LayerRig(try makeLayer("{name: n, type: Noise, bottom: x, top: y, noise_param: {type: GAUSSIAN}}"),
                                                bottoms: [(Shape([2, 3]), randomValues(6))])) == 6)
    }

    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer("{name: n, type: Noise, bottom: x, top: y}"), bottoms: [(Shape([3, 4]), randomValues(12))])
        #expect(try checkGradients(rig) == 12)
        try checkAccumulation(rig)
        let inPlace = try LayerRig(try makeLayer("{name: n, type: Noise, bottom: x, top: y}"), bottoms: [(Shape([3, 4]), randomValues(12))], inPlace: true)
        #expect(try inPlace.forward()[0] == (try rig.forward()[0]))
    }

    @Test func configErrors() {
        #expect(layerError("{name: n, type: Noise, noise_param: {ratio: 1}}")?.contains("ratio: must be in [0, 1)") == true)
        #expect(layerError("{name: n, type: Noise, noise_param: {type: GAUSSIAN, ratio: 0.2}}")?.contains("ratio: applies to type: MASKING only") == true)
        #expect(layerError("{name: n, type: Noise, noise_param: {type: SALT}}")?.contains("expected one of MASKING, GAUSSIAN") == true)
    }
}
