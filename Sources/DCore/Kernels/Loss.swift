#if canImport(Glibc)
import Glibc
#endif

/// Loss kernels that are not a softmax.
public enum LossKernel {
    /// Σ −[t·log σ(x) + (1 − t)·log(1 − σ(x))] over the elements whose target is not `ignore`,
    /// and their count. Written as −(x·(t − [x ≥ 0]) − log(1 + e^(x − 2x·[x ≥ 0]))), which
    /// never exponentiates a positive number.
    public static func sigmoidCrossEntropy(scores: FloatView, targets: FloatView, ignore: Float?) -> (loss: Double, valid: Int) {
        let x = scores.base, t = targets.base
        var loss = 0.0, valid = 0
        for i in 0..<scores.count {
            if let ignore, t[i] == ignore { continue }
            let positive: Float = x[i] >= 0 ? 1 : 0
            loss -= Double(x[i] * (t[i] - positive) - log1p(exp(x[i] - 2 * x[i] * positive)))
            valid += 1
        }
        return (loss, valid)
    }

    /// dx = scale · (σ(x) − t), 0 where the target is `ignore`.
    public static func sigmoidCrossEntropyBackward(scores: FloatView, targets: FloatView, ignore: Float?, scale: Float,
                                                   inputGrad: FloatView, accumulate: Bool) {
        let x = scores.base, t = targets.base
        store(inputGrad.base, scores.count, accumulate: accumulate) { i in
            if let ignore, t[i] == ignore { return 0 }
            return scale * (1 / (1 + exp(-x[i])) - t[i])
        }
    }
}
