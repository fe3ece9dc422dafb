#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Forward and backward kernels of Caffe's one-input, one-output "neuron" layers beyond ReLU,
/// sigmoid and tanh. Every view is flat: element i of the output depends on element i of the
/// input alone (PReLU also on its channel's slope). Backward kernels overwrite or add
/// (`accumulate`) as in Elementwise.swift; those that read only the output allow in place.
public enum PointwiseKernel {
    // MARK: ELU

    /// y = x > 0 ? x : α·(eˣ − 1). expm1 keeps eˣ − 1 accurate near 0.
    public static func eluForward(input: FloatView, output: FloatView, alpha: Float) {
        let x = input.base, y = output.base
        for i in 0..<input.count { y[i] = x[i] > 0 ? x[i] : alpha * expm1(x[i]) }
    }

    /// dx = dy · (x > 0 ? 1 : y + α), since α·eˣ = y + α for x ≤ 0. `sign` is the input, or
    /// the output when α ≥ 0: then y > 0 exactly where x > 0, which lets ELU run in place.
    public static func eluBackward(sign: FloatView, output: FloatView, outputGrad: FloatView, inputGrad: FloatView,
                                   alpha: Float, accumulate: Bool) {
        let s = sign.base, y = output.base, dy = outputGrad.base
        store(inputGrad.base, output.count, accumulate: accumulate) { i in s[i] > 0 ? dy[i] : dy[i] * (y[i] + alpha) }
    }

    // MARK: PReLU

    /// y = x > 0 ? x : a_c·x over [outer, channels, inner] (inner = H·W…), with `slope`
    /// [channels], or [1] when `shared`.
    public static func preluForward(input: FloatView, slope: FloatView, output: FloatView,
                                    channels: Int, inner: Int, shared: Bool) {
        let x = input.base, y = output.base, a = slope.base
        let outer = channels * inner == 0 ? 0 : input.count / (channels * inner)
        var start = 0
        for _ in 0..<outer {
            for c in 0..<channels {
                let ac = a[shared ? 0 : c]
                for j in start..<(start + inner) { y[j] = x[j] > 0 ? x[j] : ac * x[j] }
                start += inner
            }
        }
    }

    /// dx (+)= dy · (x > 0 ? 1 : a_c) when `inputGrad` is given, and da_c += Σ dy·x over the
    /// channel's elements with x ≤ 0 when `slopeGrad` is given (summed over all channels when
    /// `shared`). Reads the input, so PReLU does not run in place.
    public static func preluBackward(input: FloatView, slope: FloatView, outputGrad: FloatView,
                                     inputGrad: FloatView?, slopeGrad: FloatView?, channels: Int, inner: Int,
                                     shared: Bool, accumulate: Bool) {
        let x = input.base, a = slope.base, dy = outputGrad.base
        let outer = channels * inner == 0 ? 0 : input.count / (channels * inner)
        if let slopeGrad {
            let da = slopeGrad.base
            var start = 0
            for _ in 0..<outer {
                for c in 0..<channels {
                    var sum: Float = 0
                    for j in start..<(start + inner) { sum += x[j] > 0 ? 0 : dy[j] * x[j] }
                    da[shared ? 0 : c] += sum
                    start += inner
                }
            }
        }
        if let inputGrad {
            var start = 0
            for _ in 0..<outer {
                for c in 0..<channels {
                    let ac = a[shared ? 0 : c]
                    store(inputGrad.base + start, inner, accumulate: accumulate) { j in
                        x[start + j] > 0 ? dy[start + j] : ac * dy[start + j]
                    }
                    start += inner
                }
            }
        }
    }

    // MARK: AbsVal, BNLL

    /// y = |x|
    public static func absForward(input: FloatView, output: FloatView) {
        let x = input.base, y = output.base
        for i in 0..<input.count { y[i] = abs(x[i]) }
    }

    /// dx = dy · sign(x), with sign(0) = 0 as Caffe's.
    public static func absBackward(input: FloatView, outputGrad: FloatView, inputGrad: FloatView, accumulate: Bool) {
        let x = input.base, dy = outputGrad.base
        store(inputGrad.base, input.count, accumulate: accumulate) { i in
            x[i] > 0 ? dy[i] : (x[i] < 0 ? -dy[i] : 0)
        }
    }

