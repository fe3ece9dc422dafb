@testable import DCore
import Testing

/// The statistics of a tensor made of `values`, kept alive while they are computed (a view
/// does not keep its tensor's memory).
func statistics(_ dims: [Int], _ values: [Float]? = nil) -> UnitStatistics {
    let t = values.map { Tensor(shape: Shape(dims), values: $0) } ?? Tensor(shape: Shape(dims))
    return withExtendedLifetime(t) { UnitStatistics.of(t.view) }
}

func ratio(_ gradient: [Float], _ weights: [Float]) -> Double? {
    let g = Tensor(shape: Shape([gradient.count]), values: gradient), w = Tensor(shape: Shape([weights.count]), values: weights)
    return withExtendedLifetime((g, w)) { UnitStatistics.normRatio(gradient: g.view, weights: w.view) }
}

/// The solver's `monitor` statistics on blobs small enough to work out by hand.
@Suite struct UnitStatisticsTests {
    /// An N×C blob: 4 samples (rows) of 4 units (columns).
    ///   u0 = 1 2 3 4      u1 = 2·u0, correlation 1 with u0
    ///   u2 = 0 0 1 1      centred −½ −½ ½ ½; with u0 centred −1.5 −.5 .5 1.5:
    ///                     r = 2 / (√5 · 1) = 0.894427
    ///   u3 = 0 0 0 0      never > 0 (dead), and constant: left out of the correlations
    /// mean = 32/16 = 2; Σx² = 30 + 120 + 2 = 152, variance 152/16 − 4 = 5.5
    /// mean |r| over (0,1), (0,2), (1,2) = (1 + 2·0.894427) / 3 = 0.929618
    @Test func innerProductBlobByHand() {
        let s = statistics([4, 4], [1, 2, 0, 0,
                                    2, 4, 0, 0,
                                    3, 6, 1, 0,
                                    4, 8, 1, 0])
        #expect(s.units == 4 && s.varyingUnits == 3)
        #expect(abs(s.mean - 2) < 1e-12)
        #expect(abs(s.std - 5.5.squareRoot()) < 1e-9)
        #expect(s.deadFraction == 0.25)
        #expect(abs(s.meanAbsCorrelation! - (1 + 4 / 5.0.squareRoot()) / 3) < 1e-5)
    }

    /// An N×C×H×W blob, 2×2×1×2: a unit is a channel, its samples the N·H·W = 4 positions.
    ///   channel 0: n0 (1, −1), n1 (2, 0)   → 1 −1 2 0, fires
    ///   channel 1: n0 (−1, 0), n1 (−3, −2) → −1 0 −3 −2, never > 0: dead, but varying
    /// centred: .5 −1.5 1.5 −.5 and .5 1.5 −1.5 −.5, dot −4, both squared norms 5: r = −0.8.
    /// mean = −4/8 = −0.5; Σx² = 20, variance 20/8 − 0.25 = 2.25, std 1.5.
    /// Read as N×C with H·W as units instead, there would be no dead unit.
    @Test func convolutionBlobUnitsAreChannels() {
        let s = statistics([2, 2, 1, 2], [1, -1, -1, 0,
                                          2, 0, -3, -2])
        #expect(s.units == 2 && s.varyingUnits == 2)
        #expect(abs(s.mean + 0.5) < 1e-12 && abs(s.std - 1.5) < 1e-9)
        #expect(s.deadFraction == 0.5)
        #expect(abs(s.meanAbsCorrelation! - 0.8) < 1e-6)
    }

    /// A dead ReLU layer: every value 0. All units dead, no variance, no correlation.
    @Test func allZeroBlobIsDeadWithoutCorrelation() {
        let s = statistics([3, 5])
        #expect(s.deadFraction == 1 && s.std == 0 && s.mean == 0)
        #expect(s.varyingUnits == 0 && s.meanAbsCorrelation == nil)
        // One varying unit is still no pair.
        let one = statistics([3, 2], [1, 0, 2, 0, 4, 0])
        #expect(one.meanAbsCorrelation == nil && one.deadFraction == 0.5 && one.varyingUnits == 1)
    }

    /// The GEMM path against the pairwise definition, on 40 channels of 3×2×3 positions
    /// (seeded values, a few channels pushed below zero or made constant).
    @Test func correlationMatchesPairwiseDefinition() {
        let n = 3, c = 40, inner = 6
        var rng = RandomStream(seed: 11)
        var values = (0..<(n * c * inner)).map { _ in rng.nextUnitFloat() * 2 - 1 }
        for b in 0..<n {
            for i in 0..<inner {
                values[(b * c + 7) * inner + i] = 0.5  // channel 7 constant
                values[(b * c + 9) * inner + i] = -abs(values[(b * c + 9) * inner + i])  // channel 9 dead
                values[(b * c + 12) * inner + i] += 0.3 * values[(b * c + 11) * inner + i] * 5  // 12 follows 11
            }
        }
        func samples(_ ch: Int) -> [Double] {
            (0..<n).flatMap { b in (0..<inner).map { Double(values[(b * c + ch) * inner + $0]) } }
        }
        func pearson(_ a: [Double], _ b: [Double]) -> Double {
            let ma = a.reduce(0, +) / Double(a.count), mb = b.reduce(0, +) / Double(b.count)
            let cov = zip(a, b).reduce(0) { $0 + ($1.0 - ma) * ($1.1 - mb) }
            let va = a.reduce(0) { $0 + ($1 - ma) * ($1 - ma) }, vb = b.reduce(0) { $0 + ($1 - mb) * ($1 - mb) }
            return cov / (va * vb).squareRoot()
        }
        let varying = (0..<c).filter { $0 != 7 }
        var total = 0.0, pairs = 0
        for (i, a) in varying.enumerated() {
            for b in varying[(i + 1)...] { total += abs(pearson(samples(a), samples(b))); pairs += 1 }
        }
        let s = statistics([n, c, 2, 3], values)
        #expect(s.varyingUnits == 39 && pairs == 39 * 38 / 2)
        #expect(s.deadFraction == 1.0 / 40)
        #expect(abs(s.meanAbsCorrelation! - total / Double(pairs)) < 1e-5)
    }

    /// ‖(3, 4)‖ / ‖(6, 8)‖ = 5 / 10; all-zero weights have no ratio.
    @Test func gradientToWeightRatio() {
        #expect(ratio([3, 4], [6, -8]) == 0.5)
        #expect(ratio([3, 4], [0, 0]) == nil)
    }
}
