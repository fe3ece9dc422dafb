/// Parameter updates, one flat loop per parameter tensor.
public enum OptimizerKernel {
    /// Caffe's SGD with momentum and weight decay, for one parameter:
    ///   g ← ∇ + decay·w (L2) or ∇ + decay·sign(w) (L1)
    ///   v ← μ·v + rate·g
    ///   w ← w − v
    public static func sgd(weights: FloatView, grads: FloatView, history: FloatView,
                           rate: Float, momentum: Float, decay: Float, l1: Bool) {
        let w = weights.base, g = grads.base, h = history.base
        if l1 {
            for i in 0..<weights.count {
                let sign: Float = w[i] > 0 ? 1 : (w[i] < 0 ? -1 : 0)
                h[i] = momentum * h[i] + rate * (g[i] + decay * sign)
                w[i] -= h[i]
            }
        } else {
            for i in 0..<weights.count {
                h[i] = momentum * h[i] + rate * (g[i] + decay * w[i])
                w[i] -= h[i]
            }
        }
    }
}
