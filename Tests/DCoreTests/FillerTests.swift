@testable import DCore
import Testing

@Suite struct FillerTests {
    static func fill(_ filler: Filler, _ dims: [Int], seed: UInt64 = 3) -> [Float] {
        let t = Tensor(shape: Shape(dims))
        t.view.fill(.nan)
        var rng = RandomStream(seed: seed)
        filler.fill(t.view, rng: &rng)
        return t.values
    }

    static func moments(_ xs: [Float]) -> (mean: Double, std: Double) {
        let mean = xs.reduce(0.0) { $0 + Double($1) } / Double(xs.count)
        let variance = xs.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(xs.count - 1)
        return (mean, variance.squareRoot())
    }

    @Test func constant() {
        #expect(Self.fill(.constant(value: 0.25), [3, 4]) == [Float](repeating: 0.25, count: 12))
        #expect(Self.fill(.constant(value: 0), [5]) == [0, 0, 0, 0, 0])
    }

    @Test func uniformWithinBounds() {
        let v = Self.fill(.uniform(min: -2, max: 3), [100, 100])
        #expect(v.allSatisfy { $0 >= -2 && $0 < 3 })
        // mean 0.5, std 5 / √12 = 1.443; both ends reached
        let m = Self.moments(v)
        #expect(abs(m.mean - 0.5) < 0.1)
        #expect(abs(m.std - 1.443) < 0.05)
        #expect(v.min()! < -1.9 && v.max()! > 2.9)
    }

    @Test func gaussian() {
        let m = Self.moments(Self.fill(.gaussian(mean: 1, std: 0.5), [100, 100]))
        #expect(abs(m.mean - 1) < 0.025)
        #expect(abs(m.std - 0.5) < 0.025)
    }

    @Test func fans() {
        // Caffe: fan_in = count / shape[0], fan_out = count / shape[1]
        #expect(Filler.fan(Shape([10, 20]), .fanIn) == 20)
        #expect(Filler.fan(Shape([10, 20]), .fanOut) == 10)
        #expect(Filler.fan(Shape([50, 20, 3, 3]), .fanIn) == 180)
        #expect(Filler.fan(Shape([50, 20, 3, 3]), .fanOut) == 450)
        #expect(Filler.fan(Shape([50, 20, 3, 3]), .average) == 315)
    }

    @Test(arguments: [(Filler.VarianceNorm.fanIn, Float(180)), (.fanOut, 450), (.average, 315)])
    func xavierWithinBound(_ norm: Filler.VarianceNorm, _ fan: Float) {
        // weight [50, 20, 3, 3]: uniform in ±sqrt(3 / fan), so variance 1 / fan
        let bound = (3 / fan).squareRoot()
        let v = Self.fill(.xavier(norm), [50, 20, 3, 3])
        #expect(v.allSatisfy { abs($0) <= bound })
        #expect(v.max()! > 0.95 * bound && v.min()! < -0.95 * bound)  // the whole range, not a narrower one
        let m = Self.moments(v)
        #expect(abs(m.mean) < 0.05 * Double(bound))
        #expect(abs(m.std - Double(1 / fan.squareRoot())) < 0.03 * Double(1 / fan.squareRoot()))
    }

    @Test func xavierInnerProductFanIn() {
        // weight [out 4, in 300]: fan_in 300 → ±0.1
        let v = Self.fill(.xavier(.fanIn), [4, 300])
        #expect(v.allSatisfy { abs($0) <= 0.1 })
        #expect(v.contains { abs($0) > 0.09 })
    }

    @Test func msraStd() {
        // weight [20, 500]: fan_in 500 → std sqrt(2 / 500) = 0.0632456, mean 0
        let m = Self.moments(Self.fill(.msra(.fanIn), [20, 500]))
        #expect(abs(m.mean) < 0.004)
        #expect(abs(m.std - 0.0632456) < 0.04 * 0.0632456)
        // fan_out of [20, 500, 1, 1] is count / shape[1] = 10000 / 500 = 20 → std sqrt(2 / 20) = 0.3162278
        let out = Self.moments(Self.fill(.msra(.fanOut), [20, 500, 1, 1]))
        #expect(abs(out.std - 0.3162278) < 0.04 * 0.3162278)
    }

