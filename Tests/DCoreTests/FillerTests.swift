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

    @Test func sameStreamSameValues() {
        #expect(Self.fill(.xavier(.fanIn), [8, 9], seed: 4) == Self.fill(.xavier(.fanIn), [8, 9], seed: 4))
        #expect(Self.fill(.xavier(.fanIn), [8, 9], seed: 4) != Self.fill(.xavier(.fanIn), [8, 9], seed: 5))
        #expect(Self.fill(.gaussian(mean: 0, std: 1), [10], seed: 4) == Self.fill(.gaussian(mean: 0, std: 1), [10], seed: 4))
    }
}
