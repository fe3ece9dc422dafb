import DConfig
import DCore
import DNet

/// The solver's update rule applied to every learned parameter after each step, with the
/// history tensors it keeps (momentum, squared-gradient averages), laid out like the parameters.
public final class Optimizer {
    public let type: SolverType
    let spec: SolverSpec
    public let parameters: [Parameter]
    /// Per parameter, `rule.historyCount` tensors (Caffe's `history_`).
    public let history: [[Tensor]]
    /// Per chunk of a split update, 1 when it met a non-finite gradient; allocated once.
    let chunkFlags = Tensor(shape: Shape([256]))

    public init(spec: SolverSpec, store: ParameterStore) {
        type = spec.type
        self.spec = spec
        parameters = store.parameters
        let count = Self.rule(spec, step: 1).historyCount
        history = parameters.map { p in (0..<count).map { _ in Tensor(shape: p.shape) } }
    }

    static func rule(_ spec: SolverSpec, step: Int) -> OptimizerKernel.Rule {
        let mu = Float(spec.momentum), delta = Float(spec.delta)
        switch spec.type {
        case .sgd: return .sgd(momentum: mu)
        case .nesterov: return .nesterov(momentum: mu)
        case .adaGrad: return .adaGrad(delta: delta)
        case .rmsProp: return .rmsProp(decay: Float(spec.rmsDecay), delta: delta)
        case .adaDelta: return .adaDelta(decay: mu, delta: delta)
        case .adam: return .adam(beta1: mu, beta2: Float(spec.momentum2), delta: delta, step: step)
        }
    }

    /// The global L2 norm of all learned gradients.
    public func gradientNorm() -> Double {
        parameters.filter(\.isLearned).reduce(0) { $0 + ElementwiseKernel.sumOfSquares($1.grad.view) }.squareRoot()
    }

    /// Caffe's ApplyUpdate for iteration `iteration` (0-based) at learning rate `rate`: clip the
    /// gradients to `clip_gradients`, divide them by `iter_size`, regularise, and apply the
    /// rule, scaled per parameter by lr_mult and decay_mult. Returns false when some gradient
    /// was NaN or infinite.
    /// Large parameters are split over the threads of `parallel`; the update of each element
    /// is the same whatever the split, so results do not depend on the thread count.
    public func update(rate: Double, iteration: Int, parallel: Parallel = .serial) -> Bool {
        var scale: Float = 1 / Float(spec.iterSize)
        if let clip = spec.clipGradients {
            let norm = gradientNorm()
            if norm > clip { scale *= Float(clip / norm) }
        }
        let rule = Self.rule(spec, step: iteration + 1)
        var finite = true
        let l1 = spec.regularization == .l1
        for (p, h) in zip(parameters, history) where p.isLearned {
            if scale != 1 { OptimizerKernel.scale(p.grad.view, by: scale) }
            let weights = p.value.view, grads = p.grad.view, views = h.map(\.view)
            let r = Float(rate) * p.lrMult, decay = Float(spec.weightDecay) * p.decayMult
            // Handing a small tensor to another thread costs more than it saves; 32 768
            // elements (128 KiB) is a round threshold, not a tuned one.
            let chunks = weights.count >= 1 << 15 ? min(parallel.threads, chunkFlags.view.count) : 1
            let flags = SendablePointer(chunkFlags.view.base)
            parallel.forEach(chunks) { c in
                let range = Parallel.chunk(c, of: chunks, count: weights.count)
                let ok = OptimizerKernel.update(rule, weights: weights.slice(range.lowerBound, range.count),
                                                grads: grads.slice(range.lowerBound, range.count),
                                                history: views.map { $0.slice(range.lowerBound, range.count) },
                                                rate: r, decay: decay, l1: l1)
                flags.pointer[c] = ok ? 0 : 1  // one flag per chunk: no two threads write the same float
            }
            finite = finite && chunkFlags.view.buffer.prefix(chunks).allSatisfy { $0 == 0 }
        }
        return finite
    }
}
