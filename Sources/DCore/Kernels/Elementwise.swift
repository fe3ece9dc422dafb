import CKernels
/// Element-wise forward and backward kernels. Backward kernels either overwrite the input
/// gradient or add to it (`accumulate`), as the net's plan says; with `accumulate == false`
/// an in-place layer may pass the same memory as output gradient and input gradient.

/// Writes `value(i)` into, or adds it onto, `dx[0..<count]`. Inlined, so the loop vectorises.
@inline(__always)
func store(_ dx: UnsafeMutablePointer<Float>, _ count: Int, accumulate: Bool, _ value: (Int) -> Float) {
    if accumulate {
        for i in 0..<count { dx[i] += value(i) }
    } else {
        for i in 0..<count { dx[i] = value(i) }
    }
}

/// Eight floats at `p`.
@inline(__always)
func lanes(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

/// `store` for kernels that run in place, where `dx` is one of the memories `value` reads:
/// LLVM vectorises `store`'s loop only after a run-time check that `dx` overlaps no input,
/// and in place that check fails, so the loop ran one float at a time (3× slower). Here
/// `vector(i)` gives the values at i..<i+8 from explicit vector loads, read before the
/// store; `value(i)` is the same arithmetic for the tail, so the bits are `store`'s.
@inline(__always)
func storeLanes(_ dx: UnsafeMutablePointer<Float>, _ count: Int, accumulate: Bool,
                _ vector: (Int) -> SIMD8<Float>, _ value: (Int) -> Float) {
    var i = 0
    while i + 8 <= count {
        let v = accumulate ? lanes(dx + i) + vector(i) : vector(i)
        UnsafeMutableRawPointer(dx + i).storeBytes(of: v, as: SIMD8<Float>.self)
        i += 8
    }
    store(dx + i, count - i, accumulate: accumulate) { value(i + $0) }
}

/// `parallel`, or one thread when `count` floats take less time than handing work to a second
/// thread (some microseconds; 32 Ki floats take about that at memory speed).
@inline(__always)
func worthThreads(_ count: Int, _ parallel: Parallel) -> Parallel { count >= 32_768 ? parallel : .serial }

public enum ActivationKernel {
    /// y = x > 0 ? x : slope·x, over the threads (each element on its own, so the bits do not
    /// depend on them). `output` may be `input`.
    public static func reluForward(input: FloatView, output: FloatView, slope: Float, parallel: Parallel) {
        let x = SendablePointer(input.base), y = SendablePointer(output.base)
        worthThreads(input.count, parallel).forChunks(input.count) { range in
            let x = x.pointer + range.lowerBound, y = y.pointer + range.lowerBound, count = range.count
            if slope == 0 {
                // max(x, 0) as Swift.max computes it: 0 for x ≤ 0 (so −0 gives +0), NaN stays.
                storeLanes(y, count, accumulate: false,
                           { i in let v = lanes(x + i); return v.replacing(with: 0, where: v .<= 0) },
                           { i in max(x[i], 0) })
            } else {
                storeLanes(y, count, accumulate: false,
                           { i in let v = lanes(x + i); return (slope * v).replacing(with: v, where: v .> 0) },
                           { i in x[i] > 0 ? x[i] : slope * x[i] })
            }
        }
    }

    /// dx = dy · (x > 0 ? 1 : slope). `sign` may be the input, or the output when slope ≥ 0
    /// (then x > 0 exactly where y > 0), which lets ReLU run in place; `inputGrad` may then be
    /// `outputGrad`. Over the threads, as forward.
    public static func reluBackward(sign: FloatView, outputGrad: FloatView, inputGrad: FloatView,
                                    slope: Float, accumulate: Bool, parallel: Parallel) {
        let s = SendablePointer(sign.base), dy = SendablePointer(outputGrad.base), dx = SendablePointer(inputGrad.base)
        worthThreads(sign.count, parallel).forChunks(sign.count) { range in
            let s = s.pointer + range.lowerBound, dy = dy.pointer + range.lowerBound
            storeLanes(dx.pointer + range.lowerBound, range.count, accumulate: accumulate,
                       { i in let g = lanes(dy + i); return (slope * g).replacing(with: g, where: lanes(s + i) .> 0) },
                       { i in s[i] > 0 ? dy[i] : slope * dy[i] })
        }
    }

    /// y = 1 / (1 + e^−c·x), c the steepness, eight at a time and over the threads: from AVX2
    /// `dk_sigmoid` (Sources/CKernels, with FMA), else `VectorMath.sigmoid` (libm's scalar exp
    /// took 4 ns a value). Either way each value's bits do not depend on its place or the
    /// threads. c·x and dy·c are exact for c = 1, so the plain sigmoid's bits do not depend on
    /// the steepness being there. `output` may be `input`.
    public static func sigmoidForward(input: FloatView, output: FloatView, steepness c: Float, parallel: Parallel,
                                      level: SmallGEMM.Level = SmallGEMM.level) {
        let x = SendablePointer(input.base), y = SendablePointer(output.base)
        let fused = min(level, SmallGEMM.supported) >= .avx2
        worthThreads(input.count, parallel).forChunks(input.count) { range in
            if fused {
                dk_sigmoid(range.count, x.pointer + range.lowerBound, y.pointer + range.lowerBound, c)
                return
            }
            var i = range.lowerBound
            while i < range.upperBound {
                let k = min(8, range.upperBound - i)
                VectorMath.store(VectorMath.sigmoid(c * VectorMath.load(x.pointer + i, k)), y.pointer + i, k)
                i += 8
            }
        }
    }

    /// dx = dy · c · y · (1 − y)
    public static func sigmoidBackward(output: FloatView, outputGrad: FloatView, inputGrad: FloatView, steepness c: Float,
                                       accumulate: Bool) {
        let y = output.base, dy = outputGrad.base
        store(inputGrad.base, output.count, accumulate: accumulate) { i in dy[i] * c * y[i] * (1 - y[i]) }
    }

    public static func tanhForward(input: FloatView, output: FloatView) {
        let x = input.base, y = output.base
        for i in 0..<input.count { y[i] = tanh(x[i]) }
    }

    /// dx = dy · (1 − y²)
    public static func tanhBackward(output: FloatView, outputGrad: FloatView, inputGrad: FloatView, accumulate: Bool) {
        let y = output.base, dy = outputGrad.base
        store(inputGrad.base, output.count, accumulate: accumulate) { i in dy[i] * (1 - y[i] * y[i]) }
    }
}

public enum ElementwiseKernel {
    /// y = x · m
    public static func multiply(_ input: FloatView, by factor: FloatView, into output: FloatView) {
        let x = input.base, m = factor.base, y = output.base
        for i in 0..<input.count { y[i] = x[i] * m[i] }
    }

    /// dx (+)= dy · m
    public static func multiplyBackward(outputGrad: FloatView, factor: FloatView, inputGrad: FloatView, accumulate: Bool) {
        let dy = outputGrad.base, m = factor.base
        store(inputGrad.base, outputGrad.count, accumulate: accumulate) { i in dy[i] * m[i] }
    }

    /// dx (+)= alpha · v
    public static func scaled(_ v: FloatView, by alpha: Float, into dx: FloatView, accumulate: Bool) {
        let src = v.base
        store(dx.base, v.count, accumulate: accumulate) { i in alpha * src[i] }
    }

    /// out = a − b
    public static func subtract(_ a: FloatView, _ b: FloatView, into out: FloatView) {
        let pa = a.base, pb = b.base, po = out.base
        for i in 0..<a.count { po[i] = pa[i] - pb[i] }
    }

    /// x = 0, over the threads for a large x (the big MLP's 48 MB of gradients took 2 ms on one).
    public static func zero(_ x: FloatView, parallel: Parallel) {
        worthThreads(x.count, parallel).forChunks(x.count) { range in x.slice(range.lowerBound, range.count).zero() }
    }

    /// y = x, unless they are the same memory.
    public static func copy(_ input: FloatView, into output: FloatView) {
        if input.base != output.base { output.base.update(from: input.base, count: input.count) }
    }

    /// dx (+)= dy, unless they are the same memory (an in-place identity has nothing to do).
    public static func copyBackward(outputGrad: FloatView, inputGrad: FloatView, accumulate: Bool) {
        if outputGrad.base == inputGrad.base { precondition(!accumulate); return }
        let dy = outputGrad.base
        store(inputGrad.base, outputGrad.count, accumulate: accumulate) { i in dy[i] }
    }

    /// Σ x[i]²
    public static func sumOfSquares(_ x: FloatView) -> Double {
        let p = x.base
        var acc = SIMD8<Float>()
        let n8 = x.count & ~7
        var i = 0
        while i < n8 {
            let v = lanes(p + i)
            acc += v * v
            i += 8
        }
        var total = Double(acc.sum())
        while i < x.count { total += Double(p[i] * p[i]); i += 1 }
        return total
    }

    /// Σ |x[i]| / count (0 for an empty view): Caffe's debug_info statistic.
    public static func meanAbsolute(_ x: FloatView) -> Double {
        let p = x.base
        var total = 0.0
        for i in 0..<x.count { total += Double(abs(p[i])) }
        return x.count == 0 ? 0 : total / Double(x.count)
    }

    /// Σ x[i]
    public static func sum(_ x: FloatView) -> Double {
        let p = x.base
        var acc = SIMD8<Float>()
        let n8 = x.count & ~7
        var i = 0
        while i < n8 { acc += lanes(p + i); i += 8 }
        var total = Double(acc.sum())
        while i < x.count { total += Double(p[i]); i += 1 }
        return total
    }

    /// Fills `mask` with `scale` where a uniform draw is ≥ `ratio` and 0 elsewhere
    /// (inverted dropout: kept units are scaled by 1 / (1 − ratio) at training time).
    public static func dropoutMask(_ mask: FloatView, ratio: Float, scale: Float, rng: inout RandomStream) {
        let m = mask.base
        for i in 0..<mask.count { m[i] = rng.nextUnitFloat() >= ratio ? scale : 0 }
    }

    /// y = x + n, n normal with mean 0 and std `std` (Box–Muller, one pair of uniforms per value).
    /// `output` may be `input`.
    public static func addGaussianNoise(_ input: FloatView, std: Float, into output: FloatView, rng: inout RandomStream) {
        let x = input.base, y = output.base
        for i in 0..<input.count { y[i] = x[i] + Float(rng.nextGaussian(std: Double(std))) }
    }

    /// True when every element is finite (no NaN, no ±∞).
    public static func allFinite(_ x: FloatView) -> Bool {
        let p = x.base
        var acc: Float = 0
        for i in 0..<x.count { acc += p[i] * 0 }  // NaN or ∞ times 0 is NaN
        return acc == 0
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
