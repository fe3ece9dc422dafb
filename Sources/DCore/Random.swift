/// Seeded randomness. One solver seed drives everything; each purpose (data order, fillers,
/// dropout) gets its own stream derived from it, so adding a random use in one place never
/// shifts the numbers another place sees.

/// xoshiro256** (Blackman and Vigna): a small, fast generator whose whole state is four words,
/// so it can be stored in solver state and restored exactly.
public struct RandomStream: RandomNumberGenerator, Sendable, Equatable {
    @usableFromInline var s0, s1, s2, s3: UInt64

    /// The four words of state, for solver state files.
    public var state: [UInt64] { [s0, s1, s2, s3] }

    /// A stream for `purpose` (and optional indices such as a layer or an epoch) under `seed`.
    public init(seed: UInt64, purpose: String, _ indices: Int...) {
        var key = StableHash.fnv1a(purpose) ^ seed.multipliedReportingOverflow(by: 0x9E37_79B9_7F4A_7C15).partialValue
        for i in indices { key = StableHash.mix(key ^ UInt64(bitPattern: Int64(i))) }
        self.init(seed: key)
    }

    /// Seeds the four words with SplitMix64, as the xoshiro authors recommend.
    public init(seed: UInt64) {
        var s = seed
        func nextWord() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            return StableHash.mix(s)
        }
        s0 = nextWord(); s1 = nextWord(); s2 = nextWord(); s3 = nextWord()
    }

    public init(state: [UInt64]) {
        precondition(state.count == 4, "xoshiro256** has four words of state")
        (s0, s1, s2, s3) = (state[0], state[1], state[2], state[3])
    }

    @inlinable
    static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    /// Moves past `count` draws: what `count` calls of `next()` would (the draws of the ranks
    /// before this one, in data-parallel training).
    public mutating func skip(_ count: Int) {
        for _ in 0..<count { _ = next() }
    }

    /// Uniform in [0, 1) with 24 random bits, the precision of a Float.
    @inlinable
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inlinable
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A normal sample by the Box–Muller transform; uses two uniforms and keeps no spare, so the
    /// state stays four words.
    public mutating func nextGaussian(mean: Double = 0, std: Double = 1) -> Double {
        let u1 = 1.0 - nextUnitDouble()  // (0, 1], so log is finite
        let u2 = nextUnitDouble()
        return mean + std * (-2.0 * log(u1)).squareRoot() * cos(2.0 * Double.pi * u2)
    }
}

/// Hashes that are the same in every process and on every run (Swift's `Hasher` is seeded
/// per process, so it cannot key streams or fingerprint configs).
public enum StableHash {
    public static func fnv1a<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    public static func fnv1a(_ string: String) -> UInt64 { fnv1a(string.utf8) }

    /// SplitMix64's finaliser: spreads every input bit over the output.
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
