@testable import DCore
import Testing

@Suite struct RandomTests {
    static func draws(_ rng: RandomStream, _ count: Int = 100) -> [UInt64] {
        var r = rng
        return (0..<count).map { _ in r.next() }
    }

    @Test func sameSeedSameSequence() {
        #expect(Self.draws(RandomStream(seed: 42)) == Self.draws(RandomStream(seed: 42)))
        #expect(Self.draws(RandomStream(seed: 42)) != Self.draws(RandomStream(seed: 43)))
        #expect(Self.draws(RandomStream(seed: 1, purpose: "dropout", 3, 7)) == Self.draws(RandomStream(seed: 1, purpose: "dropout", 3, 7)))
    }

    @Test func streamsDifferByPurposeIndexAndSeed() {
        let base = Self.draws(RandomStream(seed: 1, purpose: "dropout", 3, 7))
        #expect(base != Self.draws(RandomStream(seed: 1, purpose: "filler", 3, 7)))
        #expect(base != Self.draws(RandomStream(seed: 2, purpose: "dropout", 3, 7)))
        #expect(base != Self.draws(RandomStream(seed: 1, purpose: "dropout", 3, 8)))
        #expect(base != Self.draws(RandomStream(seed: 1, purpose: "dropout", 7, 3)))
        #expect(base != Self.draws(RandomStream(seed: 1, purpose: "dropout", 3)))
        // and none of them is simply shifted: the first draws differ too
        #expect(Set([base[0], Self.draws(RandomStream(seed: 1, purpose: "filler", 3, 7))[0],
                     Self.draws(RandomStream(seed: 1, purpose: "dropout", 3, 8))[0]]).count == 3)
    }

    @Test func seedingIsSplitMix64() {
        // SplitMix64 from 0 gives e220a8397b1dcdaf, 6e789e6aa1b965f4, 06c45d188009454f, f88bb8a8724c81ec
        // (the published test values).
        #expect(RandomStream(seed: 0).state == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F, 0xF88B_B8A8_724C_81EC])
    }

    @Test func xoshiro256StarStar() {
        // The reference generator from state (1, 2, 3, 4): the first output is rotl(2·5, 7)·9 = 1280·9 = 11520.
        var rng = RandomStream(state: [1, 2, 3, 4])
        #expect((0..<5).map { _ in rng.next() } == [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240, 1_216_172_134_540_287_360])
    }

    @Test func stateRoundTrips() {
        var rng = RandomStream(seed: 9, purpose: "data", 2)
        for _ in 0..<17 { _ = rng.next() }
        let restored = RandomStream(state: rng.state)
        #expect(restored == rng)
        #expect(Self.draws(restored) == Self.draws(rng))
    }

    @Test func unitFloatsInUnitInterval() {
        var rng = RandomStream(seed: 5)
        var sum = 0.0, low = 0, high = 0
        for _ in 0..<10_000 {
            let u = rng.nextUnitFloat()
            #expect(u >= 0 && u < 1)
            #expect((u * 16_777_216).rounded() == u * 16_777_216)  // 24 bits: a multiple of 2⁻²⁴
            sum += Double(u)
            if u < 0.1 { low += 1 }
            if u >= 0.9 { high += 1 }
        }
        #expect(abs(sum / 10_000 - 0.5) < 0.02)
        // both ends are reached, about 1000 times each
        #expect(low > 800 && low < 1200)
        #expect(high > 800 && high < 1200)
    }

    @Test func unitDoublesInUnitInterval() {
        var rng = RandomStream(seed: 6)
        var sum = 0.0
        for _ in 0..<10_000 {
            let u = rng.nextUnitDouble()
            #expect(u >= 0 && u < 1)
            sum += u
        }
        #expect(abs(sum / 10_000 - 0.5) < 0.02)
    }

    static func moments(_ xs: [Double]) -> (mean: Double, std: Double) {
        let mean = xs.reduce(0, +) / Double(xs.count)
        let variance = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(xs.count - 1)
        return (mean, variance.squareRoot())
    }

    @Test func gaussianMoments() {
        // 10k draws: the sample mean's std is 0.01, the sample std's about 0.007; the bounds are ≥ 5 of those.
        var rng = RandomStream(seed: 7)
        let standard = Self.moments((0..<10_000).map { _ in rng.nextGaussian() })
        #expect(abs(standard.mean) < 0.05)
        #expect(abs(standard.std - 1) < 0.05)
        let shifted = Self.moments((0..<10_000).map { _ in rng.nextGaussian(mean: 3, std: 2) })
        #expect(abs(shifted.mean - 3) < 0.1)
        #expect(abs(shifted.std - 2) < 0.1)
    }

    @Test func gaussianTails() {
        // About 4.6% of a normal lies beyond ±2σ, and 0.27% beyond ±3σ; all values finite.
        var rng = RandomStream(seed: 8)
        let xs = (0..<10_000).map { _ in rng.nextGaussian() }
        #expect(xs.allSatisfy { $0.isFinite })
        let beyond2 = xs.filter { abs($0) > 2 }.count, beyond3 = xs.filter { abs($0) > 3 }.count
        #expect(beyond2 > 350 && beyond2 < 580, "\(beyond2) beyond 2σ")
        #expect(beyond3 > 5 && beyond3 < 60, "\(beyond3) beyond 3σ")
    }

    @Test func stableHash() {
        // FNV-1a 64 test values: "" is the offset basis, "a" → af63dc4c8601ec8c, "foobar" → 85944171f73967e8
        #expect(StableHash.fnv1a("") == 0xCBF2_9CE4_8422_2325)
        #expect(StableHash.fnv1a("a") == 0xAF63_DC4C_8601_EC8C)
        #expect(StableHash.fnv1a("foobar") == 0x8594_4171_F739_67E8)
        #expect(StableHash.mix(0) == 0)
        #expect(StableHash.mix(1) != StableHash.mix(2))
    }

    @Test func shufflesLikeAnyGenerator() {
        var a = RandomStream(seed: 11), b = RandomStream(seed: 11)
        let x = Array(0..<50)
        let s1 = x.shuffled(using: &a), s2 = x.shuffled(using: &b)
        #expect(s1 == s2)
        #expect(s1 != x)
        #expect(s1.sorted() == x)
    }
}
