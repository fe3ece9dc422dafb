import CKernels
#if canImport(Glibc)
import Glibc
#endif

/// Loss kernels that are not a softmax.
public enum LossKernel {
    /// Σ −[t·log σ(x) + (1 − t)·log(1 − σ(x))] over the elements whose target is not `ignore`,
    /// and their count. Written as −(x·(t − [x ≥ 0]) − log(1 + e^(x − 2x·[x ≥ 0]))), which
    /// never exponentiates a positive number; eight at a time (libm's exp and log1p took 15 ns
    /// a value): from AVX2 `dk_sigmoid_cross_entropy` (with FMA, summed in Double lane by lane),
    /// else `VectorMath`, summed in Double in the elements' order.
    public static func sigmoidCrossEntropy(scores: FloatView, targets: FloatView, ignore: Float?,
                                           level: SmallGEMM.Level = SmallGEMM.level) -> (loss: Double, valid: Int) {
        let x = scores.base, t = targets.base
        if min(level, SmallGEMM.supported) >= .avx2 {
            var valid = 0
            let loss = dk_sigmoid_cross_entropy(scores.count, x, t, ignore == nil ? 0 : 1, ignore ?? 0, &valid)
            return (loss, valid)
        }
        var loss = 0.0, valid = 0
        var i = 0
        while i < scores.count {
            let k = min(8, scores.count - i)
            let xv = VectorMath.load(x + i, k), tv = VectorMath.load(t + i, k)
            let positive = VectorMath.V(repeating: 0).replacing(with: 1, where: xv .>= 0)
            let terms = xv * (tv - positive) - VectorMath.log1pUnit(VectorMath.exp(xv - 2 * xv * positive))
            for j in 0..<k {
                if let ignore, tv[j] == ignore { continue }
                loss -= Double(terms[j])
                valid += 1
            }
            i += 8
        }
        return (loss, valid)
    }

    /// dx = scale · (σ(x) − t), 0 where the target is `ignore`, eight at a time (from AVX2 with
    /// `dk_sigmoid_cross_entropy_grad`).
    public static func sigmoidCrossEntropyBackward(scores: FloatView, targets: FloatView, ignore: Float?, scale: Float,
                                                   inputGrad: FloatView, accumulate: Bool, level: SmallGEMM.Level = SmallGEMM.level) {
        let x = scores.base, t = targets.base, dx = inputGrad.base
        if min(level, SmallGEMM.supported) >= .avx2 {
            dk_sigmoid_cross_entropy_grad(scores.count, x, t, ignore == nil ? 0 : 1, ignore ?? 0, scale, dx, accumulate ? 1 : 0)
            return
        }
        var i = 0
        while i < scores.count {
            let k = min(8, scores.count - i)
            let tv = VectorMath.load(t + i, k)
            var g = scale * (VectorMath.sigmoid(VectorMath.load(x + i, k)) - tv)
            if let ignore { g = g.replacing(with: 0, where: tv .== ignore) }
            if accumulate { g += VectorMath.load(dx + i, k) }
            VectorMath.store(g, dx + i, k)
            i += 8
        }
    }
}

/// Caffe's `HingeLoss`: one-vs-all margins over scores [N, K] (K = all but the first axis).
public enum HingeLossKernel {
    /// Σ_n Σ_k m[n, k]^p with m = max(0, 1 + δ·x), δ = −1 at the label's class and +1 elsewhere,
    /// p = 2 when `squared` (L2) and 1 otherwise (L1). Labels [N] are class indices as floats.
    public static func loss(scores: FloatView, labels: FloatView, samples: Int, squared: Bool) throws(SoftmaxLossKernel.LabelError) -> Double {
        let x = scores.base, t = labels.base, classes = scores.count / max(samples, 1)
        var total = 0.0
        for n in 0..<samples {
            let raw = t[n]
            guard let label = SoftmaxLossKernel.classIndex(raw), label >= 0, label < classes else {
                throw .outOfRange(index: n, value: raw, classes: classes)
            }
            for k in 0..<classes {
                let v = x[n * classes + k], m = max(0, 1 + (k == label ? -v : v))
                total += Double(squared ? m * m : m)
            }
        }
        return total
    }

    /// dx = scale · δ · [m > 0] (L1; Caffe's sign of the margin, 0 at the kink) or
    /// scale · 2δ·m (L2). Labels were checked by `loss`.
    public static func backward(scores: FloatView, labels: FloatView, samples: Int, squared: Bool, scale: Float,
                                inputGrad: FloatView, accumulate: Bool) {
        let x = scores.base, t = labels.base, dx = inputGrad.base, classes = scores.count / max(samples, 1)
        for n in 0..<samples {
            let label = SoftmaxLossKernel.classIndex(t[n]) ?? -1
            store(dx + n * classes, classes, accumulate: accumulate) { k in
                let sign: Float = k == label ? -1 : 1, m = max(0, 1 + sign * x[n * classes + k])
                return squared ? scale * 2 * sign * m : (m > 0 ? scale * sign : 0)
            }
        }
    }
}

/// Caffe's `InfogainLoss`: the cross-entropy of softmax probabilities weighted by a row of an
/// infogain matrix H [K, K] picked by the label (H = I gives the multinomial logistic loss).
public enum InfogainLossKernel {
    /// Caffe's floor under the probabilities before the logarithm (kLOG_THRESHOLD).
    public static let logThreshold: Float = 1e-20

