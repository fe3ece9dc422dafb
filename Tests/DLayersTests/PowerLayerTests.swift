import DCore
@testable import DLayers
import Testing

@Suite struct PowerLayerTests {
    static func power(_ params: String) throws -> any Layer {
        try makeLayer("{name: pow, type: Power, bottom: x, top: y, power_param: {\(params)}}")
    }

    @Test func squareByHand() throws {
        // (1 + 0.5·x)²: bases −1, 0, 1, 1.5, 2, 2.5 → 1, 0, 1, 2.25, 4, 6.25
        let rig = try LayerRig(try Self.power("power: 2, scale: 0.5, shift: 1"), bottoms: [(Shape([2, 3]), [-4, -2, 0, 1, 2, 3])])
        #expect(close(try rig.forward()[0], [1, 0, 1, 2.25, 4, 6.25]))
        // dx = dy·2·0.5·base = the base
        rig.backward(topGrad: [[1, 1, 1, 1, 1, 1]])
        #expect(close(rig.bottomGrads[0].values, [-1, 0, 1, 1.5, 2, 2.5]))
    }

    @Test func squareRootAndItsDomain() throws {
        // x^0.5: 2, 0.5, 3, 0, and NaN for −1 (no crash: the solver reports the NaN)
        let rig = try LayerRig(try Self.power("power: 0.5"), bottoms: [(Shape([5]), [4, 0.25, 9, 0, -1])])
        let y = try rig.forward()[0]
        #expect(close(Array(y[..<4]), [2, 0.5, 3, 0]))
        #expect(y[4].isNaN)
        // dx = 0.5·x^−0.5: 1/4, 1, 1/6, +∞ at 0
        rig.backward(topGrad: [[1, 1, 1, 1, 1]])
        let dx = rig.bottomGrads[0].values
        #expect(close(Array(dx[..<3]), [0.25, 1, 0.1666667]))
        #expect(dx[3] == .infinity)
    }

    @Test func constantWhenPowerTimesScaleIsZero() throws {
        // power 0 → 1;  scale 0 → shift^power = 2³ = 8: whatever x is, even ∞, and no gradient
        for (params, value): (String, Float) in [("power: 0, shift: 3", 1), ("power: 3, scale: 0, shift: 2", 8)] {
            let layer = try Self.power(params)
            #expect(layer.supportsInPlace)
            let rig = try LayerRig(layer, bottoms: [(Shape([4]), [-1, 0, 5, .infinity])])
            #expect(try rig.forward()[0] == [value, value, value, value])
            rig.backward(topGrad: [[1, 2, 3, 4]])
            #expect(rig.bottomGrads[0].values == [0, 0, 0, 0])
        }
    }

    @Test func affineByHand() throws {
        // power 1: y = 2 − 3x, dx = −3·dy, in place
        let layer = try Self.power("scale: -3, shift: 2")
        #expect(layer.supportsInPlace)
        let rig = try LayerRig(layer, bottoms: [(Shape([3]), [0, 1, -0.5])], inPlace: true)
        #expect(try rig.forward()[0] == [2, -1, 3.5])
        rig.backward(topGrad: [[1, 2, 3]])
        #expect(rig.bottomGrads[0].values == [-3, -6, -9])
    }

    @Test(arguments: ["power: 3, scale: -0.7, shift: 0.4", "power: -1.5, scale: 0.5, shift: 2", "power: 2", "scale: 1.5, shift: -1"])
    func gradients(_ params: String) throws {
        let rig = try LayerRig(try Self.power(params), bottoms: [(Shape([3, 4]), randomValues(12))])
        #expect(try checkGradients(rig) == 12)
        try checkAccumulation(rig)
    }

    @Test func inPlaceOnlyWithAConstantGradient() throws {
        // a general power's gradient needs x, which the top has overwritten
        #expect(try !Self.power("power: 2").supportsInPlace)
        #expect(try !Self.power("power: 0.5, shift: 1").supportsInPlace)
        #expect(try makeLayer("{name: pow, type: Power, bottom: x, top: y}").supportsInPlace)  // the identity
    }

    @Test func configErrors() {
        #expect(layerError("{name: pow, type: Power, power_param: {power: two}}")
                == "layer 'pow' (Power): power_param.power: expected a number, found 'two'")
        #expect(layerError("{name: pow, type: Power, power_param: {exponent: 2}}")
                == "layer 'pow' (Power): unknown key 'exponent' in power_param")
    }

    @Test func flopsFollowTheKernelsCases() throws {
        // 10 elements. Power 2: a multiply-add and pow forward (3), a multiply-add, pow and three multiplies
        // backward (5). Power 1: the multiply-add forward (2), one multiply by the constant gradient backward.
        // power·scale 0: a constant output (nothing) and a constant (zero) gradient.
        func flops(_ param: String) throws -> (Double, Double) {
            try makeLayer("{name: p, type: Power, bottom: x, top: y, power_param: {\(param)}}").flops(for: [Shape([2, 5])])
        }
        #expect(try flops("power: 2, scale: 0.5, shift: 1") == (30, 50))
        #expect(try flops("power: 1, scale: 3") == (20, 10))
        #expect(try flops("power: 3, scale: 0, shift: 2") == (0, 10))
    }
}
