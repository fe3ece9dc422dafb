import DConfig
import DCore
import DNet

/// The update rule applied to every learned parameter after each step. It owns the history
/// (momentum) buffers, one per parameter, laid out like the parameters.
public final class SGDOptimizer {
    public let momentum: Float
    public let weightDecay: Float
    public let regularization: RegularizationType
    let parameters: [Parameter]
    /// v for each parameter, Caffe's `history_`.
    public let history: [Tensor]

    public init(spec: SolverSpec, store: ParameterStore) {
        momentum = Float(spec.momentum)
        weightDecay = Float(spec.weightDecay)
        regularization = spec.regularization
        parameters = store.parameters
        history = parameters.map { Tensor(shape: $0.shape) }
    }

    /// One step at learning rate `rate`, scaled per parameter by lr_mult and decay_mult.
    public func update(rate: Double) {
        for (p, v) in zip(parameters, history) where p.isLearned {
            OptimizerKernel.sgd(weights: p.value.view, grads: p.grad.view, history: v.view,
                                rate: Float(rate) * p.lrMult, momentum: momentum,
                                decay: weightDecay * p.decayMult, l1: regularization == .l1)
        }
    }
}
