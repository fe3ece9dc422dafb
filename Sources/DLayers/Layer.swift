import DConfig
import DCore
import DData

/// A layer type: an immutable description decoded from its YAML, plus forward and backward
/// passes over views the net hands it. Shapes, parameters and work memory are declared, and
/// the net allocates them once.
public protocol Layer: AnyObject {
    /// The layer's `name:`.
    var name: String { get }
    /// How many bottoms and tops the type takes.
    var bottomCount: ClosedRange<Int> { get }
    var topCount: ClosedRange<Int> { get }
    /// True for loss types: their first top gets `loss_weight: 1` unless the file says otherwise.
    var isLoss: Bool { get }
    /// Whether top `i` may share memory with bottom `i` when the file writes `top == bottom`.
    /// When false, the net gives the top its own memory; the net still reads the same.
    var supportsInPlace: Bool { get }

    /// The top shapes for these bottom shapes; a `LayerError` names what does not fit.
    func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape]
    /// Learnable parameters; called once, with the bottom shapes the net was built with.
    func parameters(for bottoms: [Shape]) -> [ParameterDecl]
    /// Work memory for these bottom shapes, when the net runs on `threads` threads.
    func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl]
    /// Whether a gradient can flow to bottom `i` at all (not to labels, not through Accuracy).
    func propagates(toBottom i: Int) -> Bool

    /// Floating-point operations of one forward and one full backward pass (every bottom and
    /// parameter gradient), for `dtrain --time`'s GFLOP/s. The convention:
    /// - a GEMM of [M, K]·[K, N] counts 2·M·N·K (a multiply and an add per term): InnerProduct,
    ///   Convolution (dilated or not) and Deconvolution count their GEMMs, one forward and two
    ///   backward (data and weight gradient), and leave out the bias sums and im2col's copies;
    /// - element-wise work counts each add, multiply, divide, comparison, exp, log, pow or random
    ///   draw as one, as the kernel computes it: `elementwiseFlops(n, per:)`, a few per element;
    /// - moving data (Concat, Slice, Crop, Reshape, the forward of Split and Tile) counts nothing,
    ///   and adding gradients together one per addition.
    /// - RNN counts its GEMMs the same way (every time step's) and leaves out tanh and the cont
    ///   gate; Embed's row copies count nothing, its bias and gradient additions one each.
    /// The default is (0, 0): no arithmetic worth counting, or a layer that does not count yet.
    func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double)

    /// The part of `flops(for:).backward` that computes the bottoms' gradients and that a layer
    /// skips when no bottom needs one (a first layer reading the data): the data-gradient GEMM
    /// of InnerProduct, Convolution and Deconvolution. The default, 0, is for layers whose
    /// backward is all input gradient (they do not run at all then) or too cheap to count.
    func inputGradientFlops(for bottoms: [Shape]) -> Double

    /// The matrix products behind `flops(for:)`'s GEMM terms, one entry per call of that shape
    /// in a step, for the OpenBLAS floor that `scripts/bench` measures. The default is none.
    func gemms(for bottoms: [Shape]) -> LayerGEMMs

    /// Whether backward reads the tops' data, and the bottoms' (besides their gradients). When
    /// neither the layer that makes a blob nor those that read it read it in backward, a net
    /// may give the blob's memory to others once forward is past it (`Net(sharesBlobMemory:)`).
    /// The default is yes: declare no only for a backward that never touches them.
    var backwardReadsTops: Bool { get }
    var backwardReadsBottoms: Bool { get }

    func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError)
    /// Adds parameter gradients into `io.paramGrads` (nil for frozen parameters), and writes
    /// or adds (`io.accumulateBottom`) bottom gradients where `io.bottomGrads` is not nil.
    func backward(_ io: LayerIO, _ step: StepContext)
}

extension Layer {
    public var isLoss: Bool { false }
    public var supportsInPlace: Bool { false }
    public var bottomCount: ClosedRange<Int> { 1...1 }
    public var topCount: ClosedRange<Int> { 1...1 }
    public func parameters(for bottoms: [Shape]) -> [ParameterDecl] { [] }
    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] { [] }
    public func propagates(toBottom i: Int) -> Bool { true }
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) { (0, 0) }
    public func inputGradientFlops(for bottoms: [Shape]) -> Double { 0 }
    public func gemms(for bottoms: [Shape]) -> LayerGEMMs { LayerGEMMs() }
    public var backwardReadsTops: Bool { true }
    public var backwardReadsBottoms: Bool { true }
}

/// A layer's GEMMs in one step: `backward` runs whenever the layer's backward does,
/// `inputGradient` only when a bottom needs a gradient (what `inputGradientFlops` counts).
public struct LayerGEMMs: Sendable, Equatable {
    public var forward: [GEMMShape] = []
    public var backward: [GEMMShape] = []
    public var inputGradient: [GEMMShape] = []

    public init() {}

    /// An inner product's three: y [m, n] = x [m, k]·Wᵀ with W [n, k] (or, with
    /// `transposedWeight`, W [k, n] and y = x·W); dW = dyᵀ·x; dx = dy·W. `bottomInput`: x is a
    /// bottom, so dx is skippable; false for an input inside the layer (a recurrent state).
    mutating func addInnerProduct(m: Int, n: Int, k: Int, transposedWeight: Bool = false, bottomInput: Bool = true) {
        let dx = GEMMShape(m: m, n: k, k: n, transB: transposedWeight)
        forward.append(GEMMShape(m: m, n: n, k: k, transB: !transposedWeight))
        backward.append(transposedWeight ? GEMMShape(m: k, n: n, k: m, transA: true) : GEMMShape(m: n, n: k, k: m, transA: true))
        if bottomInput { inputGradient.append(dx) } else { backward.append(dx) }
    }

