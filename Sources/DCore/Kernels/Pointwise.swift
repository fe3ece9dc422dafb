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
}
