import DCore
@testable import DLayers
import Testing

@Suite struct EltwiseLayerTests {
    static func eltwise(_ param: String, bottoms: String = "[a, b, c]") throws -> any Layer {
        try makeLayer("{name: e, type: Eltwise, bottom: \(bottoms), top: y, eltwise_param: {\(param)}}")
    }

    static let a: [Float] = [1, 2, 3, -1], b: [Float] = [2, 0.5, -1, 3], c: [Float] = [0.5, 2, 2, 1]

    @Test func sumByHand() throws {
        // y = a − b: 1 − 2, 2 − 0.5, 3 + 1, −1 − 3
        let rig = try LayerRig(try Self.eltwise("operation: SUM, coeff: [1, -1]", bottoms: "[a, b]"),
                               bottoms: [(Shape([2, 2]), Self.a), (Shape([2, 2]), Self.b)])
        #expect(try rig.forward()[0] == [-1, 1.5, 4, -4])
        // da = dy, db = −dy
        rig.backward(topGrad: [[1, 2, 3, 4]])
        #expect(rig.bottomGrads[0].values == [1, 2, 3, 4])
        #expect(rig.bottomGrads[1].values == [-1, -2, -3, -4])
        // SUM is the default, with coefficients 1.
        let plain = try LayerRig(try makeLayer("{name: e, type: Eltwise, bottom: [a, b], top: y}"),
                                 bottoms: [(Shape([4]), Self.a), (Shape([4]), Self.b)])
        #expect(try plain.forward()[0] == [3, 2.5, 2, 2])
    }

    @Test func productByHand() throws {
        // y = a·b·c: 1·2·0.5 = 1, 2·0.5·2 = 2, 3·(−1)·2 = −6, −1·3·1 = −3
        let rig = try LayerRig(try Self.eltwise("operation: PROD"),
                               bottoms: [(Shape([4]), Self.a), (Shape([4]), Self.b), (Shape([4]), Self.c)])
        #expect(try rig.forward()[0] == [1, 2, -6, -3])
        // dy = 1 1 1 2: da = dy·b·c = 1, 1, −2, 6; db = dy·a·c = 0.5, 4, 6, −2; dc = dy·a·b = 2, 1, −3, −6
        rig.backward(topGrad: [[1, 1, 1, 2]])
        #expect(rig.bottomGrads.map(\.values) == [[1, 1, -2, 6], [0.5, 4, 6, -2], [2, 1, -3, -6]])
    }

    @Test func stableProductGradientAtZero() throws {
        // y = a·b with a = 0: da = dy·b = 3. The quotient y / a (stable_prod_grad false) is 0 / 0 there.
        let bottoms = [(Shape([1]), [Float(0)]), (Shape([1]), [Float(3)])]
        let stable = try LayerRig(try Self.eltwise("operation: PROD", bottoms: "[a, b]"), bottoms: bottoms)
        try stable.forward()
        stable.backward(topGrad: [[1]])
        #expect(stable.bottomGrads[0].values == [3])
        let quotient = try LayerRig(try Self.eltwise("operation: PROD, stable_prod_grad: false", bottoms: "[a, b]"), bottoms: bottoms)
        try quotient.forward()
        quotient.backward(topGrad: [[1]])
        #expect(quotient.bottomGrads[0].values[0].isNaN)
    }

    @Test func maxByHand() throws {
        // Element 2: a = b = c = 2, bottom 1 wins (it beats bottom 0 unless a is strictly larger; c is not larger).
        // Element 3: a = 2 > b = 1, then c = 2 only ties: bottom 0 keeps it.
        let rig = try LayerRig(try Self.eltwise("operation: MAX"),
                               bottoms: [(Shape([4]), [1, 5, 2, 2]), (Shape([4]), [3, 4, 2, 1]), (Shape([4]), [0, 6, 2, 2])])
        #expect(try rig.forward()[0] == [3, 6, 2, 2])
        // Winners 1, 2, 1, 0 take dy = 1 2 3 4.
        rig.backward(topGrad: [[1, 2, 3, 4]])
        #expect(rig.bottomGrads.map(\.values) == [[0, 0, 0, 4], [1, 0, 3, 0], [0, 2, 0, 0]])
    }

    @Test(arguments: ["operation: SUM, coeff: [0.5, -2, 3]", "operation: PROD", "operation: PROD, stable_prod_grad: false", "operation: MAX"])
    func gradients(_ param: String) throws {
        // Distinct values at least 0.05 apart (MAX's choice does not flip within h) and from 0 (the quotient).
        let values = distinctValues(36, seed: 4, scale: 2)
        let rig = try LayerRig(try Self.eltwise(param), bottoms: (0..<3).map { (Shape([2, 3, 2]), Array(values[($0 * 12)..<($0 * 12 + 12)])) })
        #expect(try checkGradients(rig) == 36)
        try checkAccumulation(rig)
    }

    @Test func configErrors() {
        #expect(layerError("{name: e, type: Eltwise, bottom: [a, b], eltwise_param: {operation: PROD, coeff: [1, 2]}}")
                == "layer 'e' (Eltwise): eltwise_param.coeff: coefficients are for operation SUM only, not PROD")
        #expect(layerError("{name: e, type: Eltwise, bottom: [a, b], eltwise_param: {coeff: [1, 2, 3]}}")
                == "layer 'e' (Eltwise): eltwise_param.coeff: 3 coefficients for 2 bottoms")
        #expect(layerError("{name: e, type: Eltwise, eltwise_param: {operation: MIN}}")
                == "layer 'e' (Eltwise): eltwise_param.operation: expected one of PROD, SUM, MAX, found 'MIN'")
    }

    @Test func shapeErrors() throws {
        let e = #expect(throws: LayerError.self) { try Self.eltwise("operation: SUM", bottoms: "[a, b]").topShapes(for: [Shape([2, 3]), Shape([3, 2])]) }
        #expect(e?.message == "bottom 1 has shape 3×2, bottom 0 2×3")
    }
}