    /// Σ flops of forward, backward and inputGradient.
    public var flops: (forward: Double, backward: Double, inputGradient: Double) {
        func sum(_ g: [GEMMShape]) -> Double { g.reduce(0) { $0 + $1.flops } }
        return (sum(forward), sum(backward), sum(inputGradient))
    }

    /// `Layer.flops` of a layer whose arithmetic is these products: a full backward computes
    /// the input gradient too.
    var layerFlops: (forward: Double, backward: Double) {
        let f = flops
        return (f.forward, f.backward + f.inputGradient)
    }
}

/// `forward` and `backward` operations for each of `elements` elements, as `Layer.flops` counts them.
func elementwiseFlops(_ elements: Int, forward: Double, backward: Double) -> (forward: Double, backward: Double) {
    (forward * Double(elements), backward * Double(elements))
}

/// A tensor a layer keeps between steps, saved as `<layer>.<suffix>` (`weight`, `bias`):
/// learned, or (`learned: false`) state the layer updates itself, such as BatchNorm's running
/// statistics, which no solver touches whatever `lr_mult` says.
public struct ParameterDecl: Sendable, Equatable {
    public var suffix: String
    public var shape: Shape
    public var filler: Filler
    public var learned: Bool

    public init(_ suffix: String, _ shape: Shape, filler: Filler, learned: Bool = true) {
        self.suffix = suffix; self.shape = shape; self.filler = filler; self.learned = learned
    }
}

/// Work memory a layer asks for.
public struct WorkspaceDecl: Sendable, Equatable {
    /// - `keptForBackward`: written by forward, read by the backward of the same step.
    /// - `scratch`: shared with other layers; holds nothing between calls.
    /// - `persistent`: kept from one forward to the next (a recurrent layer's hidden state,
    ///   carried across batches). The net gives it memory of its own, outside the pool that a
    ///   train net and its test nets share, zeroed when the net is built and whenever the
    ///   declared count changes (a new batch shape). It is not saved in snapshots.
    public enum Lifetime: Sendable { case keptForBackward, scratch, persistent }
    public enum Kind: Sendable { case float, int32 }
    public var count: Int
    public var kind: Kind
    public var lifetime: Lifetime

    public init(_ count: Int, _ kind: Kind = .float, _ lifetime: Lifetime) {
        self.count = count; self.kind = kind; self.lifetime = lifetime
    }
}

/// The views one layer works on, fixed when the net is built (and when its batch changes).
public struct LayerIO: @unchecked Sendable {
    public var bottoms: [FloatView]
    /// nil where no gradient is wanted.
    public var bottomGrads: [FloatView?]
    /// Per bottom: add to the gradient (another consumer wrote it first) or overwrite it.
    public var accumulateBottom: [Bool]
    public var tops: [FloatView]
    public var topGrads: [FloatView?]
    public var params: [FloatView]
    /// nil for parameters that are not learned (lr_mult 0).
    public var paramGrads: [FloatView?]
    public var work: [FloatView]
    public var intWork: [TensorView<Int32>]
    /// The layer's position in the net, which keys its random streams.
    public var index: Int

    public init(bottoms: [FloatView], bottomGrads: [FloatView?], accumulateBottom: [Bool],
                tops: [FloatView], topGrads: [FloatView?], params: [FloatView], paramGrads: [FloatView?],
                work: [FloatView], intWork: [TensorView<Int32>], index: Int) {
        self.bottoms = bottoms; self.bottomGrads = bottomGrads; self.accumulateBottom = accumulateBottom
        self.tops = tops; self.topGrads = topGrads; self.params = params; self.paramGrads = paramGrads
        self.work = work; self.intWork = intWork; self.index = index
    }
}

/// What changes from step to step.
public struct StepContext: Sendable {
    public var phase: Phase
    public var iteration: Int
    /// The solver seed, from which layers derive their own streams (dropout masks).
    public var seed: UInt64
    public var parallel: Parallel
    /// Which of the iteration's `iter_size` batches this is (0 for the first): random draws
    /// are keyed on it too, so each batch of a step gets fresh ones.
    public var subBatch: Int
    /// This rank's slice of the global batch in data-parallel training: a layer that draws
    /// per sample (dropout) skips the draws of the ranks before it, so that the ranks together
    /// draw what one process with the whole batch would.
    public var shard: Shard

    public init(phase: Phase, iteration: Int = 0, seed: UInt64 = 0, parallel: Parallel = .serial, subBatch: Int = 0, shard: Shard = .whole) {
        self.phase = phase; self.iteration = iteration; self.seed = seed; self.parallel = parallel; self.subBatch = subBatch
        self.shard = shard
    }
}

/// Something about a layer's inputs that does not fit; the net adds the layer's name.
public struct LayerError: Error, Sendable, Equatable {
    public var message: String
    public var hint: String?
    public init(_ message: String, hint: String? = nil) { self.message = message; self.hint = hint }
}
