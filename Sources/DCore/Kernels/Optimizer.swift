/// Parameter updates, one flat loop per parameter tensor, with Caffe's formulas (its
/// `*_solver.cpp`). Every rule first adds the regularisation to the gradient, as Caffe's
/// `Regularize`: g = ∇ + decay·w (L2) or ∇ + decay·sign(w) (L1). `rate` already includes the
/// parameter's lr_mult, `decay` its decay_mult.
public enum OptimizerKernel {
    /// An update rule and the constants it needs.
    public enum Rule: Sendable, Equatable {
        /// v ← μ·v + rate·g;  w ← w − v
        case sgd(momentum: Float)
        /// v' ← μ·v + rate·g;  w ← w − ((1 + μ)·v' − μ·v)   (Caffe's Nesterov)
        case nesterov(momentum: Float)
        /// s ← s + g²;  w ← w − rate·g / (√s + δ)
        case adaGrad(delta: Float)
        /// s ← ρ·s + (1 − ρ)·g²;  w ← w − rate·g / (√s + δ)
        case rmsProp(decay: Float, delta: Float)
        /// s ← ρ·s + (1 − ρ)·g²;  u = g·√((a + δ) / (s + δ));  a ← ρ·a + (1 − ρ)·u²;  w ← w − rate·u
        case adaDelta(decay: Float, delta: Float)
        /// m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;
        /// w ← w − rate·m̂ / (√v̂ + δ) with m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ), t the 1-based step:
        /// Algorithm 1 of Kingma and Ba, as PyTorch and Keras. (Caffe adds δ to √v before the
        /// bias correction, which weighs δ more when gradients are tiny.)
        case adam(beta1: Float, beta2: Float, delta: Float, step: Int)

        /// How many history tensors (shaped like the parameter) the rule keeps.
        public var historyCount: Int {
            switch self {
            case .sgd, .nesterov, .adaGrad, .rmsProp: return 1
            case .adaDelta, .adam: return 2
            }
        }
    }

    /// Applies `rule` to one parameter. `history` holds `rule.historyCount` views. Returns false
    /// when a gradient was NaN or infinite (the weights are then not to be trusted).
    @discardableResult
    public static func update(_ rule: Rule, weights: FloatView, grads: FloatView, history: [FloatView],
                              rate: Float, decay: Float, l1: Bool) -> Bool {
        let w = weights.base, gr = grads.base, h = history[0].base
        let h2 = history.count > 1 ? history[1].base : h
        if case .sgd(let mu) = rule, !l1 {
            return sgdL2(momentum: mu, weights: w, grads: gr, history: h, count: weights.count, rate: rate, decay: decay)
        }
        // Checked in a SIMD pass of its own: a running sum inside the update loops would chain
        // every element to the previous one and keep those loops from being vectorised.
        let finite = allFinite(grads)
        @inline(__always) func gradient(_ i: Int) -> Float {
            let reg = l1 ? (w[i] > 0 ? 1 : (w[i] < 0 ? -1 : 0)) : w[i]
            return gr[i] + decay * reg
        }
        switch rule {
        case .sgd(let mu):
            for i in 0..<weights.count {
                h[i] = mu * h[i] + rate * gradient(i)
                w[i] -= h[i]
            }
        case .nesterov(let mu):
            for i in 0..<weights.count {
                let previous = h[i]
                h[i] = mu * h[i] + rate * gradient(i)
                w[i] -= (1 + mu) * h[i] - mu * previous
            }
        case .adaGrad(let delta):
            for i in 0..<weights.count {
                let g = gradient(i)
                h[i] += g * g
                w[i] -= rate * g / (h[i].squareRoot() + delta)
            }
        case .rmsProp(let rho, let delta):
            for i in 0..<weights.count {
                let g = gradient(i)
                h[i] = rho * h[i] + (1 - rho) * g * g
                w[i] -= rate * g / (h[i].squareRoot() + delta)
            }
        case .adaDelta(let rho, let delta):
            for i in 0..<weights.count {
                let g = gradient(i)
                h[i] = rho * h[i] + (1 - rho) * g * g
                let u = g * ((h2[i] + delta) / (h[i] + delta)).squareRoot()
                h2[i] = rho * h2[i] + (1 - rho) * u * u
                w[i] -= rate * u
            }
        case .adam(let beta1, let beta2, let delta, let t):
            let c1 = Float(1 / (1 - pow(Double(beta1), Double(t))))
            let c2 = Float(1 / (1 - pow(Double(beta2), Double(t))).squareRoot())
            for i in 0..<weights.count {
                let g = gradient(i)
                h[i] = beta1 * h[i] + (1 - beta1) * g
                h2[i] = beta2 * h2[i] + (1 - beta2) * g * g
                w[i] -= rate * (h[i] * c1) / (h2[i].squareRoot() * c2 + delta)
            }
        }
        return finite
    }

    /// SGD with L2 decay, the common case, in one pass that also checks the gradients (as
    /// `allFinite`, in SIMD lanes, so the loop stays vectorised): one read of the gradients
    /// instead of two. Each element gets the same arithmetic as the scalar loops above,
    /// v ← μ·v + rate·(∇ + decay·w); w ← w − v, so the bits are theirs.
    static func sgdL2(momentum mu: Float, weights w: UnsafeMutablePointer<Float>, grads gr: UnsafeMutablePointer<Float>,
                      history h: UnsafeMutablePointer<Float>, count: Int, rate: Float, decay: Float) -> Bool {
        typealias V = SIMD8<Float>
        @inline(__always) func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
        var finiteness = V()
        let n8 = count & ~7
        var i = 0
        while i < n8 {
            let g = lanes(gr + i), wv = lanes(w + i)
            finiteness += g * 0
            let v = mu * lanes(h + i) + rate * (g + decay * wv)
            store(v, h + i)
            store(wv - v, w + i)
            i += 8
        }
        var rest: Float = 0
        while i < count {
            rest += gr[i] * 0
            h[i] = mu * h[i] + rate * (gr[i] + decay * w[i])
            w[i] -= h[i]
            i += 1
        }
        return finiteness.sum() + rest == 0
    }

    /// Whether every value is finite: x·0 is 0 for finite x and NaN for NaN and ±∞.
    public static func allFinite(_ x: FloatView) -> Bool {
        let p = x.base
        var finiteness = SIMD8<Float>()
        let n8 = x.count & ~7
        var i = 0
        while i < n8 {
            finiteness += lanes(p + i) * 0
            i += 8
        }
        var rest: Float = 0
        while i < x.count { rest += p[i] * 0; i += 1 }
        return finiteness.sum() + rest == 0
    }

    /// Multiplies every gradient by `factor` (gradient clipping, `iter_size` normalisation).
    public static func scale(_ grads: FloatView, by factor: Float) {
        let g = grads.base
        for i in 0..<grads.count { g[i] *= factor }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
