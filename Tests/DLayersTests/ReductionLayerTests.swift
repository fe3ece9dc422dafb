import DCore
@testable import DLayers
import Testing

@Suite struct ReductionLayerTests {
    static func reduction(_ param: String) throws -> any Layer {
        try makeLayer("{name: r, type: Reduction, bottom: x, top: y, reduction_param: {\(param)}}")
    }

    static let x = (Shape([2, 3]), [Float(1), -2, 0, -4, 5, 0.5])

    @Test func forwardByHand() throws {
        // Rows 1 −2 0 and −4 5 0.5 (axis 1).
        func reduce(_ param: String) throws -> [Float] { try LayerRig(try Self.reduction(param), bottoms: [Self.x]).forward()[0] }
        #expect(try reduce("operation: SUM, axis: 1") == [-1, 1.5])
        #expect(try reduce("operation: ASUM, axis: 1") == [3, 9.5])
        #expect(try reduce("operation: SUMSQ, axis: 1") == [5, 41.25])             // 1 + 4 + 0; 16 + 25 + 0.25
        #expect(close(try reduce("operation: MEAN, axis: 1"), [-1.0 / 3, 0.5]))
        #expect(try reduce("operation: SUM, axis: 1, coeff: -2") == [2, -3])
        // axis 0 (the default) reduces everything to a scalar: −1 + 1.5.
        let all = try LayerRig(try makeLayer("{name: r, type: Reduction, bottom: x, top: y}"), bottoms: [Self.x])
        #expect(all.tops[0].shape == .scalar)
        #expect(try all.forward()[0] == [0.5])
    }

    @Test func backwardByHand() throws {
        func grad(_ param: String, _ dy: [Float]) throws -> [Float] {
            let rig = try LayerRig(try Self.reduction(param), bottoms: [Self.x])
            try rig.forward()
            rig.backward(topGrad: [dy])
            return rig.bottomGrads[0].values
        }
        // SUM × coeff 2: every element of row r gets 2·dy[r].
        #expect(try grad("operation: SUM, axis: 1, coeff: 2", [1, -1]) == [2, 2, 2, -2, -2, -2])
        // ASUM: dy · sign(x), sign(0) = 0.
        #expect(try grad("operation: ASUM, axis: 1", [1, 2]) == [1, -1, 0, -2, 2, 2])
        // SUMSQ: 2x · dy.
        #expect(try grad("operation: SUMSQ, axis: 1", [1, 2]) == [2, -4, 0, -16, 20, 2])
        // MEAN: dy / 3.
        #expect(try grad("operation: MEAN, axis: 1", [3, 6]) == [1, 1, 1, 2, 2, 2])
    }

    @Test(arguments: ["SUM", "ASUM", "SUMSQ", "MEAN"])
    func gradients(_ op: String) throws {
        // ASUM's kink at 0: distinctValues stays 0.05 away from it.
        let rig = try LayerRig(try Self.reduction("operation: \(op), axis: -2, coeff: 1.5"), bottoms: [(Shape([2, 3, 4]), distinctValues(24))])
        #expect(rig.tops[0].shape == Shape([2]))
        #expect(try checkGradients(rig) == 24)
        try checkAccumulation(rig)
    }

    @Test func configErrors() {
        #expect(layerError("{name: r, type: Reduction, reduction_param: {operation: MAX}}")
                == "layer 'r' (Reduction): reduction_param.operation: expected one of SUM, ASUM, SUMSQ, MEAN, found 'MAX'")
    }

    @Test func shapeErrors() throws {
        let e = #expect(throws: LayerError.self) { try Self.reduction("axis: 2").topShapes(for: [Shape([2, 3])]) }
        #expect(e?.message == "axis 2 is out of range for bottom shape 2×3")
    }
}
