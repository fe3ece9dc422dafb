import DConfig
import DCore
import DLayers

/// One learnable tensor with its gradient, named `<layer>.<suffix>` (`conv1.weight`) as in
/// the snapshot files. Layers that share it through `param: [{name: …}]` hold the same object.
public final class Parameter {
    public let name: String
    public let value: Tensor
    public let grad: Tensor
    public let lrMult: Float
    public let decayMult: Float
    /// The name layers share it under, if any.
    public let shareName: String?
    /// How it was initialised, for reports.
    public let filler: Filler
    /// State the layer updates itself in forward (BatchNorm's running mean and variance), not
    /// a weight: never learned.
    public let isState: Bool

    init(name: String, shape: Shape, lrMult: Float, decayMult: Float, shareName: String?, filler: Filler, isState: Bool) {
        self.name = name
        value = Tensor(shape: shape)
        grad = Tensor(shape: shape)
        self.lrMult = lrMult
        self.decayMult = decayMult
        self.shareName = shareName
        self.filler = filler
        self.isState = isState
    }

    public var shape: Shape { value.shape }
    /// False for `lr_mult: 0`: no gradient is computed and no update applied.
    public var isLearned: Bool { lrMult != 0 }
}

/// Every parameter of a train net and its test nets, in the order they were declared. Test
/// nets find the train net's parameters by name, as Caffe shares trained layers.
public final class ParameterStore {
    public private(set) var parameters: [Parameter] = []
    private var byName: [String: Parameter] = [:]
    public let seed: UInt64

    /// `seed` drives the fillers; each parameter has its own stream keyed by its name, so adding
    /// a layer leaves the others' initial values unchanged.
    public init(seed: UInt64) { self.seed = seed }

    public subscript(name: String) -> Parameter? { byName[name] }

    /// The parameter called `name` (or shared as `shareName`), made and filled if it is new.
    func parameter(name: String, decl: ParameterDecl, spec: ParamSpec?) -> Parameter {
        if let share = spec?.name, let p = byName["shared:" + share] { return p }
        if let p = byName[name] { return p }
        let p = Parameter(name: name, shape: decl.shape, lrMult: decl.learned ? spec?.lrMult ?? 1 : 0, decayMult: spec?.decayMult ?? 1,
                          shareName: spec?.name, filler: decl.filler, isState: !decl.learned)
        var rng = RandomStream(seed: seed, purpose: "filler:" + name)
        decl.filler.fill(p.value.view, rng: &rng)
        parameters.append(p)
        byName[name] = p
        if let share = spec?.name { byName["shared:" + share] = p }
        return p
    }

    /// Sets every parameter gradient to zero: the one place gradients are cleared each step.
    public func zeroGradients(parallel: Parallel = .serial) {
        for p in parameters where p.isLearned { ElementwiseKernel.zero(p.grad.view, parallel: parallel) }
    }

    public var totalCount: Int { parameters.reduce(0) { $0 + $1.value.shape.count } }
}
