/// exp, log1p, sigmoid and tanh eight floats at a time, for the kernels whose time libm's scalar
/// calls took (at the plain kernel level: the LSTM's gates, the Sigmoid layer, the sigmoid
/// cross-entropy loss; Sources/CKernels has them with FMA for the others). Each lane
/// is computed on its own with the same operations, so a value's result does not depend on its
/// lane or on how a tensor is split among threads. NaN stays NaN.
public enum VectorMath {
    public typealias V = SIMD8<Float>

    /// `count` (at most 8) floats from `p`, zeros after them.
    @inline(__always) public static func load(_ p: UnsafePointer<Float>, _ count: Int) -> V {
        if count == 8 { return UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        var v = V(repeating: 0)
        for k in 0..<count { v[k] = p[k] }
        return v
    }

    @inline(__always) public static func load(_ p: UnsafeMutablePointer<Float>, _ count: Int) -> V {
        load(UnsafePointer(p), count)
    }

    /// The first `count` (at most 8) lanes of `v` into `p`.
    @inline(__always) public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
        if count == 8 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self); return }
        for k in 0..<count { p[k] = v[k] }
    }

    /// eˣ to about 2 ulp: x = n·ln 2 + r with |r| ≤ ln 2 / 2, a degree-7 polynomial for eʳ
    /// (Cephes' expf coefficients) and 2ⁿ built in the exponent bits. x is clamped to
    /// [−87.3, 88.3], where 2ⁿ stays a normal float (so e^−∞ is 1.2e-38, not 0).
    @inline(__always) public static func exp(_ x: V) -> V {
        // The clamps keep a NaN: a comparison with NaN is false, so nothing replaces it.
        let x = x.replacing(with: 88.3, where: x .> 88.3).replacing(with: -87.3, where: x .< -87.3)
        // Adding 1.5·2²³ rounds to an integer and leaves it in the low mantissa bits.
        let magic = V(repeating: 12_582_912)
        let shifted = x * 1.442_695_04 + magic
        let n = shifted - magic
        var r = x - n * 0.693_359_375
        r = r - n * -2.121_944_4e-4
        var p = V(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        p = p * (r * r) + r + 1
        let bits = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: V.self)
    }

    /// log(1 + e) for 0 ≤ e ≤ 1 (what a softplus needs after e = e^−|x|), to a few ulp: u = 1 + e
    /// is split as m·2ᵏ with m in [√½, √2], log m = f − f²/2 + f³·P(f) with f = m − 1 (Cephes'
    /// logf coefficients), and the rounding of 1 + e is added back as (e − (u − 1)) / u, so a
    /// tiny e gives e rather than 0.
    @inline(__always) public static func log1pUnit(_ e: V) -> V {
        let u = 1 + e
        let high = u .> 1.414_213_56
        let m = u.replacing(with: u * 0.5, where: high)
        let k = V(repeating: 0).replacing(with: 1, where: high)
        let f = m - 1, z = f * f
        var p = V(repeating: 7.037_683_629_2e-2)
        p = p * f - 1.151_461_031_0e-1
        p = p * f + 1.167_699_874_0e-1
        p = p * f - 1.242_014_084_6e-1
        p = p * f + 1.424_932_278_7e-1
        p = p * f - 1.666_805_766_5e-1
        p = p * f + 2.000_071_476_5e-1
        p = p * f - 2.499_999_399_3e-1
        p = p * f + 3.333_333_117_4e-1
        var y = f * z * p
        y = y + k * -2.121_944_4e-4
        y = y - 0.5 * z
        let correction = (e - (u - 1)) / u
        return f + y + correction + k * 0.693_359_375
    }

    @inline(__always) public static func sigmoid(_ x: V) -> V { 1 / (1 + exp(-x)) }

    /// tanh x = 1 − 2 / (e²ˣ + 1): ±1 where e²ˣ saturates, an absolute error of a few 1e-8 near 0.
    @inline(__always) public static func tanh(_ x: V) -> V { 1 - 2 / (exp(x + x) + 1) }
}