    /// Returns −Σ_k H[label, k]·log max(p[k], 1e-20) summed over the samples whose label is not
    /// `ignoreLabel`, and how many those were. Labels are [outer, inner].
    public static func loss(_ l: AxisLayout, prob: FloatView, labels: FloatView, infogain: FloatView,
                            ignoreLabel: Int?) throws(SoftmaxLossKernel.LabelError) -> (sum: Double, valid: Int) {
        let p = prob.base, t = labels.base, h = infogain.base
        var total = 0.0, valid = 0
        for o in 0..<l.outer {
            for i in 0..<l.inner {
                let raw = t[o * l.inner + i], label = SoftmaxLossKernel.classIndex(raw)
                if let ignoreLabel, label == ignoreLabel { continue }
                guard let label, label >= 0, label < l.channels else {
                    throw .outOfRange(index: o * l.inner + i, value: raw, classes: l.channels)
                }
                for k in 0..<l.channels {
                    total -= Double(h[label * l.channels + k]) * Double(log(max(p[l.index(o, k, i)], logThreshold)))
                }
                valid += 1
            }
        }
        return (total, valid)
    }

    /// dx[j] = scale · (p[j]·Σ_k H[label, k] − H[label, j]), and 0 for ignored samples.
    /// Labels were checked by `loss`.
    public static func backward(_ l: AxisLayout, prob: FloatView, labels: FloatView, infogain: FloatView, ignoreLabel: Int?,
                                scale: Float, inputGrad: FloatView, accumulate: Bool) {
        let p = prob.base, t = labels.base, h = infogain.base, dx = inputGrad.base
        for o in 0..<l.outer {
            for i in 0..<l.inner {
                let label = SoftmaxLossKernel.classIndex(t[o * l.inner + i]) ?? -1
                let ignored = ignoreLabel == label
                var rowSum: Float = 0
                if !ignored { for k in 0..<l.channels { rowSum += h[label * l.channels + k] } }
                for c in 0..<l.channels {
                    let k = l.index(o, c, i)
                    let v = ignored ? 0 : scale * (p[k] * rowSum - h[label * l.channels + c])
                    dx[k] = accumulate ? dx[k] + v : v
                }
            }
        }
    }
}

/// Caffe's `ContrastiveLoss` over pairs a[n], b[n] of D features and similarities y[n].
public enum ContrastiveLossKernel {
    /// A similarity that is neither 1 nor 0: (pair, value).
    public struct SimilarityError: Error, Equatable {
        public var index: Int
        public var value: Float
    }

    /// Caffe's guard against dividing by a zero distance in the gradient.
    static let distanceEpsilon: Float = 1e-4

    /// Writes diff = a − b [N, D] and the squared distances d² [N]; returns
    /// Σ_n y·d² + (1 − y)·max(margin − d, 0)², or with `legacy` (1 − y)·max(margin − d², 0).
    public static func loss(a: FloatView, b: FloatView, similar: FloatView, samples: Int, margin: Float, legacy: Bool,
                            diff: FloatView, squaredDistances: FloatView) throws(SimilarityError) -> Double {
        let x = a.base, z = b.base, y = similar.base, d = diff.base, d2 = squaredDistances.base
        let dim = a.count / max(samples, 1)
        var total = 0.0
        for n in 0..<samples {
            guard y[n] == 0 || y[n] == 1 else { throw SimilarityError(index: n, value: y[n]) }
            var sum: Float = 0
            for j in n * dim..<(n + 1) * dim {
                d[j] = x[j] - z[j]
                sum += d[j] * d[j]
            }
            d2[n] = sum
            if y[n] == 1 {
                total += Double(sum)
            } else if legacy {
                total += Double(max(margin - sum, 0))
            } else {
                let m = max(margin - sum.squareRoot(), 0)
                total += Double(m * m)
            }
        }
        return total
    }

    /// da = scale·g, db = −scale·g with g = diff for similar pairs and, for dissimilar ones
    /// inside the margin, −(margin − d)/(d + 1e-4)·diff (legacy: −diff); 0 outside it.
    /// `scale` is dL/N; either gradient may be nil.
    public static func backward(similar: FloatView, samples: Int, margin: Float, legacy: Bool, diff: FloatView,
                                squaredDistances: FloatView, scale: Float, aGrad: FloatView?, bGrad: FloatView?,
                                accumulateA: Bool, accumulateB: Bool) {
        let y = similar.base, d = diff.base, d2 = squaredDistances.base
        let dim = diff.count / max(samples, 1)
        for n in 0..<samples {
            let factor: Float
            if y[n] == 1 {
                factor = 1
            } else if legacy {
                factor = margin - d2[n] > 0 ? -1 : 0
            } else {
                let dist = d2[n].squareRoot(), m = margin - dist
                factor = m > 0 ? -m / (dist + distanceEpsilon) : 0
            }
            let row = d + n * dim
            if let aGrad { store(aGrad.base + n * dim, dim, accumulate: accumulateA) { scale * factor * row[$0] } }
            if let bGrad { store(bGrad.base + n * dim, dim, accumulate: accumulateB) { -scale * factor * row[$0] } }
        }
    }
}
