import DCore
@testable import DLayers
import Testing

@Suite struct LogLayerTests {
    static let yaml = "{name: log, type: Log, bottom: x, top: y}"
    static let base10 = "{name: log, type: Log, bottom: x, top: y, log_param: {base: 10, scale: 2, shift: 1}}"

    @Test func naturalByHand() throws {
        // ln x: 0, 1, −ln 2 = −0.6931472;  dx = dy / x
        let e: Float = 2.7182817
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3]), [1, e, 0.5])])
        #expect(close(try rig.forward()[0], [0, 1, -0.6931472]))
        rig.backward(topGrad: [[1, 2, 3]])
        #expect(close(rig.bottomGrads[0].values, [1, 0.7357589, 6]))
    }

    @Test func baseScaleShiftByHand() throws {
        // log₁₀(1 + 2x): arguments 1, 10, 100, 0.5 → 0, 1, 2, −0.30103
        let rig = try LayerRig(try makeLayer(Self.base10), bottoms: [(Shape([2, 2]), [0, 4.5, 49.5, -0.25])])
        #expect(close(try rig.forward()[0], [0, 1, 2, -0.30103]))
        // dx = dy·2 / (ln 10·(1 + 2x)) = 0.8685890 / argument: 0.8685890, 0.0868589, 0.00868589, 1.7371779
        rig.backward(topGrad: [[1, 1, 1, 1]])
        #expect(close(rig.bottomGrads[0].values, [0.8685890, 0.0868589, 0.00868589, 1.7371779]))
    }

    @Test func outsideTheDomainIsNotFinite() throws {
        // ln 0 = −∞, ln(−1) = NaN: no crash, the solver reports them
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2]), [0, -1])])
        let y = try rig.forward()[0]
        #expect(y[0] == -.infinity)
        #expect(y[1].isNaN)
    }

    @Test func gradients() throws {
        // arguments 2 + x in [1, 3) and 1 + 2x in [3, 7) for x in [1, 3): well above 0
        let natural = try LayerRig(try makeLayer("{name: log, type: Log, bottom: x, top: y, log_param: {shift: 2}}"),
                                   bottoms: [(Shape([3, 4]), randomValues(12))])
        #expect(try checkGradients(natural) == 12)
        try checkAccumulation(natural)
        let base10 = try LayerRig(try makeLayer(Self.base10), bottoms: [(Shape([3, 4]), randomValues(12).map { $0 + 2 })])
        #expect(try checkGradients(base10) == 12)
        try checkAccumulation(base10)
    }

    @Test func notInPlace() throws {
        #expect(try !makeLayer(Self.yaml).supportsInPlace)
    }

    @Test func configErrors() {
        #expect(layerError("{name: log, type: Log, log_param: {base: 1}}")
                == "layer 'log' (Log): log_param.base: must be positive and not 1, or −1 for e; found 1.0")
        #expect(layerError("{name: log, type: Log, log_param: {base: -3}}")
                == "layer 'log' (Log): log_param.base: must be positive and not 1, or −1 for e; found -3.0")
        #expect(layerError("{name: log, type: Log, log_param: {scale: x}}")
                == "layer 'log' (Log): log_param.scale: expected a number, found 'x'")
    }
}