    @Test func sparseGaussianKeepsSparseOverShape0() {
        // Caffe's rule: each value nonzero with probability sparse / shape[0] = 5 / 20 = 1/4
        let v = Self.fill(.sparseGaussian(mean: 0, std: 1, sparse: 5), [20, 1000])
        let nonzero = v.filter { $0 != 0 }
        // 20 000 draws: the fraction's std is sqrt(1/4 · 3/4 / 20 000) = 0.003
        #expect(abs(Double(nonzero.count) / 20000 - 0.25) < 0.015)
        let m = Self.moments(nonzero)  // the kept values are still N(0, 1)
        #expect(abs(m.mean) < 0.05 && abs(m.std - 1) < 0.05)
        // A convolution weight [10, 3, 5, 5], sparse 2: 2 / 10 = 1/5 of 750 (std 0.0146)
        let conv = Self.fill(.sparseGaussian(mean: 0, std: 1, sparse: 2), [10, 3, 5, 5])
        #expect(abs(Double(conv.filter { $0 != 0 }.count) / 750 - 0.2) < 0.06)
    }

    @Test func sparseGaussianEnds() {
        // sparse 0 keeps nothing; sparse ≥ shape[0] keeps everything (probability capped at 1)
        #expect(Self.fill(.sparseGaussian(mean: 1, std: 1, sparse: 0), [4, 50]).allSatisfy { $0 == 0 })
        let all = Self.fill(.sparseGaussian(mean: 0, std: 1, sparse: 9), [4, 50])
        #expect(all.allSatisfy { $0 != 0 && !$0.isNaN })
        // the Gaussian draws come first, so the kept values are the dense filler's
        let dense = Self.fill(.gaussian(mean: 0, std: 1), [4, 50])
        #expect(all == dense)
        let half = Self.fill(.sparseGaussian(mean: 0, std: 1, sparse: 2), [4, 50])
        #expect(zip(half, dense).allSatisfy { $0 == 0 || $0 == $1 })
    }

    @Test func positiveUnitballRowsSumToOne() {
        // [3, 2, 2]: three rows of 4 values, each a uniform draw divided by its row's sum
        let v = Self.fill(.positiveUnitball, [3, 2, 2])
        let u = Self.fill(.uniform(min: 0, max: 1), [3, 2, 2])
        for r in 0..<3 {
            let row = Array(u[(4 * r)..<(4 * r + 4)])
            let sum = row[0] + row[1] + row[2] + row[3]
            #expect(Array(v[(4 * r)..<(4 * r + 4)]) == row.map { $0 / sum })
            #expect(abs(v[(4 * r)..<(4 * r + 4)].reduce(0, +) - 1) < 1e-6)
        }
        #expect(v.allSatisfy { $0 >= 0 && $0 <= 1 })
        // a bias [5] is five rows of one value: all 1
        #expect(Self.fill(.positiveUnitball, [5]) == [1, 1, 1, 1, 1])
    }

    @Test func bilinearByHand() {
        // kernel 4 (upsampling by 2): f = 2, c = 3/4, taps 1 − |t/2 − 3/4| = 1/4, 3/4, 3/4, 1/4;
        // the weight is their outer product, the same for every output and input channel
        let taps: [Float] = [0.25, 0.75, 0.75, 0.25]
        let square = taps.flatMap { h in taps.map { w in h * w } }
        #expect(Self.fill(.bilinear, [2, 1, 4, 4]) == square + square)
        // kernel 3: f = 2, c = 1/2, taps 1/2, 1, 1/2
        #expect(Self.fill(.bilinear, [1, 1, 3, 3]) == [0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25])
        // unlike Caffe, a non-square kernel: rows of 3 taps, columns of 4
        #expect(Self.fill(.bilinear, [1, 1, 3, 4]) == [0.5, 1, 0.5].flatMap { h in taps.map { w in h * w } })
        // kernel 5 (upsampling by 3): f = 3, c = 2/3, taps 1/3, 2/3, 1, 2/3, 1/3
        let five = Filler.bilinearTaps(5)
        #expect(zip(five, [1 / 3, 2 / 3, 1, 2 / 3, 1 / 3] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test(arguments: [2, 3, 4, 5]) func bilinearTapsPartitionUnity(_ factor: Int) {
        // With kernel 2f − f mod 2 and stride f, every output sums taps f apart, which must add up
        // to 1: a constant image stays constant when upsampled.
        let taps = Filler.bilinearTaps(2 * factor - factor % 2)
        for phase in 0..<factor {
            let sum = stride(from: phase, to: taps.count, by: factor).reduce(Float(0)) { $0 + taps[$1] }
            #expect(abs(sum - 1) < 1e-6, "factor \(factor), phase \(phase): \(sum)")
        }
    }

    @Test func sameStreamSameValues() {
        #expect(Self.fill(.xavier(.fanIn), [8, 9], seed: 4) == Self.fill(.xavier(.fanIn), [8, 9], seed: 4))
        #expect(Self.fill(.xavier(.fanIn), [8, 9], seed: 4) != Self.fill(.xavier(.fanIn), [8, 9], seed: 5))
        #expect(Self.fill(.gaussian(mean: 0, std: 1), [10], seed: 4) == Self.fill(.gaussian(mean: 0, std: 1), [10], seed: 4))
    }
}
