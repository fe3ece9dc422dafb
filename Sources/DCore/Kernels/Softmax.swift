/// Softmax along one axis of a tensor seen as [outer, channels, inner] (Caffe's layout: for
/// [N, C, H, W] and axis 1, outer = N, channels = C, inner = H·W).
public struct AxisLayout: Sendable, Equatable {
    public var outer, channels, inner: Int

    public init(outer: Int, channels: Int, inner: Int) {
        self.outer = outer; self.channels = channels; self.inner = inner
    }

    public init(shape: Shape, axis: Int) {
        self.init(outer: shape.count(from: 0, to: axis), channels: shape[axis], inner: shape.count(from: axis + 1))
    }

    @inline(__always) func index(_ o: Int, _ c: Int, _ i: Int) -> Int { (o * channels + c) * inner + i }
}

public enum SoftmaxKernel {
    /// y[o, c, i] = exp(x[o, c, i] − max_c x) / Σ_c exp(x[o, c, i] − max_c x)
    public static func forward(_ l: AxisLayout, input: FloatView, output: FloatView) {
        let x = input.base, y = output.base
        for o in 0..<l.outer {
            for i in 0..<l.inner {
                var m = -Float.infinity
                for c in 0..<l.channels { m = max(m, x[l.index(o, c, i)]) }
                var sum: Float = 0
                for c in 0..<l.channels {
                    let e = exp(x[l.index(o, c, i)] - m)
                    y[l.index(o, c, i)] = e
                    sum += e
                }
                let inv = 1 / sum
                for c in 0..<l.channels { y[l.index(o, c, i)] *= inv }
            }
        }
    }

    /// dx = y ⊙ (dy − Σ_c dy·y)
    public static func backward(_ l: AxisLayout, output: FloatView, outputGrad: FloatView,
                                inputGrad: FloatView, accumulate: Bool) {
        let y = output.base, dy = outputGrad.base, dx = inputGrad.base
        for o in 0..<l.outer {
            for i in 0..<l.inner {
                var dot: Float = 0
                for c in 0..<l.channels { dot += dy[l.index(o, c, i)] * y[l.index(o, c, i)] }
                for c in 0..<l.channels {
                    let k = l.index(o, c, i), v = y[k] * (dy[k] - dot)
                    dx[k] = accumulate ? dx[k] + v : v
                }
            }
        }
    }
}

/// The cross-entropy of softmax probabilities against integer labels stored as floats.
public enum SoftmaxLossKernel {
    public enum LabelError: Error, Equatable {
        /// A label that is neither a class index nor the ignore label: (position, value).
        case outOfRange(index: Int, value: Float, classes: Int)
    }

    /// The label as a class index when it is a whole number a class could have; nil for NaN,
    /// infinities, fractions and huge values (labels can come from another layer, where
    /// `Int(raw)` would trap).
    @inlinable
    public static func classIndex(_ raw: Float) -> Int? {
        raw.isFinite && raw == raw.rounded() && abs(raw) < 1e9 ? Int(raw) : nil
    }

    /// Returns Σ −log max(p[label], FLT_MIN) over samples whose label is not `ignoreLabel`, and
    /// how many those were. Labels are [outer, inner].
    public static func loss(_ l: AxisLayout, prob: FloatView, labels: FloatView, ignoreLabel: Int?) throws(LabelError) -> (sum: Double, valid: Int) {
        let p = prob.base, t = labels.base
        var total = 0.0, valid = 0
        for o in 0..<l.outer {
            for i in 0..<l.inner {
                let raw = t[o * l.inner + i], label = classIndex(raw)
                if let ignoreLabel, label == ignoreLabel { continue }
                guard let label, label >= 0, label < l.channels else {
                    throw .outOfRange(index: o * l.inner + i, value: raw, classes: l.channels)
                }
                total -= Double(log(max(p[l.index(o, label, i)], Float.leastNormalMagnitude)))
                valid += 1
            }
        }
        return (total, valid)
    }

    /// dx = scale · (p − onehot(label)), and 0 for ignored samples. Labels were checked by `loss`.
    public static func backward(_ l: AxisLayout, prob: FloatView, labels: FloatView, ignoreLabel: Int?,
                                scale: Float, inputGrad: FloatView, accumulate: Bool) {
        let p = prob.base, t = labels.base, dx = inputGrad.base
        for o in 0..<l.outer {
            for i in 0..<l.inner {
                let label = classIndex(t[o * l.inner + i]) ?? -1
                let ignored = ignoreLabel == label
                for c in 0..<l.channels {
                    let k = l.index(o, c, i)
                    let v = ignored ? 0 : scale * (p[k] - (c == label ? 1 : 0))
                    dx[k] = accumulate ? dx[k] + v : v
                }
            }
        }
    }
}

public enum AccuracyKernel {
    /// Counts samples whose true class is among the `topK` highest scores (Caffe's rule: a class
    /// with a score ≥ the true one's ranks above it, so ties count against), skipping
    /// `ignoreLabel`. Returns (correct, counted), or the first label out of range.
    public static func count(_ l: AxisLayout, scores: FloatView, labels: FloatView, topK: Int,
                             ignoreLabel: Int?) throws(SoftmaxLossKernel.LabelError) -> (correct: Int, counted: Int) {
        let s = scores.base, t = labels.base
        var correct = 0, counted = 0
        for o in 0..<l.outer {
            for i in 0..<l.inner {
                let raw = t[o * l.inner + i], label = SoftmaxLossKernel.classIndex(raw)
                if let ignoreLabel, label == ignoreLabel { continue }
                guard let label, label >= 0, label < l.channels else {
                    throw .outOfRange(index: o * l.inner + i, value: raw, classes: l.channels)
                }
                let truth = s[l.index(o, label, i)]
                var better = -1  // the true class itself scores ≥ truth
                for c in 0..<l.channels where s[l.index(o, c, i)] >= truth { better += 1 }
                if better < topK { correct += 1 }
                counted += 1
            }
        }
        return (correct, counted)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