    /// y = log(1 + eˣ), as x + log(1 + e⁻ˣ) for x > 0 so that eˣ never overflows.
    public static func bnllForward(input: FloatView, output: FloatView) {
        let x = input.base, y = output.base
        for i in 0..<input.count { y[i] = x[i] > 0 ? x[i] + log1p(exp(-x[i])) : log1p(exp(x[i])) }
    }

    /// dx = dy · σ(x), and σ(x) = 1 − e⁻ʸ for y = log(1 + eˣ): backward reads only y, so BNLL
    /// runs in place. −expm1(−y) keeps σ accurate where it is tiny (x very negative).
    public static func bnllBackward(output: FloatView, outputGrad: FloatView, inputGrad: FloatView, accumulate: Bool) {
        let y = output.base, dy = outputGrad.base
        store(inputGrad.base, output.count, accumulate: accumulate) { i in dy[i] * -expm1(-y[i]) }
    }

    // MARK: Power, Exp, Log

    /// y = (shift + scale·x)^power. When power·scale = 0, y is the constant 1 (power 0) or
    /// shift^power, whatever x is (Caffe's rule, which also holds for x = ±∞).
    public static func powerForward(input: FloatView, output: FloatView, power: Float, scale: Float, shift: Float) {
        let x = input.base, y = output.base
        if power * scale == 0 {
            output.fill(power == 0 ? 1 : pow(shift, power))
        } else if power == 1 {
            for i in 0..<input.count { y[i] = shift + scale * x[i] }
        } else {
            for i in 0..<input.count { y[i] = pow(shift + scale * x[i], power) }
        }
    }

    /// dx = dy · power·scale·(shift + scale·x)^(power − 1). A constant factor when power is 1
    /// or power·scale is 0: then the input is not read (and may be the output, in place).
    public static func powerBackward(input: FloatView, outputGrad: FloatView, inputGrad: FloatView,
                                     power: Float, scale: Float, shift: Float, accumulate: Bool) {
        let x = input.base, dy = outputGrad.base
        let factor = power * scale
        if factor == 0 || power == 1 {
            store(inputGrad.base, outputGrad.count, accumulate: accumulate) { i in dy[i] * factor }
        } else {
            store(inputGrad.base, outputGrad.count, accumulate: accumulate) { i in
                dy[i] * factor * pow(shift + scale * x[i], power - 1)
            }
        }
    }

    /// y = outerScale · e^(innerScale·x): base^(shift + scale·x) with innerScale = scale·ln base
    /// and outerScale = base^shift.
    public static func expForward(input: FloatView, output: FloatView, innerScale: Float, outerScale: Float) {
        let x = input.base, y = output.base
        for i in 0..<input.count { y[i] = outerScale * exp(innerScale * x[i]) }
    }

    /// dx = dy · innerScale · y: reads only y, so Exp runs in place.
    public static func expBackward(output: FloatView, outputGrad: FloatView, inputGrad: FloatView,
                                   innerScale: Float, accumulate: Bool) {
        let y = output.base, dy = outputGrad.base
        store(inputGrad.base, output.count, accumulate: accumulate) { i in dy[i] * innerScale * y[i] }
    }

    /// y = baseScale · ln(shift + scale·x), baseScale = 1 / ln base. A non-positive argument
    /// gives −∞ or NaN, which the solver's check of the loss reports.
    public static func logForward(input: FloatView, output: FloatView, scale: Float, shift: Float, baseScale: Float) {
        let x = input.base, y = output.base
        for i in 0..<input.count { y[i] = baseScale * log(shift + scale * x[i]) }
    }

    /// dx = dy · scale·baseScale / (shift + scale·x)
    public static func logBackward(input: FloatView, outputGrad: FloatView, inputGrad: FloatView,
                                   scale: Float, shift: Float, baseScale: Float, accumulate: Bool) {
        let x = input.base, dy = outputGrad.base
        let numerator = scale * baseScale
        store(inputGrad.base, input.count, accumulate: accumulate) { i in dy[i] * (numerator / (shift + scale * x[i])) }
    }

    // MARK: Threshold

    /// y = x > threshold ? 1 : 0 (NaN gives 0). It has no gradient.
    public static func thresholdForward(input: FloatView, output: FloatView, threshold: Float) {
        let x = input.base, y = output.base
        for i in 0..<input.count { y[i] = x[i] > threshold ? 1 : 0 }
    }
}
